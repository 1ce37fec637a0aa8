//! HTTP plumbing shared by every function: extractors, common layers, and the runtime that
//! serves a router on Lambda or on a local port.

mod extract;
mod layers;
mod runtime;

pub use extract::{AuthUser, ClientIp, Json, UserAgent};
/// The error a function binary's `main` returns.
pub use lambda_http::Error as RuntimeError;
pub use layers::{finish, not_found};
pub use runtime::{init_tracing, on_lambda, run, serve};
