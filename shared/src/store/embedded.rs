//! In-process backend on redb: one file under the data directory (or memory for tests).
//! A write is one redb write transaction, so it is all-or-nothing and serialised with every
//! other write; commits are durable before `write` returns.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition};
use serde_json::Value;

use super::{
    decode_cursor, encode_cursor, is_expired, validate_write, Index, Item, Key, Page, Query,
    SortKey, StoreError, Table, Update, WriteOp, GSI1PK, GSI1SK, PK, SK,
};
use crate::clock::Clock;

/// (PK, SK) → item as JSON.
const MAIN: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("main");
/// (GSI1PK, GSI1SK, PK, SK) → nothing: the index points back into `MAIN`.
const GSI1: TableDefinition<(&str, &str, &str, &str), &[u8]> = TableDefinition::new("gsi1");

#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl EmbeddedTable {
    /// Opens (or creates) the store file. One process at a time: a second one gets a
    /// one-line error naming the process that has it.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let owner_file = path.with_extension("pid");
        let db = match Database::create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                anyhow::bail!("{}", in_use_message(path, &owner_file))
            }
            Err(e) => return Err(e.into()),
        };
        // Tell a second process who has the file (best effort: the lock is redb's).
        let me = format!(
            "{}\n{}\n",
            std::process::id(),
            process_name(std::process::id())
        );
        if let Err(e) = std::fs::write(&owner_file, me) {
            tracing::debug!(error = %e, "writing {}", owner_file.display());
        }
        Self::init(db, clock)
    }

    pub fn in_memory(clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db, clock)
    }

    fn init(db: Database, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let tx = db.begin_write()?;
        tx.open_table(MAIN)?;
        tx.open_table(GSI1)?;
        tx.commit()?;
        Ok(EmbeddedTable {
            db: Arc::new(db),
            clock,
        })
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Applies the operations inside an open write transaction; returns the new item of the
    /// last update (for `update_returning`).
    fn apply(
        &self,
        tx: &redb::WriteTransaction,
        ops: Vec<WriteOp>,
    ) -> Result<Option<Item>, StoreError> {
        let now = self.now();
        let mut main = tx.open_table(MAIN).map_err(unavailable)?;
        let mut gsi = tx.open_table(GSI1).map_err(unavailable)?;

        // Check every condition first so that a failure leaves nothing behind.
        let mut current = Vec::with_capacity(ops.len());
        for op in &ops {
            let key = op.key()?;
            let existing = read(&main, &key)?.filter(|item| !is_expired(item, now));
            if !op.cond().holds(existing.as_ref()) {
                return Err(StoreError::ConditionFailed { key });
            }
            current.push((key, existing));
        }

        let mut returned = None;
        for (op, (key, existing)) in ops.into_iter().zip(current) {
            // The stored item (expired or not) is what the index entries point at.
            let stored = read(&main, &key)?;
            let new_item = match op {
                WriteOp::Check { .. } => continue,
                WriteOp::Delete { .. } => None,
                WriteOp::Put { item, .. } => Some(item),
                WriteOp::Update(update) => {
                    let item = apply_update(existing, &update)?;
                    returned = Some(item.clone());
                    Some(item)
                }
            };
            if let Some((gpk, gsk)) = stored.as_ref().and_then(gsi_key) {
                gsi.remove((gpk.as_str(), gsk.as_str(), key.pk.as_str(), key.sk.as_str()))
                    .map_err(unavailable)?;
            }
            match new_item {
                None => {
                    main.remove((key.pk.as_str(), key.sk.as_str()))
                        .map_err(unavailable)?;
                }
                Some(item) => {
                    let bytes = serde_json::to_vec(&item)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?;
                    main.insert((key.pk.as_str(), key.sk.as_str()), bytes.as_slice())
                        .map_err(unavailable)?;
                    if let Some((gpk, gsk)) = gsi_key(&item) {
                        gsi.insert(
                            (gpk.as_str(), gsk.as_str(), key.pk.as_str(), key.sk.as_str()),
                            [].as_slice(),
                        )
                        .map_err(unavailable)?;
                    }
                }
            }
        }
        Ok(returned)
    }

    /// Writes wait for a durable commit and for redb's single writer: keep them off the
    /// async workers so reads are never stuck behind them.
    async fn write_blocking(&self, ops: Vec<WriteOp>) -> Result<Option<Item>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run_write(ops))
            .await
            .map_err(unavailable)?
    }

    fn run_write(&self, ops: Vec<WriteOp>) -> Result<Option<Item>, StoreError> {
        validate_write(&ops)?;
        let tx = self.db.begin_write().map_err(unavailable)?;
        match self.apply(&tx, ops) {
            Ok(returned) => {
                tx.commit().map_err(unavailable)?;
                Ok(returned)
            }
            Err(e) => {
                tx.abort().map_err(unavailable)?;
                Err(e)
            }
        }
    }
}

fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn in_use_message(path: &Path, owner_file: &Path) -> String {
    let owner = std::fs::read_to_string(owner_file)
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
        .map(|pid| format!("process {pid} ({})", process_name(pid)))
        .unwrap_or_else(|| "another process".into());
    format!(
        "the embedded store {} is in use by {owner}; stop it, give this process its own data \
         directory (BUDDO_DATA_DIR or --data-dir), or run several processes against DynamoDB \
         Local (BUDDO_STORE=dynamodb, see the README's local development section)",
        path.display()
    )
}

fn read<T: ReadableTable<(&'static str, &'static str), &'static [u8]>>(
    table: &T,
    key: &Key,
) -> Result<Option<Item>, StoreError> {
    match table
        .get((key.pk.as_str(), key.sk.as_str()))
        .map_err(unavailable)?
    {
        None => Ok(None),
        Some(guard) => decode(guard.value()).map(Some),
    }
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn gsi_key(item: &Item) -> Option<(String, String)> {
    match (item.get(GSI1PK), item.get(GSI1SK)) {
        (Some(Value::String(pk)), Some(Value::String(sk))) => Some((pk.clone(), sk.clone())),
        _ => None,
    }
}

fn apply_update(existing: Option<Item>, update: &Update) -> Result<Item, StoreError> {
    let mut item = existing.unwrap_or_else(|| {
        let mut item = Item::new();
        item.insert(PK.into(), Value::String(update.key.pk.clone()));
        item.insert(SK.into(), Value::String(update.key.sk.clone()));
        item
    });
    for (name, value) in &update.set {
        item.insert(name.clone(), value.clone());
    }
    for (name, delta) in &update.add {
        let current = match item.get(name) {
            None => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                StoreError::Invalid(format!("ADD on non-integer attribute {name}"))
            })?,
        };
        let next = current
            .checked_add(*delta)
            .ok_or_else(|| StoreError::Invalid(format!("overflow adding to {name}")))?;
        item.insert(name.clone(), Value::from(next));
    }
    for name in &update.remove {
        item.remove(name);
    }
    Ok(item)
}

/// Smallest string greater than every string starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_string();
    s.push(char::MAX);
    s
}

