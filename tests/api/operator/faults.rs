//! Faults: a store that fails the N-th write. Whatever N, the request answers 503 with the
//! error shape or succeeds, and nothing is half-written — balances, ledgers and budgets still
//! add up. (Each movement is one atomic write; what follows it only tidies up.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buddo_shared::store::{
    Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

/// Fails the write whose number is `fail_at` (counting from 1), once.
struct FailingTable {
    inner: SharedTable,
    writes: AtomicUsize,
    fail_at: AtomicUsize,
}

impl FailingTable {
    fn fail(&self) -> Result<(), StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected fault".into()));
        }
        Ok(())
    }

    /// Fails the `n`-th write from now.
    fn arm(&self, n: usize) {
        self.fail_at
            .store(self.writes.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }

    fn disarm(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for FailingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.fail()?;
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.fail()?;
        self.inner.update_returning(update).await
    }
}

async fn spawn(backend: crate::helpers::Backend) -> (TestApp, Arc<FailingTable>) {
    let mut handle = None;
    let app = TestApp::spawn_wrapped(
        backend,
        |_| {},
        |inner| {
            let failing = Arc::new(FailingTable {
                inner,
                writes: AtomicUsize::new(0),
                fail_at: AtomicUsize::new(0),
            });
            handle = Some(failing.clone());
            failing
        },
    )
    .await;
    (app, handle.unwrap())
}

/// Sends `request` with the 1st, 2nd, … write failing until one attempt goes through with no
/// fault hit; after every attempt `check` must hold.
async fn with_each_fault<F, Fut, C, CFut>(faults: &FailingTable, request: F, check: C) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Resp>,
    C: Fn(usize) -> CFut,
    CFut: std::future::Future<Output = ()>,
{
    let mut successes = 0;
    for n in 1..=12 {
        faults.arm(n);
        let resp = request().await;
        let hit = faults.writes.load(Ordering::SeqCst) >= faults.fail_at.load(Ordering::SeqCst);
        faults.disarm();
        if resp.status == 200 {
            successes += 1;
        } else {
            resp.assert_error(503, "service_unavailable");
        }
        check(successes).await;
        if !hit {
            return successes;
        }
    }
    panic!("the request kept writing past 12 writes");
}

backend_tests! {
    async fn a_failing_store_never_half_spends(backend) {
        let (app, faults) = spawn(backend).await;
        let op = app.operated(&["points:spend", "app:balance:read"]).await;
        app.grant_points(&op.user, 1000).await;
        let successes = with_each_fault(
            &faults,
            || app.post_auth("/api/external/points/spend", &op.access_token, Some(json!({ "amount": 7 }))),
            |ok| {
                let (app, op) = (&app, &op);
                async move {
                    let (points, ledger) = app.balance_and_ledger(&op.user.id).await;
                    assert_eq!(points, ledger);
                    assert_eq!(points, 1000 - 7 * ok as i64);
                    let app_balance = app.get_auth("/api/external/app/balance", &op.access_token).await;
                    assert_eq!(app_balance.body["points"], 7 * ok as i64);
                }
            },
        )
        .await;
        assert!(successes >= 1);
    }

    async fn a_failing_store_never_half_transfers(backend) {
        let (app, faults) = spawn(backend).await;
        let op = app.operated(&["points:transfer"]).await;
        let friend = app.new_user().await;
        app.grant_points(&op.user, 100).await;
        with_each_fault(
            &faults,
            || app.post_auth("/api/external/points/transfer", &op.access_token, Some(json!({ "amount": 9, "to_user_id": friend.id }))),
            |ok| {
                let (op_id, friend_id) = (op.user.id.clone(), friend.id.clone());
                let app = &app;
                async move {
                    let (p1, l1) = app.balance_and_ledger(&op_id).await;
                    let (p2, l2) = app.balance_and_ledger(&friend_id).await;
                    assert_eq!((p1, p2), (l1, l2));
                    assert_eq!(p1 + p2, 100);
                    assert_eq!(p2, 9 * ok as i64);
                }
            },
        )
        .await;
    }

    async fn a_failing_store_never_half_pays_an_ad(backend) {
        let (app, faults) = spawn(backend).await;
        let op = app.operated(&["profile:read", "app:balance:read"]).await;
        let admin = app.admin_token().await;
        let created = app.post_auth("/api/admin/campaigns", &admin, Some(json!({
            "name": "Rewarded", "surface_type": "rewarded", "payout_rate": 10, "budget": 1000,
        }))).await;
        let campaign = created.assert_status(201)["campaign"]["id"].as_str().unwrap().to_string();
        with_each_fault(
            &faults,
            || app.post_auth("/api/external/ads/event", &op.access_token, Some(json!({ "campaign_id": campaign, "event_type": "impression", "surface_type": "rewarded" }))),
            |_| {
                let (app, admin, campaign, op) = (&app, &admin, &campaign, &op);
                async move {
                    let (points, ledger) = app.balance_and_ledger(&op.user.id).await;
                    assert_eq!(points, ledger);
                    let list = app.get_auth("/api/admin/campaigns", admin).await;
                    let c = list.body["campaigns"].as_array().unwrap().iter().find(|c| c["id"] == campaign.as_str()).unwrap().clone();
                    let app_points = app.get_auth("/api/external/app/balance", &op.access_token).await.body["points"].as_i64().unwrap();
                    // Whatever left the budget reached the user and the app, and was counted.
                    assert_eq!(1000 - c["budget_left"].as_i64().unwrap(), points + app_points);
                    assert_eq!(c["points_paid"].as_i64().unwrap(), points + app_points);
                }
            },
        )
        .await;
    }

    async fn a_failing_store_never_half_refreshes_a_session(backend) {
        let (app, faults) = spawn(backend).await;
        let op = app.operated(&["profile:read"]).await;
        let token = std::sync::Mutex::new(op.session_token.clone().unwrap());
        with_each_fault(
            &faults,
            || {
                app.clock.advance(60);
                let current = token.lock().unwrap().clone();
                let app = &app;
                let token = &token;
                async move {
                    let resp = app.post("/api/session/refresh", json!({ "session_token": current })).await;
                    if resp.status == 200 {
                        *token.lock().unwrap() = resp.body["session_token"].as_str().unwrap().to_string();
                    }
                    resp
                }
            },
            |_| {
                let (app, op, token) = (&app, &op, &token);
                async move {
                    let (points, ledger) = app.balance_and_ledger(&op.user.id).await;
                    assert_eq!(points, ledger);
                    // The token in hand still works: a failed rotation rotated nothing.
                    let status = app.get_auth("/api/external/session/status", &op.access_token).await;
                    assert_eq!(status.body["points_earned"], points);
                    let _ = token;
                }
            },
        )
        .await;
    }
}
