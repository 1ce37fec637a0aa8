//! DynamoDB backend (aws-sdk-dynamodb). One operation goes out as its single-item call
//! (PutItem, UpdateItem, DeleteItem); several as one TransactWriteItems. The pieces:
//! [`attr`] converts items, [`expr`] writes expressions, [`ops`] builds each operation once
//! for both paths, [`retry`] decides what a failure means, [`schema`] creates the table.

mod attr;
mod expr;
mod ops;
mod retry;
mod schema;

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;

use super::{
    decode_cursor, encode_cursor, validate_write, Index, Item, Page, Query, SortKey, StoreError,
    Table, Update, WriteOp, GSI1PK, GSI1SK, PK, SK,
};
use crate::clock::Clock;
use crate::store::Key;
use expr::Expr;
use retry::{unavailable, with_retries};

pub const GSI1_NAME: &str = "GSI1";

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        DynamoTable {
            client,
            table: table.into(),
            clock,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    async fn write_once(&self, ops: &[WriteOp], keys: &[Key]) -> Result<(), retry::Attempt> {
        let now = self.now();
        if let ([op], [key]) = (ops, keys) {
            return ops::build(&self.table, op, now)?
                .send_single(&self.client, key)
                .await;
        }
        let items = ops
            .iter()
            .map(|op| ops::build(&self.table, op, now).map(ops::Built::into_transact))
            .collect::<Result<Vec<_>, _>>()?;
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry::transaction(e, keys))
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(attr::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let now = self.now();
        match out.item() {
            None => Ok(None),
            Some(item) => Ok(Some(attr::from_item(item)?).filter(|i| !super::is_expired(i, now))),
        }
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        // DynamoDB refuses an inverted BETWEEN; like the embedded store, it finds nothing.
        if let SortKey::Between(a, b) = &q.sk {
            if a > b {
                return Ok(Page::default());
            }
        }
        let (pk_name, sk_name) = match q.index {
            Index::Primary => (PK, SK),
            Index::Gsi1 => (GSI1PK, GSI1SK),
        };
        let mut expr = Expr::default();
        let key_condition = expr.key_condition(pk_name, &q.pk, sk_name, &q.sk);
        let filter = expr.live_filter(self.now());
        let (names, values) = expr.into_maps();
        let start = match &q.cursor {
            None => None,
            Some(c) => Some(attr::to_item(&decode_cursor(c)?)),
        };
        let limit = q.limit.map(|l| l.clamp(1, 1000) as i32);

        // Pages shrink when expired items are filtered out; keep reading until the page is
        // full or the partition ends, so both backends page alike.
        let mut items: Vec<Item> = Vec::new();
        let mut next = start;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(&key_condition)
                .filter_expression(&filter)
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(next.take())
                .set_limit(limit.map(|l| l - items.len() as i32));
            req = match q.index {
                Index::Gsi1 => req.index_name(GSI1_NAME),
                Index::Primary => req.consistent_read(true),
            };
            let out = req.send().await.map_err(unavailable)?;
            for item in out.items() {
                items.push(attr::from_item(item)?);
            }
            next = out.last_evaluated_key;
            let full = limit.is_some_and(|l| items.len() as i32 >= l);
            if next.is_none() || full {
                break;
            }
        }
        let cursor = match next {
            None => None,
            Some(_) => items.last().map(|item| encode_cursor(item, q.index)),
        };
        Ok(Page { items, cursor })
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys = validate_write(&ops)?;
        with_retries(|| self.write_once(&ops, &keys)).await
    }

    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        let ops = [WriteOp::Update(update)];
        let keys = validate_write(&ops)?;
        let [WriteOp::Update(update)] = &ops else {
            unreachable!("one update")
        };
        let returned = with_retries(|| async {
            let built = ops::update(&self.table, update, self.now())?;
            ops::send_update(&self.client, built, &keys[0], ReturnValue::AllNew).await
        })
        .await?;
        attr::from_item(&returned.unwrap_or_default())
    }
}
