//! Renewals: each period charged exactly once, whatever overlaps or fails; past due, then
//! canceled after the grace period; a month of them adds up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buddo_shared::store::{
    Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};
use serde_json::json;

use super::DAY;
use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

/// Fails the write numbered `fail_at` (from 1) — before it happens, or, with `after`, after it
/// happened (the answer lost on the way back).
struct FaultyTable {
    inner: SharedTable,
    writes: AtomicUsize,
    fail_at: AtomicUsize,
    after: bool,
}

impl FaultyTable {
    fn hit(&self) -> bool {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.fail_at.load(Ordering::SeqCst)
    }

    fn arm(&self, n: usize) {
        self.fail_at
            .store(self.writes.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for FaultyTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if !self.hit() {
            return self.inner.write(ops).await;
        }
        if self.after {
            self.inner.write(ops).await?;
            return Err(StoreError::OutcomeUnknown(
                "injected: the answer was lost".into(),
            ));
        }
        Err(StoreError::Unavailable("injected fault".into()))
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.inner.update_returning(update).await
    }
}

async fn spawn_faulty(backend: Backend, after: bool) -> (TestApp, Arc<FaultyTable>) {
    let mut handle = None;
    let app = TestApp::spawn_wrapped(
        backend,
        |_| {},
        |inner| {
            let faulty = Arc::new(FaultyTable {
                inner,
                writes: AtomicUsize::new(0),
                fail_at: AtomicUsize::new(0),
                after,
            });
            handle = Some(faulty.clone());
            faulty
        },
    )
    .await;
    (app, handle.unwrap())
}

backend_tests! {
    async fn overlapping_runs_charge_each_period_once(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("daily", 10, 1).await;
        let mut users = Vec::new();
        for _ in 0..6 {
            let (user, token) = app.user_with_points(100).await;
            app.subscribe(&token, &plan).await;
            users.push(user);
        }
        app.clock.advance(DAY);
        let runs = futures::future::join_all((0..4).map(|_| app.renew())).await;
        let renewed: u64 = runs.iter().map(|r| r.renewed).sum();
        assert_eq!(renewed, 6, "{runs:?}");
        for user in &users {
            assert_eq!(app.balance_and_ledger(&user.id).await, (80, 80));
            assert_eq!(app.subscription_charges(user).await.len(), 2);
            assert_eq!(app.subscriptions_of(user).await[0]["status"], "active");
        }
        // Nothing more is due until the next day.
        assert_eq!(app.renew().await, Default::default());
    }

    async fn a_run_that_fails_half_way_is_finished_by_the_next(backend) {
        for after in [false, true] {
            let (app, faults) = spawn_faulty(backend, after).await;
            let plan = app.plan("daily", 10, 1).await;
            let mut users = Vec::new();
            for _ in 0..5 {
                let (user, token) = app.user_with_points(100).await;
                app.subscribe(&token, &plan).await;
                users.push(user);
            }
            app.clock.advance(DAY);
            // Runs that die at their 1st, 3rd and 5th write (their result is an error or a
            // report with failures), then one that goes through.
            for n in [1, 3, 5] {
                faults.arm(n);
                let _ = buddo_billing::handle(&app.state).await;
            }
            faults.arm(usize::MAX / 2);
            app.renew().await;
            for user in &users {
                assert_eq!(app.balance_and_ledger(&user.id).await, (80, 80), "after: {after}");
                assert_eq!(app.subscription_charges(user).await.len(), 2, "after: {after}");
            }
        }
    }

    async fn unpaid_renewals_go_past_due_then_cancel_after_the_grace_period(backend) {
        let app = TestApp::spawn_with(backend, |c| c.subscription_grace = std::time::Duration::from_secs(3 * DAY as u64)).await;
        let plan = app.plan("monthly", 100, 30).await;
        let (user, token) = app.user_with_points(150).await;
        let sub = app.subscribe(&token, &plan).await;
        app.clock.advance(30 * DAY);
        let report = app.renew().await;
        assert_eq!((report.renewed, report.past_due), (0, 1));
        assert_eq!(app.subscriptions_of(&user).await[0]["status"], "past_due");
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("could not be renewed")));
        // A past-due subscription cannot be paused; runs keep trying without charging.
        let token = app.login_ok(&user).await.token;
        let id = sub["id"].as_str().unwrap();
        app.put_auth(&format!("/api/user/subscriptions/{id}/pause"), &token, json!({})).await.assert_error(409, "subscription_past_due");
        app.clock.advance(DAY);
        assert_eq!(app.renew().await, Default::default());
        // Points arrive within the grace period: renewed, on the same anchor.
        app.grant_points(&user, 60).await;
        app.clock.advance(DAY);
        assert_eq!(app.renew().await.renewed, 1);
        let renewed = &app.subscriptions_of(&user).await[0];
        assert_eq!(renewed["status"], "active");
        assert_eq!(renewed["current_period_start"], sub["current_period_end"]);
        assert_eq!(app.balance_and_ledger(&user.id).await, (10, 10));
        // The next one goes unpaid past the grace period: canceled.
        app.clock.advance(28 * DAY);
        assert_eq!(app.renew().await.past_due, 1);
        app.clock.advance(3 * DAY);
        assert_eq!(app.renew().await.canceled, 1);
        assert_eq!(app.subscriptions_of(&user).await[0]["status"], "canceled");
        let token = app.login_ok(&user).await.token;
        assert_eq!(app.get_auth("/api/user/profile", &token).await.body["subscription"], json!(null));
        assert_eq!(app.balance_and_ledger(&user.id).await, (10, 10));
    }

    async fn a_month_of_daily_renewals_adds_up(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("daily", 7, 1).await;
        let (user, token) = app.user_with_points(200).await;
        app.subscribe(&token, &plan).await;
        let mut renewed = 0;
        // 31 days: the last three past due (the grace period), the 31st ends it.
        for _ in 0..31 {
            app.clock.advance(DAY);
            let r = app.renew().await;
            renewed += r.renewed;
            // Each renewal mails the user once, then.
            let now = buddo_shared::clock::rfc3339(app.state.now());
            let mailed = app.mails_to(&user.email).await.into_iter().filter(|m| m.subject.contains("was renewed") && m.created_at == now).count();
            assert_eq!(mailed as u64, r.renewed);
            // A second run the same day finds nothing due.
            assert_eq!(app.renew().await.renewed, 0);
        }
        // 200 points pay 28 days: the first and 27 renewals; then past due, then canceled.
        assert_eq!(renewed, 27);
        let charges = app.subscription_charges(&user).await;
        assert_eq!(charges.len(), 28);
        assert!(charges.iter().all(|c| c["amount"] == -7));
        assert_eq!(app.balance_and_ledger(&user.id).await, (4, 4));
        let sub = &app.subscriptions_of(&user).await[0];
        assert_eq!(sub["status"], "canceled");
        let mails = app.mails_to(&user.email).await;
        assert_eq!(mails.iter().filter(|m| m.subject.contains("could not be renewed")).count(), 1);
        assert_eq!(mails.iter().filter(|m| m.subject.contains("has ended")).count(), 1);
    }
}
