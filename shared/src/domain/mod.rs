//! The rules of the domain, as typed repositories and workflows on top of the store.
//! Handlers call these; they never see keys or items.

pub mod accounts;
pub mod email_tokens;
pub mod input;
pub mod mfa;
pub mod sessions;
pub mod users;
