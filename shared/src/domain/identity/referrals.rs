//! Referral bonuses: an account referred by another owes its referrer a bonus, paid in the
//! write that first marks one of its addresses verified. Identity decides when the bonus is
//! owed; what paying it writes is the ledger's, reached through [`ReferralCredit`], the port
//! the ledger offers (identity sits below the ledger and never imports it).

use super::users::{self, User};
use crate::domain::webhooks::{self, Listening};
use crate::error::ApiResult;
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp};

/// The writes that pay a referrer for `referred_id`: its bonus with the ledger entry and one
/// more direct referral, each conditional on the referrer's account existing (a referrer
/// deleted meanwhile fails the write on its key, and is paid nothing).
pub trait ReferralCredit: Sync {
    fn credit_referrer(
        &self,
        state: &AppState,
        referrer_id: &str,
        referred_id: &str,
        listening: Listening,
    ) -> ApiResult<Vec<WriteOp>>;
}

/// The referral bonus an account still owes its referrer, paid in the write that first marks
/// one of its addresses verified (verification, a password reset, a confirmed email change):
/// that write clears `referral_pending` on the account, conditionally, so however many
/// verifications race, one pays; the referrer gets the bonus with its ledger entry and one more
/// direct referral. A referrer deleted meanwhile is paid nothing.
pub(super) struct ReferralPayout {
    /// The account's flag is cleared in this write (it was set when the user was read).
    pending: bool,
    /// The referrer's credit and its ledger entry.
    ops: Vec<WriteOp>,
    referrer_key: Option<store::Key>,
}

impl ReferralPayout {
    /// What verifying `user` pays; `pay_referrer: false` clears the flag without paying (the
    /// referrer is gone).
    fn of(
        state: &AppState,
        credit: &dyn ReferralCredit,
        user: &User,
        pay_referrer: bool,
        listening: Listening,
    ) -> ApiResult<Self> {
        let mut payout = ReferralPayout {
            pending: user.referral_pending,
            ops: Vec::new(),
            referrer_key: None,
        };
        let referrer = user.referred_by.as_deref().filter(|_| pay_referrer);
        if let (true, Some(referrer)) = (user.referral_pending, referrer) {
            payout.ops = credit.credit_referrer(state, referrer, &user.id, listening)?;
            payout.referrer_key = Some(keys::user(referrer));
        }
        Ok(payout)
    }

    /// The account's own update in the verifying write: clears the flag, and holds only while
    /// it is still set.
    pub(super) fn on_user(&self, update: Update) -> Update {
        if !self.pending {
            return update;
        }
        let cond = update.cond.clone().and(Cond::eq("referral_pending", true));
        update.set("referral_pending", false).when(cond)
    }
}

/// Writes what `build` makes of the user (a write that marks an address verified, its user
/// update passed through [`ReferralPayout::on_user`]) together with the referral payout. When
/// the referrer is gone the write is made again without paying; when the account's update
/// fails while a payout was owed, the user is read again (another verification may have paid
/// meanwhile) and the write rebuilt. The store's answer is the caller's to map.
pub(super) async fn write_verifying(
    state: &AppState,
    credit: &dyn ReferralCredit,
    user: User,
    mut build: impl FnMut(&User, &ReferralPayout, Listening) -> ApiResult<Vec<WriteOp>>,
) -> ApiResult<Result<(), store::StoreError>> {
    let mut user = user;
    let mut pay_referrer = true;
    let mut rereads = 0;
    let listening = webhooks::listening(state).await;
    loop {
        let payout = ReferralPayout::of(state, credit, &user, pay_referrer, listening)?;
        let mut ops = build(&user, &payout, listening)?;
        ops.extend(payout.ops.iter().cloned());
        let written = state.table.write(ops).await;
        let failed = written.as_ref().err().and_then(|e| e.failed_key());
        if failed.is_some() && failed == payout.referrer_key.as_ref() {
            pay_referrer = false;
            continue;
        }
        if payout.pending && rereads < 2 && failed == Some(&keys::user(&user.id)) {
            rereads += 1;
            match users::get(state.table.as_ref(), &user.id).await? {
                Some(now) => {
                    user = now;
                    continue;
                }
                None => return Ok(written),
            }
        }
        return Ok(written);
    }
}
