//! `TEST_LOG=1`: the server's tracing output in the test's own output, which the test harness
//! shows when the test fails (and with `--nocapture`). The filter is `RUST_LOG`'s, or `info`.

use std::io::IsTerminal;
use std::sync::Once;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the test-writer subscriber once per test binary, when `TEST_LOG` asks for it.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let wanted = std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
        if !wanted {
            return;
        }
        let filter: Targets = std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
        let _ = tracing_subscriber::fmt()
            .compact()
            .with_ansi(std::io::stdout().is_terminal())
            .with_test_writer()
            .finish()
            .with(filter)
            .try_init();
    });
}
