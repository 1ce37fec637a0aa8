//! The referral bonus, as the ledger pays it: identity decides when a referrer is owed
//! (`identity::referrals`) and asks the ledger, through the port it declares, for the writes.

use super::{EntryKind, Movement};
use crate::domain::identity::referrals::ReferralCredit;
use crate::domain::webhooks::Listening;
use crate::error::ApiResult;
use crate::keys;
use crate::state::AppState;
use crate::store::{Cond, Update, WriteOp};

/// The ledger's side of [`ReferralCredit`]: `REFERRAL_BONUS` points to the referrer, a credit
/// like any other with its entry, and one more direct referral on the same item.
pub struct ReferralCredits;

impl ReferralCredit for ReferralCredits {
    fn credit_referrer(
        &self,
        state: &AppState,
        referrer_id: &str,
        referred_id: &str,
        listening: Listening,
    ) -> ApiResult<Vec<WriteOp>> {
        let bonus = state.config.referral_bonus;
        if bonus <= 0 {
            return Ok(vec![Update::new(keys::user(referrer_id))
                .add("direct_referrals", 1)
                .when(Cond::Exists)
                .into_op()]);
        }
        let (balance, entry, event) = Movement {
            user_id: referrer_id,
            amount: bonus,
            kind: EntryKind::ReferralBonus,
            reference: referred_id,
            description: None,
            counterparty: None,
        }
        .parts(state.now(), listening)?;
        let mut ops = vec![balance.add("direct_referrals", 1).into_op(), entry];
        ops.extend(event);
        Ok(ops)
    }
}
