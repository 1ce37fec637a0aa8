//! The OAuth provider, app sessions, connected apps and app review.

mod admin;
mod apps;
mod authorize;
mod connected_apps;
mod introspection;
pub(crate) mod real_client;
mod sessions;
mod token;
