//! Counting what requests cost the store: calls by kind, items written, DynamoDB capacity
//! units, and rounds — the calls made one after another, which are a request's latency on
//! DynamoDB.
//!
//! Rounds are counted without clocks. Every call takes a tick from one counter when it
//! starts and another when it ends, and yields once between its start and the inner call, so
//! calls joined in one request (`join!`, `join_all`) have all started before any of them
//! ends. A call's depth is one more than the deepest call that ended before it started; a
//! request's rounds are its deepest call's depth.
//!
//! Capacity units are what DynamoDB would charge for the items the store saw: a strongly
//! consistent GetItem one read unit per 4 KB of the item (one for an item not found), a Query
//! one per 4 KB of the items it returned together (half on the index, which reads eventually
//! consistent), a write one unit per 1 KB of the larger of the item before and after (two in a
//! transaction: several operations, or a lone condition check). Sizes follow DynamoDB's
//! rules: attribute names and values in bytes, numbers by their digits. Items the store skips
//! as expired are not seen, and a Query that DynamoDB splits into pages counts once.

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use buddo_shared::store::{
    item_key, Index, Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};
use serde_json::Value;

use super::{Backend, Resp, TestApp};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Get,
    Query,
    Write,
}

#[derive(Clone, Debug)]
struct Call {
    kind: Kind,
    start: u64,
    end: u64,
    items: usize,
    read_units: f64,
    write_units: f64,
}

/// Store calls recorded since the last [`Counts::take`].
#[derive(Default)]
pub struct Counts {
    state: Mutex<(u64, Vec<Call>)>,
}

/// What one request cost the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub rounds: usize,
    pub gets: usize,
    pub queries: usize,
    pub writes: usize,
    pub items: usize,
    pub read_units: f64,
    pub write_units: f64,
}

impl Counts {
    fn tick(&self) -> u64 {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        state.0
    }

    fn record(&self, call: Call) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        let end = state.0;
        state.1.push(Call { end, ..call });
    }

    /// What the calls since the last take cost, and a fresh start.
    pub fn take(&self) -> Measured {
        let calls = std::mem::take(&mut self.state.lock().unwrap().1);
        let count = |kind| calls.iter().filter(|c| c.kind == kind).count();
        Measured {
            rounds: rounds(&calls),
            gets: count(Kind::Get),
            queries: count(Kind::Query),
            writes: count(Kind::Write),
            items: calls.iter().map(|c| c.items).sum(),
            read_units: calls.iter().map(|c| c.read_units).sum(),
            write_units: calls.iter().map(|c| c.write_units).sum(),
        }
    }
}

/// The longest chain of calls each of which started after the one before it ended.
fn rounds(calls: &[Call]) -> usize {
    let mut by_start: Vec<&Call> = calls.iter().collect();
    by_start.sort_by_key(|c| c.start);
    let mut depth = vec![0usize; by_start.len()];
    for i in 0..by_start.len() {
        let before = (0..i)
            .filter(|&j| by_start[j].end < by_start[i].start)
            .map(|j| depth[j])
            .max()
            .unwrap_or(0);
        depth[i] = before + 1;
    }
    depth.into_iter().max().unwrap_or(0)
}

