//! The single-table store (docs/architecture.md, "Storage").
//!
//! Domain code speaks to [`Table`] in typed terms: keys, sort-key conditions and write
//! operations with conditions. Two backends implement it with the same observable behaviour:
//! `EmbeddedTable` (redb file or memory; cargo feature `embedded`) and [`DynamoTable`]
//! (DynamoDB or DynamoDB Local).
//! Items are JSON objects; the attribute names `PK`, `SK`, `GSI1PK`, `GSI1SK` and `ttl` are
//! reserved for keys, the secondary index and expiry.

mod cond;
mod deadline;
mod dynamo;
#[cfg(feature = "embedded")]
mod embedded;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use cond::Cond;
pub use deadline::Deadline;
pub use dynamo::DynamoTable;
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedTable;

use crate::clock::Clock;

pub type Item = serde_json::Map<String, Value>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL: &str = "ttl";
/// DynamoDB's limit on operations in one transaction.
pub const MAX_WRITE_OPS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Primary,
    Gsi1,
}

/// Condition on the sort key of a query (DynamoDB key condition).
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    Any,
    Eq(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    Lt(String),
    Le(String),
    Gt(String),
    Ge(String),
}

impl SortKey {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortKey::Any => true,
            SortKey::Eq(v) => sk == v,
            SortKey::BeginsWith(p) => sk.starts_with(p.as_str()),
            SortKey::Between(a, b) => sk >= a.as_str() && sk <= b.as_str(),
            SortKey::Lt(v) => sk < v.as_str(),
            SortKey::Le(v) => sk <= v.as_str(),
            SortKey::Gt(v) => sk > v.as_str(),
            SortKey::Ge(v) => sk >= v.as_str(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SortKey,
    pub limit: Option<usize>,
    /// Opaque cursor from a previous [`Page`].
    pub cursor: Option<String>,
    /// Ascending sort-key order when true.
    pub forward: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            index: Index::Primary,
            pk: pk.into(),
            sk: SortKey::Any,
            limit: None,
            cursor: None,
            forward: true,
        }
    }
    pub fn gsi1(pk: impl Into<String>) -> Self {
        Query {
            index: Index::Gsi1,
            ..Query::partition(pk)
        }
    }
    pub fn sk(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn reverse(mut self) -> Self {
        self.forward = false;
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub cursor: Option<String>,
}

/// An update of one item: `SET`, `ADD` (integers) and `REMOVE`, applied in that order.
/// Like DynamoDB's UpdateItem it creates the item when it does not exist, unless the
/// condition forbids it.
#[derive(Clone, Debug)]
pub struct Update {
    pub key: Key,
    pub set: Vec<(String, Value)>,
    pub add: Vec<(String, i64)>,
    pub remove: Vec<String>,
    pub cond: Cond,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Update {
            key,
            set: Vec::new(),
            add: Vec::new(),
            remove: Vec::new(),
            cond: Cond::Always,
        }
    }
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set.push((name.to_string(), value.into()));
        self
    }
    pub fn add(mut self, name: &str, delta: i64) -> Self {
        self.add.push((name.to_string(), delta));
        self
    }
    pub fn remove(mut self, name: &str) -> Self {
        self.remove.push(name.to_string());
        self
    }
    pub fn when(mut self, cond: Cond) -> Self {
        self.cond = cond;
        self
    }
    pub fn into_op(self) -> WriteOp {
        WriteOp::Update(self)
    }
}

#[derive(Clone, Debug)]
pub enum WriteOp {
    Put { item: Item, cond: Cond },
    Update(Update),
    Delete { key: Key, cond: Cond },
    Check { key: Key, cond: Cond },
}

impl WriteOp {
    pub fn put(item: Item) -> Self {
        WriteOp::Put {
            item,
            cond: Cond::Always,
        }
    }
    pub fn put_new(item: Item) -> Self {
        WriteOp::Put {
            item,
            cond: Cond::NotExists,
        }
    }
    pub fn delete(key: Key) -> Self {
        WriteOp::Delete {
            key,
            cond: Cond::Always,
        }
    }
    pub fn delete_existing(key: Key) -> Self {
        WriteOp::Delete {
            key,
            cond: Cond::Exists,
        }
    }
    pub fn check(key: Key, cond: Cond) -> Self {
        WriteOp::Check { key, cond }
    }

    pub fn key(&self) -> Result<Key, StoreError> {
        match self {
            WriteOp::Put { item, .. } => item_key(item),
            WriteOp::Update(u) => Ok(u.key.clone()),
            WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Ok(key.clone()),
        }
    }

