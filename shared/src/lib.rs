//! Buddo's shared crate: configuration, errors, the single-table store, tokens, passwords,
//! TOTP, rate limits, mail, the domain rules, and the HTTP plumbing every function uses.

pub mod aws;
pub mod cache;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod deadlines;
pub mod domain;
pub mod error;
pub mod http;
pub mod id_token;
#[cfg(feature = "images")]
pub mod images;
pub mod jwt;
pub mod keys;
pub mod mail;
pub mod password;
pub mod providers;
pub mod ratelimit;
pub mod state;
pub mod store;
#[cfg(feature = "stream")]
pub mod stream;
pub mod totp;

pub use error::{ApiError, ApiResult};

/// Every binary links this crate: its allocator serves them all. Requests allocate many small
/// short-lived values, which mimalloc serves markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub use state::AppState;
