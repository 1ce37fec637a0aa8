//! Counting what requests cost the store.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use buddo_shared::store::{
    Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};

use super::{Backend, Resp, TestApp};

/// Store calls counted: GetItem, Query, write calls, and items written.
#[derive(Default)]
pub struct Counts {
    gets: AtomicUsize,
    queries: AtomicUsize,
    writes: AtomicUsize,
    items: AtomicUsize,
}

struct CountingTable {
    inner: SharedTable,
    counts: Arc<Counts>,
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.counts.queries.fetch_add(1, Ordering::SeqCst);
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts.items.fetch_add(ops.len(), Ordering::SeqCst);
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts.items.fetch_add(1, Ordering::SeqCst);
        self.inner.update_returning(update).await
    }
}

impl Counts {
    /// The counts since the last call, and a fresh start.
    pub fn take(&self) -> (usize, usize, usize, usize) {
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.queries.swap(0, Ordering::SeqCst),
            self.writes.swap(0, Ordering::SeqCst),
            self.items.swap(0, Ordering::SeqCst),
        )
    }
}

impl TestApp {
    /// A TestApp whose store counts every call.
    pub async fn spawn_counting(backend: Backend) -> (TestApp, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let handle = counts.clone();
        let app = TestApp::spawn_wrapped(
            backend,
            |_| {},
            move |inner| {
                Arc::new(CountingTable {
                    inner,
                    counts: handle,
                })
            },
        )
        .await;
        (app, counts)
    }
}

/// A row of a cost table: (endpoint, GetItem calls, Query calls, write calls, items written).
pub type Cost = (&'static str, usize, usize, usize, usize);

/// Sends each row's request once (`send` answers for the row's name), counts what it cost
/// the store, prints the README's table of what was measured, and asserts it is `expected`.
pub async fn assert_costs<F: Future<Output = Resp>>(
    counts: &Counts,
    expected: &[Cost],
    mut send: impl FnMut(&'static str) -> F,
) {
    let mut measured = Vec::new();
    for &(name, ..) in expected {
        counts.take();
        let resp = send(name).await;
        resp.assert_status(200);
        let (gets, queries, writes, items) = counts.take();
        measured.push((name, gets, queries, writes, items));
    }
    println!("| endpoint | GetItem | Query | writes | items written |\n|---|---|---|---|---|");
    for (name, gets, queries, writes, items) in &measured {
        println!("| `{name}` | {gets} | {queries} | {writes} | {items} |");
    }
    assert_eq!(measured, expected.to_vec());
}
