//! Every store call within a deadline (docs/architecture.md, "Deadlines"), on both backends:
//! a store that accepts a call and never answers costs a request the deadline, never the
//! function's timeout. A read past it is unavailable; a write past it may or may not have
//! happened, and says so.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use super::{Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp};

pub struct Deadline {
    inner: SharedTable,
    limit: Duration,
}

impl Deadline {
    pub fn new(inner: SharedTable, limit: Duration) -> Self {
        Deadline { inner, limit }
    }

    /// `call`, or `late` once the deadline has passed.
    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
        late: fn() -> StoreError,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or_else(|_| Err(late()))
    }
}

fn read_late() -> StoreError {
    StoreError::Unavailable("the store did not answer in time".into())
}

fn write_late() -> StoreError {
    StoreError::OutcomeUnknown("the store did not answer the write in time".into())
}

#[async_trait]
impl Table for Deadline {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.within(self.inner.get(key), read_late).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.within(self.inner.query(query), read_late).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.within(self.inner.write(ops), write_late).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.within(self.inner.update_returning(update), write_late)
            .await
    }
}
