//! DynamoDB backend (aws-sdk-dynamodb). One operation goes out as PutItem / UpdateItem /
//! DeleteItem / ConditionCheck-as-GetItem; several as TransactWriteItems. Transaction
//! conflicts are retried with jittered backoff; failed conditions never are.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update as DdbUpdate,
};
use aws_sdk_dynamodb::Client;
use rand::Rng;
use serde_json::{Number, Value};

use super::{
    decode_cursor, encode_cursor, validate_write, Cond, Index, Item, Key, Page, Query, SortKey,
    StoreError, Table, Update, WriteOp, GSI1PK, GSI1SK, PK, SK, TTL,
};
use crate::clock::Clock;

pub const GSI1_NAME: &str = "GSI1";
const MAX_ATTEMPTS: u32 = 8;

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

    /// Creates the table with the layout of template.yaml (for DynamoDB Local and tests).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key schema")
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1_NAME)
            .key_schema(key(GSI1PK, KeyType::Hash))
            .key_schema(key(GSI1SK, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .expect("gsi");
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PK))
            .attribute_definitions(attr(SK))
            .attribute_definitions(attr(GSI1PK))
            .attribute_definitions(attr(GSI1SK))
            .key_schema(key(PK, KeyType::Hash))
            .key_schema(key(SK, KeyType::Range))
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL)
                    .enabled(true)
                    .build()
                    .expect("ttl spec"),
            )
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(())
    }

    /// Creates the table unless it exists already.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                self.create_table().await
            }
            Err(e) => Err(sdk_unavailable(e)),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    fn is_live(&self, item: &Item) -> bool {
        !super::is_expired(item, self.now())
    }

    async fn write_once(&self, ops: &[WriteOp]) -> Result<(), Attempt> {
        let now = self.now();
        if ops.len() == 1 {
            return self.write_single(&ops[0], now).await;
        }
        let mut items = Vec::with_capacity(ops.len());
        for op in ops {
            items.push(transact_item(&self.table, op, now)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(classify_transaction(err)),
        }
    }

    async fn write_single(&self, op: &WriteOp, now: i64) -> Result<(), Attempt> {
        let mut expr = Expr::default();
        let condition = expr.condition(op.cond(), now);
        let result = match op {
            WriteOp::Put { item, .. } => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_ddb_item(item)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .send()
                .await
                .map(|_| ())
                .map_err(single_error),
            WriteOp::Update(u) => {
                let update_expr = expr.update(u);
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(ddb_key(&u.key)))
                    .update_expression(update_expr)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(single_error)
            }
            WriteOp::Delete { key, .. } => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(ddb_key(key)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .send()
                .await
                .map(|_| ())
                .map_err(single_error),
            WriteOp::Check { key, cond } => {
                // A lone condition check is a consistent read evaluated here.
                let item = self.get(key).await.map_err(Attempt::Final)?;
                if cond.holds(item.as_ref()) {
                    Ok(())
                } else {
                    Err(Attempt::Final(StoreError::ConditionFailed { op: 0 }))
                }
            }
        };
        result
    }
}

/// Outcome of one attempt: retry on conflicts and throttling, stop on everything else.
enum Attempt {
    Retry(String),
    Final(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Final(e)
    }
}

fn e_str<E: std::fmt::Debug>(e: &E) -> String {
    format!("{e:?}")
}

fn sdk_unavailable<E: std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(format!("{e:?}"))
}

fn single_error<E, R>(e: SdkError<E, R>) -> Attempt
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let detail = e_str(&e);
    classify_single(e.code(), detail)
}

fn classify_single(code: Option<&str>, detail: String) -> Attempt {
    match code {
        Some("ConditionalCheckFailedException") => {
            Attempt::Final(StoreError::ConditionFailed { op: 0 })
        }
        Some("TransactionConflictException")
        | Some("ProvisionedThroughputExceededException")
        | Some("ThrottlingException")
        | Some("RequestLimitExceeded") => Attempt::Retry(detail),
        _ => Attempt::Final(StoreError::Unavailable(detail)),
    }
}

fn classify_transaction<R: std::fmt::Debug + Send + Sync + 'static>(
    err: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Attempt {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    let detail = format!("{err:?}");
    match err.into_service_error() {
        E::TransactionCanceledException(cancel) => {
            let reasons = cancel.cancellation_reasons();
            if let Some(op) = reasons
                .iter()
                .position(|r| r.code() == Some("ConditionalCheckFailed"))
            {
                return Attempt::Final(StoreError::ConditionFailed { op });
            }
            if reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some("TransactionConflict")
                        | Some("ThrottlingError")
                        | Some("ProvisionedThroughputExceeded")
                )
            }) {
                return Attempt::Retry(detail);
            }
            Attempt::Final(StoreError::Unavailable(detail))
        }
        E::TransactionInProgressException(_)
        | E::ProvisionedThroughputExceededException(_)
        | E::ThrottlingException(_)
        | E::RequestLimitExceeded(_) => Attempt::Retry(detail),
        other => {
            if other.meta().code() == Some("TransactionConflictException") {
                Attempt::Retry(detail)
            } else {
                Attempt::Final(StoreError::Unavailable(detail))
            }
        }
    }
}

