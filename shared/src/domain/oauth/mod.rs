//! The OAuth 2.0 authorization server for operator apps (docs/architecture.md, "OAuth"):
//! apps and their review, authorization with PKCE, the token endpoint, introspection and
//! revocation, the grants users see as connected apps, and OpenID Connect.

pub mod apps;
pub mod authorize;
pub mod error;
pub mod grants;
pub mod openid;
pub mod scopes;
pub mod sessions;
pub mod tokens;

pub use error::{OAuthError, OAuthResult};
pub use scopes::{Scope, Scopes};
