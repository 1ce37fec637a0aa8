//! HTTP plumbing shared by every function: extractors, common layers, and the runtime that
//! serves a router on Lambda or on a local port.

mod answers;
mod extract;
mod layers;
pub mod openapi;
mod page;
mod routes;
mod runtime;
pub mod webhooks;

pub use answers::message;
pub use extract::{nullable, AdminUser, AppCaller, AuthUser, Json, Query, RawBody};
/// The error a function binary's `main` returns.
pub use lambda_http::Error as RuntimeError;
pub use layers::{finish, not_found};
pub use page::{Listed, Page, PageQuery};
pub use routes::{Route, Routes};
#[cfg(feature = "server")]
pub use runtime::serve;
pub use runtime::{
    check_can_serve, exit_on_start_error, init_tracing, on_lambda, run, run_streaming,
};
