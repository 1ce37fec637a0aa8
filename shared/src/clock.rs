//! Time as the domain sees it. Tests move a [`ManualClock`] forward to expire tokens and
//! windows without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Time for tests: system time shifted by an adjustable offset, or — with
/// [`ManualClock::frozen_at`] — a fixed instant that moves only when told to, so that tests
/// never straddle a second, a TOTP step or a rate-limit window by accident.
#[derive(Debug, Default)]
pub struct ManualClock {
    frozen_at: Option<OffsetDateTime>,
    offset_seconds: AtomicI64,
}

impl ManualClock {
    pub fn frozen_at(at: OffsetDateTime) -> Self {
        ManualClock {
            frozen_at: Some(at),
            offset_seconds: AtomicI64::new(0),
        }
    }

    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let base = self.frozen_at.unwrap_or_else(OffsetDateTime::now_utc);
        base + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}

/// RFC 3339 with second precision, UTC (`2026-01-01T00:00:00Z`).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(0)
        .unwrap_or(t)
        .to_offset(time::UtcOffset::UTC);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
