#[cfg(feature = "server")]
use std::net::SocketAddr;

use axum::Router;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Structured logs: JSON on Lambda, readable text locally. `RUST_LOG` filters by target and
/// level (`info`, `buddo_shared=debug,info`); a per-target filter needs no regex engine, which
/// keeps the Lambda binaries smaller.
pub fn init_tracing(json: bool) {
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let builder = tracing_subscriber::fmt();
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .with_ansi(false)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.compact().finish().with(filter).try_init()
    };
}

/// True when started by Lambda (or by `cargo lambda watch`).
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Runs a group's router, built by `router` (the state is loaded there): under the Lambda
/// runtime when started by Lambda, otherwise as a plain HTTP server on `$PORT` (default 3000)
/// if this binary has one (cargo feature `server`, a function crate's `local`). Call
/// [`init_tracing`] first.
pub async fn run(
    router: impl std::future::Future<Output = anyhow::Result<Router>>,
) -> Result<(), lambda_http::Error> {
    run_as(router, false).await
}

/// As [`run`], with the response streamed as it is written (a Function URL in
/// `RESPONSE_STREAM` mode): for answers that go on, such as Server-Sent Events.
pub async fn run_streaming(
    router: impl std::future::Future<Output = anyhow::Result<Router>>,
) -> Result<(), lambda_http::Error> {
    run_as(router, true).await
}

async fn run_as(
    router: impl std::future::Future<Output = anyhow::Result<Router>>,
    streaming: bool,
) -> Result<(), lambda_http::Error> {
    let on_lambda = on_lambda();
    // Before anything is loaded: the first error is the one that matters.
    check_can_serve(on_lambda, crate::config::Features::BUILT)?;
    let router = router.await?;
    if on_lambda && streaming {
        return lambda_http::run_with_streaming_response(router).await;
    }
    if on_lambda {
        return lambda_http::run(router).await;
    }
    #[cfg(feature = "server")]
    {
        let port: u16 = std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3000);
        serve(router, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    }
    Ok(())
}

/// A function binary started outside Lambda serves HTTP only if `built` has the server.
pub fn check_can_serve(
    on_lambda: bool,
    built: crate::config::Features,
) -> Result<(), lambda_http::Error> {
    if on_lambda || built.server {
        return Ok(());
    }
    Err(
        "not started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API is unset), and this binary \
         is built without the local HTTP server: run it under `cargo lambda watch`, or with \
         `--features local` to serve on $PORT"
            .into(),
    )
}

/// Serves on `addr` with the peer address available to [`crate::domain::RequestMeta`].
#[cfg(feature = "server")]
pub async fn serve(router: Router, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Ends a function binary that could not start or serve: one line on stderr (and in the
/// logs), no backtrace, exit status 1.
pub fn exit_on_start_error(error: lambda_http::Error) -> ! {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %line, "stopped");
    eprintln!("error: {line}");
    std::process::exit(1)
}
