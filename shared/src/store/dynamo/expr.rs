//! DynamoDB expression strings (condition, update, key condition) with placeholder names and
//! values, built from the store's typed conditions and updates.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::attr::to_attr;
use crate::store::{Cond, SortKey, Update, PK, TTL};

pub type Names = HashMap<String, String>;
pub type Values = HashMap<String, AttributeValue>;

/// Placeholders of one request: `#n0 → name`, `:v0 → value`.
#[derive(Default)]
pub struct Expr {
    names: Names,
    values: Values,
}

impl Expr {
    pub fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_string());
        placeholder
    }

    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The placeholder maps, `None` when empty (DynamoDB refuses empty maps).
    pub fn into_maps(self) -> (Option<Names>, Option<Values>) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }

    /// The condition expression; expired items count as absent, as in the embedded backend.
    pub fn condition(&mut self, cond: &Cond, now: i64) -> Option<String> {
        match cond {
            Cond::Always => None,
            // Holds for an absent item, so for an expired one too: `NotExists`, or an `Or`
            // with it (an address marker that may be claimed by its own user).
            other if other.holds(None) => {
                let body = self.compile(other);
                let ttl = self.name(TTL);
                let now = self.value(AttributeValue::N(now.to_string()));
                Some(format!("({body}) OR {ttl} <= {now}"))
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

    /// A condition that always holds (a ConditionCheck needs an expression).
    pub fn tautology(&mut self) -> String {
        let pk = self.name(PK);
        format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
    }

    fn compare(&mut self, name: &str, value: &Value, op: &str) -> String {
        let n = self.name(name);
        let v = self.value(to_attr(value));
        format!("{n} {op} {v}")
    }

    fn join(&mut self, conds: &[Cond], sep: &str, empty: Cond) -> String {
        if conds.is_empty() {
            return self.compile(&empty);
        }
        let parts: Vec<String> = conds
            .iter()
            .map(|c| format!("({})", self.compile(c)))
            .collect();
        parts.join(sep)
    }

    fn compile(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::Always => self.tautology(),
            Cond::Exists => format!("attribute_exists({})", self.name(PK)),
            Cond::NotExists => format!("attribute_not_exists({})", self.name(PK)),
            Cond::AttrExists(n) => format!("attribute_exists({})", self.name(n)),
            Cond::AttrNotExists(n) => format!("attribute_not_exists({})", self.name(n)),
            Cond::Eq(n, v) => self.compare(n, v, "="),
            Cond::Ne(n, v) => self.compare(n, v, "<>"),
            Cond::Lt(n, v) => self.compare(n, v, "<"),
            Cond::Le(n, v) => self.compare(n, v, "<="),
            Cond::Gt(n, v) => self.compare(n, v, ">"),
            Cond::Ge(n, v) => self.compare(n, v, ">="),
            Cond::And(all) => self.join(all, " AND ", Cond::Always),
            // An empty OR never holds.
            Cond::Or(any) => self.join(any, " OR ", Cond::Exists.and(Cond::NotExists)),
        }
    }

    /// The update expression: `SET …`, `ADD …`, `REMOVE …`.
    pub fn update(&mut self, u: &Update) -> String {
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let parts: Vec<String> = u.set.iter().map(|(n, v)| self.compare(n, v, "=")).collect();
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

    /// The key condition of a query on `(pk_name, sk_name)`.
    pub fn key_condition(
        &mut self,
        pk_name: &str,
        pk: &str,
        sk_name: &str,
        sk: &SortKey,
    ) -> String {
        let pk_n = self.name(pk_name);
        let pk_v = self.value(AttributeValue::S(pk.to_string()));
        let mut s = |v: &str| self.value(AttributeValue::S(v.to_string()));
        let sk_clause = match sk {
            SortKey::Any => return format!("{pk_n} = {pk_v}"),
            SortKey::Eq(v) => format!("= {}", s(v)),
            SortKey::Lt(v) => format!("< {}", s(v)),
            SortKey::Le(v) => format!("<= {}", s(v)),
            SortKey::Gt(v) => format!("> {}", s(v)),
            SortKey::Ge(v) => format!(">= {}", s(v)),
            SortKey::Between(a, b) => format!("BETWEEN {} AND {}", s(a), s(b)),
            SortKey::BeginsWith(p) => {
                let v = s(p);
                let n = self.name(sk_name);
                return format!("{pk_n} = {pk_v} AND begins_with({n}, {v})");
            }
        };
        let n = self.name(sk_name);
        format!("{pk_n} = {pk_v} AND {n} {sk_clause}")
    }

    /// A filter that leaves out expired items.
    pub fn live_filter(&mut self, now: i64) -> String {
        let ttl = self.name(TTL);
        let now = self.value(AttributeValue::N(now.to_string()));
        format!("attribute_not_exists({ttl}) OR {ttl} > {now}")
    }
}