fn transact_item(table: &str, op: &WriteOp, now: i64) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let condition = expr.condition(op.cond(), now);
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
    Ok(match op {
        WriteOp::Put { item, .. } => TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(to_ddb_item(item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build)?,
            )
            .build(),
        WriteOp::Update(u) => {
            let update_expr = expr.update(u);
            TransactWriteItem::builder()
                .update(
                    DdbUpdate::builder()
                        .table_name(table)
                        .set_key(Some(ddb_key(&u.key)))
                        .update_expression(update_expr)
                        .set_condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build)?,
                )
                .build()
        }
        WriteOp::Delete { key, .. } => TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(ddb_key(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build)?,
            )
            .build(),
        WriteOp::Check { key, .. } => {
            // A condition check needs an expression; `Always` becomes a tautology on the key.
            let condition = condition.unwrap_or_else(|| {
                let n = expr.name(PK);
                format!("attribute_exists({n}) OR attribute_not_exists({n})")
            });
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(table)
                        .set_key(Some(ddb_key(key)))
                        .condition_expression(condition)
                        .set_expression_attribute_names(expr.names())
                        .set_expression_attribute_values(expr.values())
                        .build()
                        .map_err(build)?,
                )
                .build()
        }
    })
}

/// Builds expression strings with placeholder names and values.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// The condition expression; expired items count as absent, as in the embedded backend.
    fn condition(&mut self, cond: &Cond, now: i64) -> Option<String> {
        match cond {
            Cond::Always => None,
            Cond::NotExists => {
                let pk = self.name(PK);
                let ttl = self.name(TTL);
                let now = self.value(AttributeValue::N(now.to_string()));
                Some(format!("(attribute_not_exists({pk}) OR {ttl} <= {now})"))
            }
            other => {
                let body = self.compile(other);
                let ttl = self.name(TTL);
                let now = self.value(AttributeValue::N(now.to_string()));
                Some(format!(
                    "(attribute_not_exists({ttl}) OR {ttl} > {now}) AND ({body})"
                ))
            }
        }
    }

    fn compile(&mut self, cond: &Cond) -> String {
        let cmp = |s: &mut Self, n: &str, v: &Value, op: &str| {
            let n = s.name(n);
            let v = s.value(to_attr(v));
            format!("{n} {op} {v}")
        };
        match cond {
            Cond::Always => {
                let pk = self.name(PK);
                format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
            }
            Cond::Exists => format!("attribute_exists({})", self.name(PK)),
            Cond::NotExists => format!("attribute_not_exists({})", self.name(PK)),
            Cond::AttrExists(n) => format!("attribute_exists({})", self.name(n)),
            Cond::AttrNotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            Cond::Eq(n, v) => cmp(self, n, v, "="),
            Cond::Ne(n, v) => cmp(self, n, v, "<>"),
            Cond::Lt(n, v) => cmp(self, n, v, "<"),
            Cond::Le(n, v) => cmp(self, n, v, "<="),
            Cond::Gt(n, v) => cmp(self, n, v, ">"),
            Cond::Ge(n, v) => cmp(self, n, v, ">="),
            Cond::And(all) => {
                let parts: Vec<String> = all
                    .iter()
                    .map(|c| format!("({})", self.compile(c)))
                    .collect();
                if parts.is_empty() {
                    self.compile(&Cond::Always)
                } else {
                    parts.join(" AND ")
                }
            }
            Cond::Or(any) => {
                let parts: Vec<String> = any
                    .iter()
                    .map(|c| format!("({})", self.compile(c)))
                    .collect();
                if parts.is_empty() {
                    let pk = self.name(PK);
                    format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))")
                } else {
                    parts.join(" OR ")
                }
            }
        }
    }

    fn update(&mut self, u: &Update) -> String {
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let parts: Vec<String> = u
                .set
                .iter()
                .map(|(n, v)| {
                    let n = self.name(n);
                    let v = self.value(to_attr(v));
                    format!("{n} = {v}")
                })
                .collect();
            clauses.push(format!("SET {}", parts.join(", ")));
        }
        if !u.add.is_empty() {
            let parts: Vec<String> = u
                .add
                .iter()
                .map(|(n, d)| {
                    let n = self.name(n);
                    let v = self.value(AttributeValue::N(d.to_string()));
                    format!("{n} {v}")
                })
                .collect();
            clauses.push(format!("ADD {}", parts.join(", ")));
        }
        if !u.remove.is_empty() {
            let parts: Vec<String> = u.remove.iter().map(|n| self.name(n)).collect();
            clauses.push(format!("REMOVE {}", parts.join(", ")));
        }
        if clauses.is_empty() {
            // An update with nothing to change still has to name the item: touch nothing real.
            let pk = self.name(PK);
            let v = self.value(AttributeValue::S(u.key.pk.clone()));
            clauses.push(format!("SET {pk} = {v}"));
        }
        clauses.join(" ")
    }
}