    pub fn cond(&self) -> &Cond {
        match self {
            WriteOp::Put { cond, .. }
            | WriteOp::Delete { cond, .. }
            | WriteOp::Check { cond, .. } => cond,
            WriteOp::Update(u) => &u.cond,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition on the item `key` did not hold; nothing was written. Callers tell which
    /// rule failed by the item, never by the operation's position in the write.
    #[error("condition on {}/{} failed", key.pk, key.sk)]
    ConditionFailed { key: Key },
    /// Concurrent transactions kept conflicting after bounded retries.
    #[error("write conflicted with a concurrent transaction")]
    Conflict,
    /// The write itself is not acceptable (too many operations, two on one item, no key).
    #[error("invalid write: {0}")]
    Invalid(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A write was sent and no answer came back (a timeout, a connection lost mid-call): it
    /// may or may not have happened.
    #[error("write outcome unknown: {0}")]
    OutcomeUnknown(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, StoreError::ConditionFailed { .. })
    }
    /// The item whose condition failed.
    pub fn failed_key(&self) -> Option<&Key> {
        match self {
            StoreError::ConditionFailed { key } => Some(key),
            _ => None,
        }
    }
}

#[async_trait]
pub trait Table: Send + Sync {
    /// Reads one live item (strongly consistent). Expired items are `None`.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Reads one page of a partition of the table or of GSI1. Expired items are skipped.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;
    /// Applies every operation or none of them.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Applies one update and returns the item as it is afterwards.
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError>;
}

pub type SharedTable = Arc<dyn Table>;

/// Checks the rules every backend shares before anything is written.
pub(crate) fn validate_write(ops: &[WriteOp]) -> Result<Vec<Key>, StoreError> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("no operations".into()));
    }
    if ops.len() > MAX_WRITE_OPS {
        return Err(StoreError::Invalid(format!(
            "{} operations, at most {MAX_WRITE_OPS}",
            ops.len()
        )));
    }
    let mut keys = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key()?;
        if keys.contains(&key) {
            return Err(StoreError::Invalid(format!(
                "two operations on {}/{}",
                key.pk, key.sk
            )));
        }
        if let WriteOp::Update(u) = op {
            for (name, _) in &u.set {
                if name == PK || name == SK {
                    return Err(StoreError::Invalid(
                        "key attributes cannot be updated".into(),
                    ));
                }
            }
        }
        keys.push(key);
    }
    Ok(keys)
}

pub fn item_key(item: &Item) -> Result<Key, StoreError> {
    match (item.get(PK), item.get(SK)) {
        (Some(Value::String(pk)), Some(Value::String(sk))) => Ok(Key::new(pk, sk)),
        _ => Err(StoreError::Invalid("item without string PK and SK".into())),
    }
}

/// True when the item carries a `ttl` at or before `now` (epoch seconds).
pub fn is_expired(item: &Item, now: i64) -> bool {
    item.get(TTL)
        .and_then(Value::as_i64)
        .is_some_and(|ttl| ttl <= now)
}

/// Builds an item from a serializable record plus its key attributes.
pub fn to_item<T: Serialize>(key: &Key, record: &T) -> Result<Item, StoreError> {
    let mut item = match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(StoreError::Invalid("record is not an object".into())),
        Err(e) => return Err(StoreError::Invalid(e.to_string())),
    };
    item.insert(PK.into(), Value::String(key.pk.clone()));
    item.insert(SK.into(), Value::String(key.sk.clone()));
    Ok(item)
}

/// Reads a record back from an item; the key attributes are ignored by the record.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_json::from_value(Value::Object(item)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Every item `query` matches, page after page (for a user's few items of a kind: sessions,
/// devices, subscriptions), decoded.
pub async fn query_all<T: DeserializeOwned>(
    table: &dyn Table,
    query: Query,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = table.query(&query.clone().cursor(cursor)).await?;
        for item in page.items {
            out.push(from_item(item)?);
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

pub(crate) fn encode_cursor(item: &Item, index: Index) -> String {
    let mut key = serde_json::Map::new();
    let names: &[&str] = match index {
        Index::Primary => &[PK, SK],
        Index::Gsi1 => &[PK, SK, GSI1PK, GSI1SK],
    };
    for name in names {
        if let Some(v) = item.get(*name) {
            key.insert((*name).to_string(), v.clone());
        }
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Value::Object(key).to_string())
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<Item, StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::Invalid("bad cursor".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Invalid("bad cursor".into())),
    }
}

/// Which backend to open, from configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// redb file at this path.
    Embedded(std::path::PathBuf),
    /// In-process, gone when the process ends (tests).
    Memory,
    /// DynamoDB table by name, endpoint from the AWS configuration.
    Dynamo { table: String },
}

pub async fn open(
    config: &StoreConfig,
    deadlines: &crate::deadlines::Deadlines,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<SharedTable> {
    Ok(match config {
        #[cfg(feature = "embedded")]
        StoreConfig::Embedded(path) => Arc::new(EmbeddedTable::open(path, clock)?),
        #[cfg(feature = "embedded")]
        StoreConfig::Memory => Arc::new(EmbeddedTable::in_memory(clock)?),
        #[cfg(not(feature = "embedded"))]
        StoreConfig::Embedded(_) | StoreConfig::Memory => anyhow::bail!(
            "BUDDO_STORE: this binary is built without the embedded store (cargo feature \
             `embedded`): set BUDDO_STORE=dynamodb"
        ),
        StoreConfig::Dynamo { table } => {
            let sdk = crate::aws::sdk_config(deadlines).await;
            Arc::new(DynamoTable::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table.clone(),
                clock,
            ))
        }
    })
}
