//! An idempotent retry gets exactly the first answer: a duplicate racing the first request
//! waits for its stored answer or gets 409 `idempotency_key_in_use` with `Retry-After`, never
//! a body of its own making.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buddo_shared::store::{
    Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

const SPEND: &str = "/api/external/points/spend";

/// While armed, a movement written with its answer finds the balance moved since the request
/// read it (its debit's condition fails, as when another movement lands between the read and
/// the write), so the request moves the points the general way; storing its answer afterwards
/// fails: the points move, the answer is lost.
struct LosingAnswers {
    inner: SharedTable,
    armed: AtomicBool,
}

/// The debited user of a movement written together with its answer.
fn answered_with(ops: &[WriteOp]) -> Option<Key> {
    let answered = ops.iter().any(|op| matches!(op, WriteOp::Put { item, .. } if item["PK"].as_str().is_some_and(|pk| pk.starts_with("IDEMPOTENCY#")) && item.contains_key("response")));
    let debit = ops.iter().find_map(|op| match op {
        WriteOp::Update(u) if u.key.pk.starts_with("USER#") => Some(u.key.clone()),
        _ => None,
    });
    debit.filter(|_| answered)
}

fn stores_an_answer(ops: &[WriteOp]) -> bool {
    matches!(ops, [WriteOp::Update(u)] if u.key.pk.starts_with("IDEMPOTENCY#") && u.set.iter().any(|(name, _)| name == "response"))
}

#[async_trait]
impl Table for LosingAnswers {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.armed.load(Ordering::SeqCst) {
            if let Some(key) = answered_with(&ops) {
                return Err(StoreError::ConditionFailed { key });
            }
            if stores_an_answer(&ops) {
                return Err(StoreError::Unavailable("injected fault".into()));
            }
        }
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.inner.update_returning(update).await
    }
}

backend_tests! {
    async fn racing_duplicates_get_exactly_the_first_answer(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:spend"]).await;
        app.grant_points(&op.user, 1000).await;
        // Eight retries of one spend race eight other spends that move the balance.
        let keyed = (0..8).map(|_| app.post_idempotent(SPEND, &op.access_token, "order-1", json!({ "amount": 10 })));
        let others = (0..8).map(|_| app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": 1 }))));
        let (keyed, others) = futures::future::join(futures::future::join_all(keyed), futures::future::join_all(others)).await;
        assert!(others.iter().all(|r| r.status == 200));
        let answered: Vec<_> = keyed.iter().filter(|r| r.status == 200).collect();
        assert!(!answered.is_empty());
        for r in &keyed {
            if r.status != 200 {
                r.assert_error(409, "idempotency_key_in_use");
                assert!(r.headers.get("retry-after").is_some());
            }
        }
        let first = &answered[0].body;
        assert!(answered.iter().all(|r| r.body == *first), "{:?}", answered.iter().map(|r| &r.body).collect::<Vec<_>>());
        // Later retries give the same answer, and the points moved once.
        let again = app.post_idempotent(SPEND, &op.access_token, "order-1", json!({ "amount": 10 })).await;
        assert_eq!(again.assert_status(200), first);
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (1000 - 10 - 8, 1000 - 10 - 8));
    }

    async fn a_lost_answer_is_never_made_up_while_the_first_may_run(backend) {
        let mut handle = None;
        let app = TestApp::spawn_wrapped(backend, |_| {}, |inner| {
            let losing = Arc::new(LosingAnswers { inner, armed: AtomicBool::new(false) });
            handle = Some(losing.clone());
            losing
        }).await;
        let faults = handle.unwrap();
        let op = app.operated(&["points:spend"]).await;
        app.grant_points(&op.user, 100).await;
        faults.armed.store(true, Ordering::SeqCst);
        // The points move, but the first request cannot store its answer: it fails.
        let first = app.post_idempotent(SPEND, &op.access_token, "order-2", json!({ "amount": 30 })).await;
        first.assert_error(503, "service_unavailable");
        faults.armed.store(false, Ordering::SeqCst);
        // A retry right away cannot tell a slow first request from a dead one: 409.
        let early = app.post_idempotent(SPEND, &op.access_token, "order-2", json!({ "amount": 30 })).await;
        early.assert_error(409, "idempotency_key_in_use");
        assert_eq!(early.headers["retry-after"], "1");
        // Once no request can still be running, the answer is made once and kept.
        app.clock.advance(31);
        let late = app.post_idempotent(SPEND, &op.access_token, "order-2", json!({ "amount": 30 })).await;
        assert_eq!(late.assert_status(200)["points"], 70);
        app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": 5 }))).await.assert_status(200);
        let later = app.post_idempotent(SPEND, &op.access_token, "order-2", json!({ "amount": 30 })).await;
        assert_eq!(later.assert_status(200), &late.body);
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (65, 65));
    }
}
