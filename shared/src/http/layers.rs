use std::any::Any;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use super::Routes;
use crate::error::ApiError;
use crate::state::AppState;

/// Bodies larger than this get 413 (docs/architecture.md, "Errors").
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "No such endpoint")
}

/// A request shed (too many in flight) or past its deadline: 503 in the error shape, at once.
/// A request that may have written something before its deadline says the outcome is unknown.
async fn overloaded(method: Method, error: tower::BoxError) -> ApiError {
    let (code, message) = if error.is::<tower::load_shed::error::Overloaded>() {
        ("service_unavailable", "The service is busy; try again")
    } else if error.is::<tower::timeout::error::Elapsed>() {
        if method == Method::GET || method == Method::HEAD {
            (
                "service_unavailable",
                "The service did not answer in time; try again",
            )
        } else {
            (
                "outcome_unknown",
                "The service did not finish in time: the change may or may not have happened. Retry with the same Idempotency-Key, or check before trying again",
            )
        }
    } else {
        tracing::error!(%error, "request failed in a layer");
        ("service_unavailable", "The service is busy; try again")
    };
    ApiError::Status {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code,
        message: message.into(),
    }
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::internal("panic").into_response()
}

/// CORS for the methods the routes use and the headers they read.
fn cors(origins: &[String], routes: &Routes) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(routes.methods())
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(super::extract::IDEMPOTENCY_KEY),
        ])
        .max_age(Duration::from_secs(600))
}

/// The routes as a router with what every group needs: JSON 404/405, the body limit, panic
/// safety, CORS, request ids, tracing, `Cache-Control: no-store` (responses carry tokens and
/// personal data), and deadlines: a request answers within `REQUEST_TIMEOUT_MS`, and past
/// `MAX_IN_FLIGHT_REQUESTS` at once a request is shed with 503 instead of waiting
/// (docs/architecture.md, "Deadlines").
pub fn finish(routes: Routes, state: AppState) -> Router {
    let cors = cors(&state.config.cors_allowed_origins, &routes);
    let deadlines = state.config.deadlines.clone();
    let bounded = tower::ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .concurrency_limit(deadlines.max_in_flight)
        .timeout(deadlines.request);
    routes
        .with_state(state)
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::Status {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "This endpoint does not accept that method".into(),
            }
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(bounded)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    // The path only: query strings may carry codes.
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
