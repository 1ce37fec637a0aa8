//! One conformance suite for both `Table` backends (docs/architecture.md, "Storage").

use std::sync::Arc;

use buddo_shared::clock::{Clock, ManualClock};
use buddo_shared::store::{
    Cond, Item, Key, Query, SharedTable, SortKey, StoreError, Update, WriteOp, GSI1PK, GSI1SK, PK,
    SK, TTL,
};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{fresh_table, Backend};

fn item(pk: &str, sk: &str, extra: Value) -> Item {
    let mut item = extra.as_object().cloned().unwrap_or_default();
    item.insert(PK.into(), json!(pk));
    item.insert(SK.into(), json!(sk));
    item
}

async fn table(backend: Backend) -> (SharedTable, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (fresh_table(backend, clock.clone()).await, clock)
}

fn sks(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| i[SK].as_str().unwrap().to_string())
        .collect()
}

backend_tests! {
    async fn put_get_delete_round_trip(backend) {
        let (t, _) = table(backend).await;
        let key = Key::new("A", "1");
        assert!(t.get(&key).await.unwrap().is_none());
        t.write(vec![WriteOp::put(item("A", "1", json!({"n": 5, "s": "x", "f": 1.5, "b": true, "l": [1, "a"], "m": {"k": null}})))]).await.unwrap();
        let got = t.get(&key).await.unwrap().unwrap();
        assert_eq!(got["n"], 5);
        assert_eq!(got["f"], 1.5);
        assert_eq!(got["l"], json!([1, "a"]));
        assert_eq!(got["m"], json!({"k": null}));
        assert_eq!(got["b"], true);
        t.write(vec![WriteOp::delete(key.clone())]).await.unwrap();
        assert!(t.get(&key).await.unwrap().is_none());
    }

    async fn put_new_refuses_an_existing_item(backend) {
        let (t, _) = table(backend).await;
        t.write(vec![WriteOp::put_new(item("A", "1", json!({})))]).await.unwrap();
        let err = t.write(vec![WriteOp::put_new(item("A", "1", json!({"x": 1})))]).await.unwrap_err();
        assert_eq!(err.failed_key(), Some(&Key::new("A", "1")), "{err:?}");
        assert!(t.get(&Key::new("A", "1")).await.unwrap().unwrap().get("x").is_none());
    }

    async fn multi_item_write_is_all_or_nothing_and_names_the_failed_item(backend) {
        let (t, _) = table(backend).await;
        t.write(vec![WriteOp::put(item("A", "taken", json!({})))]).await.unwrap();
        let err = t
            .write(vec![
                WriteOp::put_new(item("A", "new1", json!({}))),
                Update::new(Key::new("A", "counter")).add("n", 1).into_op(),
                WriteOp::put_new(item("A", "taken", json!({}))),
            ])
            .await
            .unwrap_err();
        assert_eq!(err.failed_key(), Some(&Key::new("A", "taken")), "{err:?}");
        assert!(t.get(&Key::new("A", "new1")).await.unwrap().is_none());
        assert!(t.get(&Key::new("A", "counter")).await.unwrap().is_none());

        t.write(vec![
            WriteOp::put_new(item("A", "new1", json!({}))),
            Update::new(Key::new("A", "counter")).add("n", 1).into_op(),
            WriteOp::check(Key::new("A", "taken"), Cond::Exists),
        ])
        .await
        .unwrap();
        assert!(t.get(&Key::new("A", "new1")).await.unwrap().is_some());
    }

    async fn the_failed_item_is_the_same_in_any_order(backend) {
        let (t, _) = table(backend).await;
        t.write(vec![WriteOp::put(item("O", "taken", json!({ "n": 1 })))]).await.unwrap();
        let ops = || vec![
            WriteOp::put_new(item("O", "free", json!({}))),
            Update::new(Key::new("O", "taken")).add("n", 1).when(Cond::eq("n", 2)).into_op(),
            WriteOp::check(Key::new("O", "absent"), Cond::NotExists),
        ];
        for rotation in 0..3 {
            let mut reordered = ops();
            reordered.rotate_left(rotation);
            let err = t.write(reordered).await.unwrap_err();
            assert_eq!(err.failed_key(), Some(&Key::new("O", "taken")), "rotation {rotation}: {err:?}");
        }
        // A lone check fails the same way as one inside a transaction.
        let lone = t.write(vec![WriteOp::check(Key::new("O", "taken"), Cond::eq("n", 2))]).await.unwrap_err();
        assert_eq!(lone.failed_key(), Some(&Key::new("O", "taken")));
        assert!(t.get(&Key::new("O", "free")).await.unwrap().is_none());
    }

    async fn update_returning_follows_the_rules_of_writes(backend) {
        let (t, _) = table(backend).await;
        let key = Key::new("R", "1");
        let on_key = t.update_returning(Update::new(key.clone()).set(PK, "other")).await.unwrap_err();
        assert!(matches!(on_key, StoreError::Invalid(_)), "{on_key:?}");
        let refused = t.update_returning(Update::new(key.clone()).add("n", 1).when(Cond::Exists)).await.unwrap_err();
        assert_eq!(refused.failed_key(), Some(&key));
        assert!(t.get(&key).await.unwrap().is_none());
        let made = t.update_returning(Update::new(key.clone()).add("n", 1).when(Cond::NotExists)).await.unwrap();
        assert_eq!(made["n"], 1);
    }

    async fn invalid_writes_are_refused(backend) {
        let (t, _) = table(backend).await;
        let same = t
            .write(vec![WriteOp::put(item("A", "1", json!({}))), WriteOp::delete(Key::new("A", "1"))])
            .await
            .unwrap_err();
        assert!(matches!(same, StoreError::Invalid(_)), "{same:?}");
        let too_many: Vec<WriteOp> = (0..101).map(|i| WriteOp::put(item("A", &i.to_string(), json!({})))).collect();
        assert!(matches!(t.write(too_many).await.unwrap_err(), StoreError::Invalid(_)));
        assert!(matches!(t.write(vec![]).await.unwrap_err(), StoreError::Invalid(_)));
        let hundred: Vec<WriteOp> = (0..100).map(|i| WriteOp::put(item("B", &format!("{i:03}"), json!({})))).collect();
        t.write(hundred).await.unwrap();
        assert_eq!(t.query(&Query::partition("B")).await.unwrap().items.len(), 100);
    }

    async fn updates_set_add_remove_and_upsert(backend) {
        let (t, _) = table(backend).await;
        let key = Key::new("U", "1");
        let created = t
            .update_returning(Update::new(key.clone()).set("name", "ann").add("points", 10))
            .await
            .unwrap();
        assert_eq!(created["points"], 10);
        assert_eq!(created["name"], "ann");
        let next = t
            .update_returning(Update::new(key.clone()).add("points", -3).remove("name").set("flag", true))
            .await
            .unwrap();
        assert_eq!(next["points"], 7);
        assert!(next.get("name").is_none());
        assert_eq!(next["flag"], true);
        assert_eq!(t.get(&key).await.unwrap().unwrap()["points"], 7);
    }

    async fn conditions_compare_like_dynamodb(backend) {
        let (t, _) = table(backend).await;
        let key = Key::new("C", "1");
        t.write(vec![WriteOp::put(item("C", "1", json!({"n": 10, "s": "b", "yes": true})))]).await.unwrap();
        let holds = |cond: Cond| {
            let t = t.clone();
            let key = key.clone();
            let key2 = key.clone();
            async move {
                match t.write(vec![WriteOp::check(key, cond)]).await {
                    Ok(()) => true,
                    Err(StoreError::ConditionFailed { key: failed }) if failed == key2 => false,
                    Err(e) => panic!("{e:?}"),
                }
            }
        };
        assert!(holds(Cond::Exists).await);
        assert!(!holds(Cond::NotExists).await);
        assert!(holds(Cond::ge("n", 10)).await);
        assert!(!holds(Cond::gt("n", 10)).await);
        assert!(holds(Cond::le("n", 10)).await);
        assert!(holds(Cond::lt("n", 11)).await);
        assert!(holds(Cond::eq("s", "b")).await);
        assert!(holds(Cond::gt("s", "a")).await);
        assert!(!holds(Cond::eq("s", "c")).await);
        assert!(holds(Cond::ne("s", "c")).await);
        assert!(holds(Cond::ne("missing", 1)).await);
        assert!(!holds(Cond::eq("missing", 1)).await);
        assert!(holds(Cond::eq("yes", true)).await);
        assert!(holds(Cond::attr_exists("n")).await);
        assert!(holds(Cond::attr_not_exists("missing")).await);
        assert!(!holds(Cond::ge("n", 5).and(Cond::eq("s", "z"))).await);
        assert!(holds(Cond::Or(vec![Cond::eq("s", "z"), Cond::ge("n", 5)])).await);
        assert!(!holds(Cond::eq("n", "10")).await, "a number never equals a string");
        assert!(t.write(vec![WriteOp::check(Key::new("C", "none"), Cond::Exists)]).await.unwrap_err().is_condition_failed());
    }

    async fn queries_range_order_and_page(backend) {
        let (t, _) = table(backend).await;
        let ops = ["a#1", "a#2", "a#3", "b#1", "c"].iter().map(|sk| WriteOp::put(item("Q", sk, json!({})))).collect();
        t.write(ops).await.unwrap();
        t.write(vec![WriteOp::put(item("Q2", "a#9", json!({})))]).await.unwrap();

        let all = t.query(&Query::partition("Q")).await.unwrap();
        assert_eq!(sks(&all.items), ["a#1", "a#2", "a#3", "b#1", "c"]);
        assert!(all.cursor.is_none());
        let a = t.query(&Query::partition("Q").sk(SortKey::BeginsWith("a#".into()))).await.unwrap();
        assert_eq!(sks(&a.items), ["a#1", "a#2", "a#3"]);
        let rev = t.query(&Query::partition("Q").sk(SortKey::BeginsWith("a#".into())).reverse()).await.unwrap();
        assert_eq!(sks(&rev.items), ["a#3", "a#2", "a#1"]);
        let between = t.query(&Query::partition("Q").sk(SortKey::Between("a#2".into(), "b#1".into()))).await.unwrap();
        assert_eq!(sks(&between.items), ["a#2", "a#3", "b#1"]);
        let gt = t.query(&Query::partition("Q").sk(SortKey::Gt("b#1".into()))).await.unwrap();
        assert_eq!(sks(&gt.items), ["c"]);
        let inverted = t.query(&Query::partition("Q").sk(SortKey::Between("b".into(), "a".into()))).await;
        assert!(inverted.unwrap().items.is_empty(), "an inverted range finds nothing");
        let bad = t.query(&Query::partition("Q").cursor(Some("not a cursor!".into()))).await;
        assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
        let empty = t.query(&Query::partition("nothing-here")).await.unwrap();
        assert!(empty.items.is_empty() && empty.cursor.is_none());

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = t.query(&Query::partition("Q").limit(2).cursor(cursor)).await.unwrap();
            assert!(page.items.len() <= 2);
            seen.extend(sks(&page.items));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["a#1", "a#2", "a#3", "b#1", "c"]);

        let mut back = Vec::new();
        let mut cursor = None;
        loop {
            let page = t.query(&Query::partition("Q").limit(3).reverse().cursor(cursor)).await.unwrap();
            back.extend(sks(&page.items));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(back, ["c", "b#1", "a#3", "a#2", "a#1"]);
    }

    async fn gsi1_follows_puts_updates_and_deletes(backend) {
        let (t, _) = table(backend).await;
        for (pk, gsk) in [("X#1", "2026-01-02"), ("X#2", "2026-01-01"), ("X#3", "2026-01-03")] {
            t.write(vec![WriteOp::put(item(pk, "X", json!({ GSI1PK: "PENDING", GSI1SK: gsk })))]).await.unwrap();
        }
        let page = t.query(&Query::gsi1("PENDING")).await.unwrap();
        let pks: Vec<&str> = page.items.iter().map(|i| i[PK].as_str().unwrap()).collect();
        assert_eq!(pks, ["X#2", "X#1", "X#3"]);

        t.write(vec![Update::new(Key::new("X#1", "X")).remove(GSI1PK).remove(GSI1SK).into_op()]).await.unwrap();
        t.write(vec![WriteOp::delete(Key::new("X#3", "X"))]).await.unwrap();
        let page = t.query(&Query::gsi1("PENDING")).await.unwrap();
        let pks: Vec<&str> = page.items.iter().map(|i| i[PK].as_str().unwrap()).collect();
        assert_eq!(pks, ["X#2"]);
        let limited = t.query(&Query::gsi1("PENDING").limit(1)).await.unwrap();
        assert_eq!(limited.items.len(), 1);
    }

    async fn expired_items_are_invisible(backend) {
        let (t, clock) = table(backend).await;
        let now = clock.now().unix_timestamp();
        t.write(vec![
            WriteOp::put(item("T", "old", json!({ TTL: now - 5 }))),
            WriteOp::put(item("T", "soon", json!({ TTL: now + 100 }))),
            WriteOp::put(item("T", "forever", json!({}))),
        ])
        .await
        .unwrap();
        assert!(t.get(&Key::new("T", "old")).await.unwrap().is_none());
        assert!(t.get(&Key::new("T", "soon")).await.unwrap().is_some());
        assert_eq!(sks(&t.query(&Query::partition("T")).await.unwrap().items), ["forever", "soon"]);

        clock.advance(200);
        assert!(t.get(&Key::new("T", "soon")).await.unwrap().is_none());
        assert_eq!(sks(&t.query(&Query::partition("T")).await.unwrap().items), ["forever"]);
        // An expired item counts as absent for conditions, too.
        let err = t.write(vec![WriteOp::check(Key::new("T", "soon"), Cond::Exists)]).await.unwrap_err();
        assert!(err.is_condition_failed());
        t.write(vec![WriteOp::put_new(item("T", "soon", json!({"again": true})))]).await.unwrap();
        assert_eq!(t.get(&Key::new("T", "soon")).await.unwrap().unwrap()["again"], true);
    }

    async fn concurrent_conditional_debits_never_overdraw(backend) {
        let (t, _) = table(backend).await;
        let key = Key::new("ACC", "1");
        t.write(vec![WriteOp::put(item("ACC", "1", json!({"balance": 10})))]).await.unwrap();
        let tasks: Vec<_> = (0..25)
            .map(|i| {
                let t = t.clone();
                let key = key.clone();
                tokio::spawn(async move {
                    t.write(vec![
                        Update::new(key).add("balance", -1).when(Cond::ge("balance", 1)).into_op(),
                        WriteOp::put_new(item("ACC", &format!("ENTRY#{i}"), json!({}))),
                    ])
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::ConditionFailed { key: failed }) if failed == Key::new("ACC", "1") => {}
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        let balance = t.get(&key).await.unwrap().unwrap()["balance"].as_i64().unwrap();
        let entries = t.query(&Query::partition("ACC").sk(SortKey::BeginsWith("ENTRY#".into()))).await.unwrap();
        assert_eq!(balance, 10 - ok);
        assert!(balance >= 0);
        assert_eq!(entries.items.len() as i64, ok, "every debit has its entry, and only those");
    }
}

/// An attribute type the store never writes (binary) is an error, not a silent `null`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_attribute_is_an_error_on_dynamodb() {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue;
    use buddo_shared::store::Table;
    let t = crate::helpers::fresh_dynamo_table(Arc::new(ManualClock::default())).await;
    t.write(vec![WriteOp::put(item("BIN", "1", json!({})))])
        .await
        .unwrap();
    let client = t.client();
    client
        .update_item()
        .table_name(t.table_name())
        .key(PK, AttributeValue::S("BIN".into()))
        .key(SK, AttributeValue::S("1".into()))
        .update_expression("SET blob_value = :b")
        .expression_attribute_values(":b", AttributeValue::B(Blob::new(vec![0, 1, 2])))
        .send()
        .await
        .unwrap();
    let read = t.get(&Key::new("BIN", "1")).await;
    assert!(matches!(read, Err(StoreError::Corrupt(_))), "{read:?}");
}
