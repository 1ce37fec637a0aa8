//! Which event types some enabled endpoint wants. One summary item counts, per event type, the
//! enabled endpoints that want it; every endpoint change updates it in the same atomic write,
//! so it never drifts. A change writes its event only when the type's count is above zero:
//! with no endpoint listening, points movements, sign-ups and the rest cost no event writes.
//!
//! Each process keeps what it read for [`LISTENERS_KEPT_FOR`] (and forgets it when it changes
//! an endpoint itself), so an endpoint registered elsewhere hears of events from at most that
//! long after. When the summary cannot be read, every event is written: an event too many
//! is fanned out to nobody, while one missing would be lost.

use serde_json::Value;

use crate::keys;
use crate::state::AppState;
#[cfg(doc)]
use crate::state::LISTENERS_KEPT_FOR;
use crate::store::{Update, WriteOp};

use super::EventType;

/// The event types some endpoint wants, as a set of bits (one per [`EventType::ALL`] entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listening(u32);

fn bit(event_type: EventType) -> u32 {
    let at = EventType::ALL
        .iter()
        .position(|t| *t == event_type)
        .unwrap_or(0);
    1 << at
}

/// The summary's counter of one event type.
fn counter(event_type: EventType) -> String {
    format!("wanted_{}", event_type.as_str().replace('.', "_"))
}

impl Listening {
    /// Every type (when the summary cannot be read).
    pub const ALL: Listening = Listening(u32::MAX);
    pub const NONE: Listening = Listening(0);

    pub fn wants(self, event_type: EventType) -> bool {
        self.0 & bit(event_type) != 0
    }

    /// The write that puts an event in the outbox, to go into the same atomic write as the
    /// change it reports; none when no endpoint wants the type. `data` gets the `user_id`.
    pub fn announce(
        self,
        now: time::OffsetDateTime,
        event_type: EventType,
        user_id: &str,
        apps: Vec<String>,
        data: Value,
    ) -> Option<WriteOp> {
        self.wants(event_type)
            .then(|| super::event_op(now, event_type, user_id, apps, data))
    }

    fn of_summary(item: Option<&crate::store::Item>) -> Listening {
        let Some(item) = item else {
            return Listening::NONE;
        };
        let bits = EventType::ALL
            .iter()
            .filter(|t| {
                item.get(&counter(**t))
                    .and_then(Value::as_i64)
                    .is_some_and(|n| n > 0)
            })
            .fold(0, |bits, t| bits | bit(*t));
        Listening(bits)
    }
}

/// What the endpoints want now, as this process last read it (at most
/// [`LISTENERS_KEPT_FOR`] ago).
pub async fn listening(state: &AppState) -> Listening {
    if let Some(bits) = state.webhook_listeners.fresh() {
        return Listening(bits);
    }
    match state.table.get(&keys::webhook_listeners()).await {
        Ok(item) => {
            let listening = Listening::of_summary(item.as_ref());
            state.webhook_listeners.keep(listening.0);
            listening
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the webhook listeners; writing every event");
            Listening::ALL
        }
    }
}

/// The summary's change by `delta` per event type (the enabled endpoints that want it, more or
/// fewer); none when no count moves.
pub(super) fn recount(delta: impl Fn(EventType) -> i64) -> Option<WriteOp> {
    let mut update = Update::new(keys::webhook_listeners());
    for t in EventType::ALL {
        let by = delta(t);
        if by != 0 {
            update = update.add(&counter(t), by);
        }
    }
    (!update.add.is_empty()).then(|| update.into_op())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_what_is_wanted() {
        let Some(WriteOp::Update(added)) = recount(|t| i64::from(t.matches("subscription.*")))
        else {
            panic!("a change is counted");
        };
        assert_eq!(added.add.len(), 6);
        assert!(added.add.iter().all(|(_, d)| *d == 1));
        assert!(recount(|_| 0).is_none());

        let mut item = crate::store::Item::new();
        item.insert(counter(EventType::UserCreated), Value::from(1));
        item.insert(counter(EventType::UserDeleted), Value::from(0));
        let listening = Listening::of_summary(Some(&item));
        assert!(listening.wants(EventType::UserCreated));
        assert!(!listening.wants(EventType::UserDeleted));
        assert!(listening
            .announce(
                time::OffsetDateTime::UNIX_EPOCH,
                EventType::UserDeleted,
                "u",
                Vec::new(),
                Value::Null
            )
            .is_none());
        assert_eq!(Listening::of_summary(None), Listening::NONE);
        assert!(Listening::ALL.wants(EventType::SubscriptionExpired));
    }
}