fn ddb_key(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

pub(crate) fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

pub(crate) fn from_attr(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => parse_number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect()),
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect())
        }
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(n) => Value::Array(n.iter().map(|n| parse_number(n)).collect()),
        _ => Value::Null,
    }
}

fn parse_number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        return Value::Number(i.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub(crate) fn to_ddb_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()
}

pub fn from_ddb_item(item: &HashMap<String, AttributeValue>) -> Item {
    item.iter()
        .map(|(k, v)| (k.clone(), from_attr(v)))
        .collect()
}

async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = rand::thread_rng().gen_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(ddb_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_unavailable)?;
        Ok(out
            .item()
            .map(from_ddb_item)
            .filter(|item| self.is_live(item)))
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        // DynamoDB refuses an inverted BETWEEN; like the embedded store, it finds nothing.
        if let SortKey::Between(a, b) = &q.sk {
            if a > b {
                return Ok(Page::default());
            }
        }
        let mut expr = Expr::default();
        let (pk_name, sk_name) = match q.index {
            Index::Primary => (PK, SK),
            Index::Gsi1 => (GSI1PK, GSI1SK),
        };
        let pk_n = expr.name(pk_name);
        let pk_v = expr.value(AttributeValue::S(q.pk.clone()));
        let mut key_cond = format!("{pk_n} = {pk_v}");
        let sk_cmp = |expr: &mut Expr, op: &str, v: &str| {
            let n = expr.name(sk_name);
            let v = expr.value(AttributeValue::S(v.to_string()));
            format!(" AND {n} {op} {v}")
        };
        key_cond.push_str(&match &q.sk {
            SortKey::Any => String::new(),
            SortKey::Eq(v) => sk_cmp(&mut expr, "=", v),
            SortKey::Lt(v) => sk_cmp(&mut expr, "<", v),
            SortKey::Le(v) => sk_cmp(&mut expr, "<=", v),
            SortKey::Gt(v) => sk_cmp(&mut expr, ">", v),
            SortKey::Ge(v) => sk_cmp(&mut expr, ">=", v),
            SortKey::BeginsWith(p) => {
                let n = expr.name(sk_name);
                let v = expr.value(AttributeValue::S(p.clone()));
                format!(" AND begins_with({n}, {v})")
            }
            SortKey::Between(a, b) => {
                let n = expr.name(sk_name);
                let a = expr.value(AttributeValue::S(a.clone()));
                let b = expr.value(AttributeValue::S(b.clone()));
                format!(" AND {n} BETWEEN {a} AND {b}")
            }
        });
        let ttl = expr.name(TTL);
        let now = expr.value(AttributeValue::N(self.now().to_string()));
        let filter = format!("attribute_not_exists({ttl}) OR {ttl} > {now}");
        let start = match &q.cursor {
            None => None,
            Some(c) => Some(to_ddb_item(&decode_cursor(c)?)),
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
                .key_condition_expression(&key_cond)
                .filter_expression(&filter)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .scan_index_forward(q.forward)
                .set_exclusive_start_key(next.take())
                .set_limit(limit.map(|l| l - items.len() as i32));
            if q.index == Index::Gsi1 {
                req = req.index_name(GSI1_NAME);
            } else {
                req = req.consistent_read(true);
            }
            let out = req.send().await.map_err(sdk_unavailable)?;
            items.extend(out.items().iter().map(from_ddb_item));
            next = out.last_evaluated_key().cloned();
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
        validate_write(&ops)?;
        let mut attempt = 0;
        loop {
            match self.write_once(&ops).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(detail)) => {
                    attempt += 1;
                    if attempt >= MAX_ATTEMPTS {
                        tracing::warn!(%detail, "write still conflicting after retries");
                        return Err(StoreError::Conflict);
                    }
                    backoff(attempt).await;
                }
            }
        }
    }

    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        let mut attempt = 0;
        loop {
            let mut expr = Expr::default();
            let condition = expr.condition(&update.cond, self.now());
            let update_expr = expr.update(&update);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(ddb_key(&update.key)))
                .update_expression(update_expr)
                .set_condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(out) => return Ok(out.attributes().map(from_ddb_item).unwrap_or_default()),
                Err(e) => match single_error(e) {
                    Attempt::Final(err) => return Err(err),
                    Attempt::Retry(detail) => {
                        attempt += 1;
                        if attempt >= MAX_ATTEMPTS {
                            tracing::warn!(%detail, "update still conflicting after retries");
                            return Err(StoreError::Conflict);
                        }
                        backoff(attempt).await;
                    }
                },
            }
        }
    }
}
