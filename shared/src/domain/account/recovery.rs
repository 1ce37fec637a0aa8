//! Taking an account back: the undo link of an email change restores the address it left
//! (`identity::accounts::undo_email_change`) and then disconnects every app.

use crate::domain::identity::accounts;
use crate::domain::oauth::grants;
use crate::domain::RequestMeta;
use crate::error::ApiResult;
use crate::state::AppState;

/// Restores the address an email change left, ends every session, and revokes every grant
/// the account had given an app.
pub async fn undo_email_change(
    state: &AppState,
    raw_token: &str,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let user_id = accounts::undo_email_change(state, raw_token, meta).await?;
    let connected = grants::connected_apps(state, &user_id)
        .await
        .unwrap_or_default();
    for app in connected {
        if let Err(e) = grants::revoke(state, &user_id, &app.grant.app_id, meta).await {
            // The apps' tokens died with the credential generation; this only tidies the grant.
            tracing::warn!(error = %e, "revoking a grant after an email change undo");
        }
    }
    Ok(())
}
