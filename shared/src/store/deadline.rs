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

    async fn read<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the store did not answer in time".into(),
                ))
            })
    }

    async fn write<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::OutcomeUnknown(
                    "the store did not answer the write in time".into(),
                ))
            })
    }
}

#[async_trait]
impl Table for Deadline {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read(self.inner.get(key)).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.read(self.inner.query(query)).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.write(self.inner.write(ops)).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.write(self.inner.update_returning(update)).await
    }
}