/// DynamoDB's size of a value in bytes.
fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 1,
        Value::String(s) => s.len(),
        Value::Number(n) => {
            let digits = n.to_string().chars().filter(char::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        Value::Array(a) => 3 + a.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::Object(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn units(bytes: usize, per: usize) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

struct CountingTable {
    inner: SharedTable,
    counts: Arc<Counts>,
}

impl CountingTable {
    /// Starts a call: takes its tick, then lets the calls joined with it start too.
    async fn start(&self) -> u64 {
        let start = self.counts.tick();
        tokio::task::yield_now().await;
        start
    }

    async fn size_of(&self, key: &Key) -> usize {
        match self.inner.get(key).await {
            Ok(Some(item)) => item_size(&item),
            _ => 0,
        }
    }

    /// Write units of `ops`, given the sizes of their items before the write.
    async fn write_units(&self, ops: &[WriteOp], before: &[usize], written: bool) -> f64 {
        let transaction = ops.len() > 1 || matches!(ops, [WriteOp::Check { .. }]);
        let mut total = 0.0;
        for (op, &before) in ops.iter().zip(before) {
            let after = match op {
                _ if !written => 0,
                WriteOp::Put { item, .. } => item_size(item),
                WriteOp::Update(u) => self.size_of(&u.key).await,
                WriteOp::Delete { .. } | WriteOp::Check { .. } => 0,
            };
            total += units(before.max(after), 1024);
        }
        if transaction {
            total * 2.0
        } else {
            total
        }
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let start = self.start().await;
        let found = self.inner.get(key).await;
        let size = found.as_ref().ok().and_then(|i| i.as_ref()).map(item_size);
        self.counts.record(Call {
            kind: Kind::Get,
            start,
            end: 0,
            items: 0,
            read_units: units(size.unwrap_or(0), 4096),
            write_units: 0.0,
        });
        found
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let start = self.start().await;
        let page = self.inner.query(query).await;
        let size = page
            .as_ref()
            .map(|p| p.items.iter().map(item_size).sum())
            .unwrap_or(0);
        let consistency = match query.index {
            Index::Primary => 1.0,
            Index::Gsi1 => 0.5,
        };
        self.counts.record(Call {
            kind: Kind::Query,
            start,
            end: 0,
            items: 0,
            read_units: units(size, 4096) * consistency,
            write_units: 0.0,
        });
        page
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let start = self.start().await;
        let mut before = Vec::with_capacity(ops.len());
        for op in &ops {
            let key = match op {
                WriteOp::Put { item, .. } => item_key(item)?,
                other => other.key()?,
            };
            before.push(self.size_of(&key).await);
        }
        let written = self.inner.write(ops.clone()).await;
        let write_units = self.write_units(&ops, &before, written.is_ok()).await;
        self.counts.record(Call {
            kind: Kind::Write,
            start,
            end: 0,
            items: ops.len(),
            read_units: 0.0,
            write_units,
        });
        written
    }

    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        let start = self.start().await;
        let before = self.size_of(&update.key).await;
        let returned = self.inner.update_returning(update).await;
        let after = returned.as_ref().map(item_size).unwrap_or(0);
        self.counts.record(Call {
            kind: Kind::Write,
            start,
            end: 0,
            items: 1,
            read_units: 0.0,
            write_units: units(before.max(after), 1024),
        });
        returned
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

/// A row of the cost table: endpoint (method and route, and the case in parentheses when an
/// endpoint has several), its Lambda function, rounds, GetItem calls, Query calls, write
/// calls, items written, read units, write units.
pub type Cost = (
    &'static str,
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    f64,
    f64,
);

/// Sends each row's request once (`send` answers for the row's name), counts what it cost
/// the store, prints the README's table of what was measured, and returns it. Each request
/// finds what a warm process keeps (what the webhook endpoints want) already read.
pub async fn measure_costs<F: Future<Output = Resp>>(
    state: &buddo_shared::AppState,
    counts: &Counts,
    rows: &[Cost],
    mut send: impl FnMut(&'static str) -> F,
) -> Vec<Cost> {
    let mut measured = Vec::new();
    for &(name, function, ..) in rows {
        buddo_shared::domain::webhooks::listening(state).await;
        counts.take();
        let resp = send(name).await;
        assert!(
            resp.status.is_success(),
            "{name}: {} {}",
            resp.status,
            resp.body
        );
        let m = counts.take();
        measured.push((
            name,
            function,
            m.rounds,
            m.gets,
            m.queries,
            m.writes,
            m.items,
            m.read_units,
            m.write_units,
        ));
    }
    println!(
        "| endpoint | function | rounds | GetItem | Query | writes | items written | read units | write units |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (name, function, rounds, gets, queries, writes, items, ru, wu) in &measured {
        println!(
            "| `{name}` | {function} | {rounds} | {gets} | {queries} | {writes} | {items} | {ru} | {wu} |"
        );
    }
    measured
}