/// The sort-key range a condition covers, as bounds.
fn sk_bounds(sk: &SortKey) -> (Bound<String>, Bound<String>) {
    use Bound::*;
    match sk {
        SortKey::Any => (Unbounded, Unbounded),
        SortKey::Eq(v) => (Included(v.clone()), Included(v.clone())),
        SortKey::BeginsWith(p) => (Included(p.clone()), Excluded(prefix_end(p))),
        SortKey::Between(a, b) => (Included(a.clone()), Included(b.clone())),
        SortKey::Lt(v) => (Unbounded, Excluded(v.clone())),
        SortKey::Le(v) => (Unbounded, Included(v.clone())),
        SortKey::Gt(v) => (Excluded(v.clone()), Unbounded),
        SortKey::Ge(v) => (Included(v.clone()), Unbounded),
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let tx = self.db.begin_read().map_err(unavailable)?;
        let main = tx.open_table(MAIN).map_err(unavailable)?;
        let now = self.now();
        Ok(read(&main, key)?.filter(|item| !is_expired(item, now)))
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        let now = self.now();
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let part = |name: &str| -> String {
            after
                .as_ref()
                .and_then(|c| c.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut page = PageBuilder {
            items: Vec::new(),
            limit: q.limit.unwrap_or(usize::MAX).max(1),
            more: false,
            now,
        };
        let tx = self.db.begin_read().map_err(unavailable)?;
        let main = tx.open_table(MAIN).map_err(unavailable)?;
        let (lo, hi) = sk_bounds(&q.sk);
        match q.index {
            Index::Primary => {
                let (lo, hi) = after_cursor(
                    bound_pair(&q.pk, lo, true),
                    bound_pair(&q.pk, hi, false),
                    after.as_ref().map(|_| (q.pk.clone(), part(SK))),
                    q.forward,
                );
                if !nonempty(&lo, &hi) {
                    return Ok(Page::default());
                }
                let range = main
                    .range::<(&str, &str)>((as_ref2(&lo), as_ref2(&hi)))
                    .map_err(unavailable)?;
                for entry in oriented(range, q.forward) {
                    let (k, v) = entry.map_err(unavailable)?;
                    if q.sk.matches(k.value().1) && !page.push(decode(v.value())?) {
                        break;
                    }
                }
            }
            Index::Gsi1 => {
                let gsi = tx.open_table(GSI1).map_err(unavailable)?;
                let (lo, hi) = after_cursor(
                    bound_quad(&q.pk, lo, true),
                    bound_quad(&q.pk, hi, false),
                    after
                        .as_ref()
                        .map(|_| (q.pk.clone(), part(GSI1SK), part(PK), part(SK))),
                    q.forward,
                );
                if !nonempty(&lo, &hi) {
                    return Ok(Page::default());
                }
                let range = gsi
                    .range::<(&str, &str, &str, &str)>((as_ref4(&lo), as_ref4(&hi)))
                    .map_err(unavailable)?;
                for entry in oriented(range, q.forward) {
                    let (k, _) = entry.map_err(unavailable)?;
                    let (_, gsk, pk, sk) = k.value();
                    if !q.sk.matches(gsk) {
                        continue;
                    }
                    let Some(item) = read(&main, &Key::new(pk, sk))? else {
                        continue;
                    };
                    if !page.push(item) {
                        break;
                    }
                }
            }
        }
        let cursor = if page.more {
            page.items.last().map(|item| encode_cursor(item, q.index))
        } else {
            None
        };
        Ok(Page {
            items: page.items,
            cursor,
        })
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.write_blocking(ops).await.map(|_| ())
    }

    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.write_blocking(vec![WriteOp::Update(update)])
            .await?
            .ok_or_else(|| StoreError::Invalid("update returned nothing".into()))
    }
}

/// Collects live items up to the limit and notes whether more follow.
struct PageBuilder {
    items: Vec<Item>,
    limit: usize,
    more: bool,
    now: i64,
}

impl PageBuilder {
    /// Adds an item unless expired; false once the page is full.
    fn push(&mut self, item: Item) -> bool {
        if is_expired(&item, self.now) {
            return true;
        }
        if self.items.len() == self.limit {
            self.more = true;
            return false;
        }
        self.items.push(item);
        true
    }
}

/// Narrows a range to what follows the cursor (an exclusive start) in the direction of reading.
fn after_cursor<T>(
    lo: Bound<T>,
    hi: Bound<T>,
    cursor: Option<T>,
    forward: bool,
) -> (Bound<T>, Bound<T>) {
    match cursor {
        None => (lo, hi),
        Some(at) if forward => (Bound::Excluded(at), hi),
        Some(at) => (lo, Bound::Excluded(at)),
    }
}

/// False when the bounds describe an empty (or inverted) range, which redb refuses.
/// A range in the query's order.
fn oriented<'a, I>(range: I, forward: bool) -> Box<dyn Iterator<Item = I::Item> + 'a>
where
    I: DoubleEndedIterator + 'a,
{
    if forward {
        Box::new(range)
    } else {
        Box::new(range.rev())
    }
}

fn nonempty<T: Ord>(lo: &Bound<T>, hi: &Bound<T>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

/// Owned bound on (PK, SK) for a range inside one partition.
fn bound_pair(pk: &str, b: Bound<String>, lower: bool) -> Bound<(String, String)> {
    match b {
        Bound::Included(s) => Bound::Included((pk.to_string(), s)),
        Bound::Excluded(s) => Bound::Excluded((pk.to_string(), s)),
        Bound::Unbounded if lower => Bound::Included((pk.to_string(), String::new())),
        Bound::Unbounded => Bound::Included((pk.to_string(), char::MAX.to_string())),
    }
}

fn bound_quad(pk: &str, b: Bound<String>, lower: bool) -> Bound<(String, String, String, String)> {
    // Index entries with the same GSI1SK differ in (PK, SK): pad so bounds include them all.
    let (lo_pad, hi_pad) = (String::new(), char::MAX.to_string());
    match b {
        Bound::Included(s) if lower => Bound::Included((pk.into(), s, lo_pad.clone(), lo_pad)),
        Bound::Included(s) => Bound::Included((pk.into(), s, hi_pad.clone(), hi_pad)),
        Bound::Excluded(s) if lower => Bound::Excluded((pk.into(), s, hi_pad.clone(), hi_pad)),
        Bound::Excluded(s) => Bound::Excluded((pk.into(), s, lo_pad.clone(), lo_pad)),
        Bound::Unbounded if lower => {
            Bound::Included((pk.into(), String::new(), lo_pad.clone(), lo_pad))
        }
        Bound::Unbounded => Bound::Included((pk.into(), hi_pad.clone(), hi_pad.clone(), hi_pad)),
    }
}

fn as_ref2(b: &Bound<(String, String)>) -> Bound<(&str, &str)> {
    match b {
        Bound::Included((a, b)) => Bound::Included((a.as_str(), b.as_str())),
        Bound::Excluded((a, b)) => Bound::Excluded((a.as_str(), b.as_str())),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_ref4(b: &Bound<(String, String, String, String)>) -> Bound<(&str, &str, &str, &str)> {
    match b {
        Bound::Included((a, b, c, d)) => {
            Bound::Included((a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        }
        Bound::Excluded((a, b, c, d)) => {
            Bound::Excluded((a.as_str(), b.as_str(), c.as_str(), d.as_str()))
        }
        Bound::Unbounded => Bound::Unbounded,
    }
}
