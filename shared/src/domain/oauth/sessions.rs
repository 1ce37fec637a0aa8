//! The app session a code exchange opens, in the same atomic write as the tokens. What a
//! session is and what it earns belongs to app sessions, which sit above oauth (they pay
//! points): the exchange reaches them through [`SessionOpener`], the port they offer.

use crate::domain::identity::User;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::WriteOp;

use super::apps::OAuthApp;

/// A session token and when it expires (RFC 3339).
#[derive(Clone, Debug)]
pub struct SessionStart {
    pub token: String,
    pub expires_at: String,
    /// `false` while the app is not approved: the session runs, but earns nothing.
    pub earning: bool,
}

/// The writes that open a session, with its first token.
pub struct OpenedSession {
    pub start: SessionStart,
    pub ops: Vec<WriteOp>,
}

/// Opens (or replaces) `user`'s session with `app`: the writes go into the exchange's write.
pub trait SessionOpener: Sync {
    fn open(&self, state: &AppState, user: &User, app: &OAuthApp) -> ApiResult<OpenedSession>;
}
