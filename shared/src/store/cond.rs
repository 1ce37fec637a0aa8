//! Write conditions, evaluated in-process by the embedded backend and compiled to
//! DynamoDB condition expressions by the other.

use std::cmp::Ordering;

use serde_json::Value;

use super::Item;

/// A condition on the item a write operation targets. Expired items count as absent.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Always,
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    AttrExists(String),
    AttrNotExists(String),
    Eq(String, Value),
    Ne(String, Value),
    Lt(String, Value),
    Le(String, Value),
    Gt(String, Value),
    Ge(String, Value),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

impl Cond {
    pub fn eq(name: &str, value: impl Into<Value>) -> Self {
        Cond::Eq(name.into(), value.into())
    }
    pub fn ne(name: &str, value: impl Into<Value>) -> Self {
        Cond::Ne(name.into(), value.into())
    }
    pub fn ge(name: &str, value: impl Into<Value>) -> Self {
        Cond::Ge(name.into(), value.into())
    }
    pub fn le(name: &str, value: impl Into<Value>) -> Self {
        Cond::Le(name.into(), value.into())
    }
    pub fn lt(name: &str, value: impl Into<Value>) -> Self {
        Cond::Lt(name.into(), value.into())
    }
    pub fn gt(name: &str, value: impl Into<Value>) -> Self {
        Cond::Gt(name.into(), value.into())
    }
    pub fn attr_exists(name: &str) -> Self {
        Cond::AttrExists(name.into())
    }
    pub fn attr_not_exists(name: &str) -> Self {
        Cond::AttrNotExists(name.into())
    }
    pub fn or(self, other: Cond) -> Self {
        match self {
            Cond::Or(mut any) => {
                any.push(other);
                Cond::Or(any)
            }
            first => Cond::Or(vec![first, other]),
        }
    }
    pub fn and(self, other: Cond) -> Self {
        match self {
            Cond::Always => other,
            Cond::And(mut all) => {
                all.push(other);
                Cond::And(all)
            }
            first => Cond::And(vec![first, other]),
        }
    }

    /// Evaluates against the live item (`None` when absent or expired).
    pub fn holds(&self, item: Option<&Item>) -> bool {
        let attr = |name: &str| item.and_then(|i| i.get(name));
        match self {
            Cond::Always => true,
            Cond::Exists => item.is_some(),
            Cond::NotExists => item.is_none(),
            Cond::AttrExists(n) => attr(n).is_some(),
            Cond::AttrNotExists(n) => attr(n).is_none(),
            Cond::Eq(n, v) => attr(n).is_some_and(|a| compare(a, v) == Some(Ordering::Equal)),
            // DynamoDB: `a <> v` is true when the attribute is missing.
            Cond::Ne(n, v) => attr(n).is_none_or(|a| compare(a, v) != Some(Ordering::Equal)),
            Cond::Lt(n, v) => attr(n).is_some_and(|a| compare(a, v) == Some(Ordering::Less)),
            Cond::Le(n, v) => attr(n)
                .is_some_and(|a| matches!(compare(a, v), Some(Ordering::Less | Ordering::Equal))),
            Cond::Gt(n, v) => attr(n).is_some_and(|a| compare(a, v) == Some(Ordering::Greater)),
            Cond::Ge(n, v) => attr(n).is_some_and(|a| {
                matches!(compare(a, v), Some(Ordering::Greater | Ordering::Equal))
            }),
            Cond::And(all) => all.iter().all(|c| c.holds(item)),
            Cond::Or(any) => any.iter().any(|c| c.holds(item)),
        }
    }
}

/// Orders two values the way DynamoDB does: numbers by value, strings by bytes, booleans and
/// nulls only for equality; values of different types never compare.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) if x == y => Some(Ordering::Equal),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) if a == b => {
            Some(Ordering::Equal)
        }
        _ => None,
    }
}
