//! Conversion between the store's JSON items and DynamoDB attribute values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Number, Value};

use crate::store::{Item, Key, StoreError, PK, SK};

pub type DdbItem = HashMap<String, AttributeValue>;

pub fn key(key: &Key) -> DdbItem {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

pub fn to_attr(v: &Value) -> AttributeValue {
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

/// The JSON form of an attribute. The store never writes binary attributes, so one in the
/// table was written by something else: an error, not a silent `null`.
pub fn from_attr(v: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match v {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => parse_number(n)?,
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), from_attr(v)?)))
                .collect::<Result<_, StoreError>>()?,
        ),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(n) => Value::Array(
            n.iter()
                .map(|n| parse_number(n))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(StoreError::Corrupt(format!(
                "unsupported attribute type {}",
                attr_type(other)
            )))
        }
    })
}

fn attr_type(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::B(_) => "B",
        AttributeValue::Bs(_) => "BS",
        _ => "unknown",
    }
}

fn parse_number(n: &str) -> Result<Value, StoreError> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Value::Number(i.into()));
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| StoreError::Corrupt(format!("number {n:?} does not fit")))
}

pub fn to_item(item: &Item) -> DdbItem {
    item.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()
}

pub fn from_item(item: &DdbItem) -> Result<Item, StoreError> {
    item.iter()
        .map(|(k, v)| Ok((k.clone(), from_attr(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    #[test]
    fn round_trips_json_and_refuses_binary() {
        let value =
            serde_json::json!({"n": 5, "f": 1.5, "s": "x", "l": [true, null], "m": {"k": -1}});
        let Value::Object(item) = value.clone() else {
            unreachable!()
        };
        assert_eq!(from_item(&to_item(&item)).unwrap(), item);
        let binary = AttributeValue::B(Blob::new(vec![1, 2]));
        assert!(matches!(from_attr(&binary), Err(StoreError::Corrupt(_))));
        let nested = AttributeValue::L(vec![binary]);
        assert!(matches!(from_attr(&nested), Err(StoreError::Corrupt(_))));
    }
}
