//! One builder per write operation. Each [`WriteOp`] becomes the request DynamoDB knows for
//! it (Put, Update, Delete, ConditionCheck); a transaction sends them together, a lone
//! operation goes out as its single-item call with the very same expressions.

use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update as DdbUpdate,
};
use aws_sdk_dynamodb::Client;

use super::attr::{self, DdbItem};
use super::expr::Expr;
use super::retry::{self, Attempt};
use crate::store::{Key, StoreError, Update, WriteOp};

pub enum Built {
    Put(Put),
    Update(DdbUpdate),
    Delete(Delete),
    Check(ConditionCheck),
}

fn invalid(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(e.to_string())
}

pub fn update(table: &str, u: &Update, now: i64) -> Result<DdbUpdate, StoreError> {
    let mut expr = Expr::default();
    let condition = expr.condition(&u.cond, now);
    let update_expression = expr.update(u);
    let (names, values) = expr.into_maps();
    DdbUpdate::builder()
        .table_name(table)
        .set_key(Some(attr::key(&u.key)))
        .update_expression(update_expression)
        .set_condition_expression(condition)
        .set_expression_attribute_names(names)
        .set_expression_attribute_values(values)
        .build()
        .map_err(invalid)
}

pub fn build(table: &str, op: &WriteOp, now: i64) -> Result<Built, StoreError> {
    if let WriteOp::Update(u) = op {
        return update(table, u, now).map(Built::Update);
    }
    let mut expr = Expr::default();
    let condition = expr.condition(op.cond(), now);
    Ok(match op {
        WriteOp::Put { item, .. } => {
            let (names, values) = expr.into_maps();
            Built::Put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(attr::to_item(item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?,
            )
        }
        WriteOp::Delete { key, .. } => {
            let (names, values) = expr.into_maps();
            Built::Delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(attr::key(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?,
            )
        }
        WriteOp::Check { key, .. } => {
            let condition = condition.unwrap_or_else(|| expr.tautology());
            let (names, values) = expr.into_maps();
            Built::Check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(attr::key(key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?,
            )
        }
        WriteOp::Update(_) => unreachable!("handled above"),
    })
}

impl Built {
    pub fn into_transact(self) -> TransactWriteItem {
        let item = TransactWriteItem::builder();
        match self {
            Built::Put(p) => item.put(p),
            Built::Update(u) => item.update(u),
            Built::Delete(d) => item.delete(d),
            Built::Check(c) => item.condition_check(c),
        }
        .build()
    }

    /// Sends a lone operation as its single-item call. DynamoDB has no single-item condition
    /// check, so a lone check goes out as a transaction of one.
    pub async fn send_single(self, client: &Client, key: &Key) -> Result<(), Attempt> {
        match self {
            Built::Put(p) => client
                .put_item()
                .table_name(p.table_name)
                .set_item(Some(p.item))
                .set_condition_expression(p.condition_expression)
                .set_expression_attribute_names(p.expression_attribute_names)
                .set_expression_attribute_values(p.expression_attribute_values)
                .send()
                .await
                .map(drop)
                .map_err(|e| retry::single(e, key)),
            Built::Update(u) => send_update(client, u, key, ReturnValue::None)
                .await
                .map(drop),
            Built::Delete(d) => client
                .delete_item()
                .table_name(d.table_name)
                .set_key(Some(d.key))
                .set_condition_expression(d.condition_expression)
                .set_expression_attribute_names(d.expression_attribute_names)
                .set_expression_attribute_values(d.expression_attribute_values)
                .send()
                .await
                .map(drop)
                .map_err(|e| retry::single(e, key)),
            check @ Built::Check(_) => client
                .transact_write_items()
                .transact_items(check.into_transact())
                .send()
                .await
                .map(drop)
                .map_err(|e| retry::transaction(e, std::slice::from_ref(key))),
        }
    }
}

/// UpdateItem with the expressions of `u`; returns the attributes DynamoDB sends back.
pub async fn send_update(
    client: &Client,
    u: DdbUpdate,
    key: &Key,
    returns: ReturnValue,
) -> Result<Option<DdbItem>, Attempt> {
    client
        .update_item()
        .table_name(u.table_name)
        .set_key(Some(u.key))
        .update_expression(u.update_expression)
        .set_condition_expression(u.condition_expression)
        .set_expression_attribute_names(u.expression_attribute_names)
        .set_expression_attribute_values(u.expression_attribute_values)
        .return_values(returns)
        .send()
        .await
        .map(|out| out.attributes)
        .map_err(|e| retry::single(e, key))
}
