//! `GET /api/health`: 200 while the store answers, 503 in the error shape when it does not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buddo_shared::store::{
    Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

/// A store that can be taken down: every call fails while `down` is set.
struct SwitchableTable {
    inner: SharedTable,
    down: AtomicBool,
}

impl SwitchableTable {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("the store is down".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Table for SwitchableTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.check()?;
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.check()?;
        self.inner.update_returning(update).await
    }
}

backend_tests! {
    async fn health_says_ok_and_the_version_while_the_store_answers(backend) {
        let mut switch = None;
        let app = TestApp::spawn_wrapped(backend, |_| {}, |inner| {
            let table = Arc::new(SwitchableTable { inner, down: AtomicBool::new(false) });
            switch = Some(table.clone());
            table
        })
        .await;
        let switch = switch.unwrap();
        let resp = app.get("/api/health").await;
        let body = resp.assert_status(200);
        assert_keys(body, &["status", "version"]);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

        switch.down.store(true, Ordering::SeqCst);
        let resp = app.get("/api/health").await;
        resp.assert_error(503, "service_unavailable");
        assert_keys(&resp.body, &["error", "message"]);
        // Other endpoints answer the same way, never with a 500.
        app.get("/api/users/anyone").await.assert_error(503, "service_unavailable");

        switch.down.store(false, Ordering::SeqCst);
        app.get("/api/health").await.assert_status(200);
    }
}
