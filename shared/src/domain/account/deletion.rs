//! Deleting an account (by its owner) and disabling one (by an admin, or enabling it again from
//! the operator command).
//!
//! Deletion takes the user item and its email, username, referral-code and provider-identity
//! markers away in one atomic write, with the push devices and their tokens' markers: from then
//! on no token works, the address, name and provider accounts are free and no notification is
//! sent. An address held for the undo of an email change is released just after. What else lived in the user's partition — sessions, trusted devices, passkeys (with their credential markers), grants and token
//! families, app sessions, recovery codes, settings, activity, ad markers — is deleted after it; ledger entries stay, without their free-text descriptions, so
//! that balances elsewhere (a transfer's other side, an app's balance) still add up.

use serde_json::json;

use super::devices;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::identity::attempts;
use crate::domain::identity::sessions::{self, Authenticated, LoginSession};
use crate::domain::identity::{mfa, social, users};
use crate::domain::input::{Email, OtpCode};
use crate::domain::oauth::grants;
use crate::domain::webhooks::{self, EventType};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Item, Query, SortKey, Update, WriteOp, SK};

/// Deletes the signed-in user's account after checking the password (and a TOTP or recovery
/// code when two-factor authentication is on), under the usual limits on guessing.
pub async fn delete_account(
    state: &AppState,
    auth: &Authenticated,
    password: String,
    code: Option<OtpCode>,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let user = &auth.user;
    attempts::confirm_password(state, user, password, meta).await?;
    if user.totp_enabled {
        let code = code.ok_or_else(|| {
            ApiError::field("totp_code", "is required: two-factor authentication is on")
        })?;
        if !mfa::check_code(state, user, code.as_str()).await? {
            return Err(ApiError::bad_request(
                "invalid_code",
                "The code is invalid or was already used",
            ));
        }
    }
    let user_key = keys::user(&user.id);
    // The provider identities go with the account: they may sign up again.
    // The apps the user had a grant to hear of the deletion (the grants go with the account).
    let (identities, devices, grants) = tokio::join!(
        social::identity_deletes(state, &user.id),
        devices::account_deletes(state, &user.id),
        store::query_all::<grants::Grant>(
            state.table.as_ref(),
            Query::partition(keys::user_pk(&user.id))
                .sk(SortKey::BeginsWith(keys::GRANT_PREFIX.into())),
        ),
    );
    let (identities, devices, grants) = (identities?, devices?, grants?);
    let mut ops = vec![
        WriteOp::Delete {
            key: user_key.clone(),
            cond: Cond::eq("credential_generation", user.credential_generation),
        },
        WriteOp::Delete {
            key: keys::email_marker(&user.email),
            cond: Cond::eq("user_id", user.id.clone()),
        },
        WriteOp::Delete {
            key: keys::username_marker(&user.username.to_lowercase()),
            cond: Cond::eq("user_id", user.id.clone()),
        },
        WriteOp::delete(keys::referral_code(&user.referral_code)),
    ];
    ops.extend(webhooks::listening(state).await.announce(
        state.now(),
        EventType::UserDeleted,
        &user.id,
        grants.into_iter().map(|g| g.app_id).collect(),
        json!({ "email": user.email, "username": user.username }),
    ));
    ops.extend(identities);
    ops.extend(devices);
    state.table.write(ops).await.on_any_condition(|| {
        ApiError::conflict(
            "account_changed",
            "The account changed meanwhile; try again",
        )
    })?;
    tidy_up(state, &user.id).await;
    #[cfg(feature = "images")]
    super::images::discard_all(state, user).await;
    Ok(())
}

/// Removes what a deleted user left in their partition, a batch at a time. Failures are logged:
/// nothing here can be used any more, and ledger entries stay either way.
async fn tidy_up(state: &AppState, user_id: &str) {
    let mut cursor = None;
    loop {
        let page = match state
            .table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::Any)
                    .limit(25)
                    .cursor(cursor),
            )
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "tidying up a deleted account");
                return;
            }
        };
        let ops: Vec<WriteOp> = page.items.iter().filter_map(tidy_op).flatten().collect();
        if !ops.is_empty() {
            if let Err(e) = state.table.write(ops).await {
                tracing::warn!(error = %e, "tidying up a deleted account");
            }
        }
        // Addresses held for the undo of an email change are free with the account. Each on
        // its own: one no longer the account's (moved back to, so deleted with the account)
        // fails its condition and changes nothing else.
        for release in page
            .items
            .iter()
            .filter_map(|item| held_address_release(item, user_id))
        {
            match state.table.write(vec![release]).await {
                Err(e) if !e.is_condition_failed() => {
                    tracing::warn!(error = %e, "releasing an address held for an undo");
                }
                _ => {}
            }
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return,
        }
    }
}

/// The delete of the address an undo link (`EMAILUNDO#` item) holds, while it is the user's.
fn held_address_release(item: &Item, user_id: &str) -> Option<WriteOp> {
    let sk = item.get(SK)?.as_str()?;
    if !sk.starts_with(keys::EMAIL_UNDO_PREFIX) {
        return None;
    }
    let held = item.get("restores")?.as_str()?;
    Some(WriteOp::Delete {
        key: keys::email_marker(held),
        cond: Cond::eq("user_id", user_id),
    })
}

/// What becomes of one item of a deleted user's partition (and, for a login session, of its
/// refresh token).
fn tidy_op(item: &Item) -> Option<Vec<WriteOp>> {
    let key = store::item_key(item).ok()?;
    let sk = item.get(SK)?.as_str()?;
    if sk.starts_with(keys::LEDGER_PREFIX) {
        return Some(vec![Update::new(key)
            .remove("description")
            .when(Cond::Exists)
            .into_op()]);
    }
    let mut ops = vec![WriteOp::delete(key)];
    if sk.starts_with(keys::LOGIN_PREFIX) {
        if let Ok(session) = store::from_item::<LoginSession>(item.clone()) {
            ops.push(WriteOp::delete(keys::refresh_token(&session.refresh_hash)));
        }
    }
    // A passkey's credential marker goes with it: the credential signs in no more.
    if sk.starts_with(keys::PASSKEY_PREFIX) {
        if let Some(hash) = item.get("credential_hash").and_then(|h| h.as_str()) {
            ops.push(WriteOp::delete(keys::passkey_credential(hash)));
        }
    }
    // A device registered while the account was being deleted: its token is free again.
    if sk.starts_with(keys::PUSH_DEVICE_PREFIX) {
        ops.extend(devices::leftover_marker_delete(item));
    }
    Some(ops)
}

/// Disables (or enables again) another account (admin; never the admin's own, 403
/// `self_action_forbidden`). A disabled user cannot sign in, refresh, or use any token;
/// disabling ends every login session at once.
pub async fn set_disabled(
    state: &AppState,
    admin_id: &str,
    user_id: &str,
    disabled: bool,
) -> ApiResult<users::User> {
    crate::domain::identity::users::not_own_account(admin_id, user_id)?;
    let not_found = || ApiError::not_found("user_not_found", "No user has that id");
    if uuid::Uuid::parse_str(user_id).is_err() {
        return Err(not_found());
    }
    let user = users::get(state.table.as_ref(), user_id)
        .await?
        .ok_or_else(not_found)?;
    write_disabled(state, &user, disabled, json!({ "by": admin_id })).await
}

/// Enables the account with this email again (operator command `buddo admin enable`): the way
/// back for an admin locked out with no other admin to enable them.
pub async fn enable_by_operator(state: &AppState, email: &Email) -> ApiResult<users::User> {
    let user = users::find_by_email(state.table.as_ref(), email.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "No user has that email"))?;
    write_disabled(state, &user, false, json!({ "by": "operator" })).await
}

/// Sets or clears `disabled` on `user` with its activity entry (`details` say by whom).
async fn write_disabled(
    state: &AppState,
    user: &users::User,
    disabled: bool,
    details: serde_json::Value,
) -> ApiResult<users::User> {
    let user_id = user.id.as_str();
    let update = Update::new(keys::user(user_id))
        .set("disabled", disabled)
        .when(Cond::Exists);
    let mut ops = if disabled {
        let end = sessions::SessionsEnd::because(state, "account_disabled").await;
        sessions::end_other_sessions(user, update, None, end)
    } else {
        vec![update.into_op()]
    };
    let kind = if disabled {
        ActivityKind::AccountDisabled
    } else {
        ActivityKind::AccountEnabled
    };
    ops.push(activity::record(state, user_id, kind, None, details)?);
    state
        .table
        .write(ops)
        .await
        .on_condition(&keys::user(user_id), || {
            ApiError::conflict(
                "account_changed",
                "The account changed meanwhile; try again",
            )
        })?;
    if disabled {
        sessions::remove_stale(state, user_id, None).await;
    }
    users::require(state.table.as_ref(), user_id).await
}
