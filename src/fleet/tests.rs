//! The fleet writer under `cargo test`: request shapes checked against botocore's DynamoDB
//! model, a simulated table for syncs (several writers, retries, out-of-order answers, data
//! loss), staleness, open and closed, and the usage merge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::dynamo::{self, Counts, StoreCall};
use super::*;
use crate::accounting::ratelimit::Limits;
use crate::translate::usage::TokenCounts;

/// 40 s into a minute.
const T0: u64 = 1_700_000_040_000;
const W: u64 = 60_000;

fn cfg(extra: Value) -> FleetConfig {
    let mut raw = json!({"store": "dynamodb", "table": "fleet", "replica": "r1"});
    for (k, v) in extra.as_object().unwrap() {
        raw[k] = v.clone();
    }
    let raw: RawFleet = serde_json::from_value(raw).unwrap();
    FleetConfig::from_raw(raw, "us-east-1", &|_| None).unwrap()
}

fn writer(name: &str, extra: Value) -> Fleet {
    Fleet::new(cfg(extra), name.to_string(), 86_400, 64)
}

fn limits(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
    Limits {
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
    }
}

fn pk() -> String {
    dynamo::limit_pk("us-east-1", "acme", "m")
}

/// A tiny DynamoDB: `UpdateItem` (SET of top-level attributes, the `seq` condition,
/// `ALL_NEW`) and `Query` on `pk`, on the JSON bodies the writer sends.
#[derive(Default)]
struct Table {
    items: BTreeMap<(String, String), serde_json::Map<String, Value>>,
    down: bool,
}

impl Table {
    fn serve(&mut self, call: &StoreCall) -> (Option<u16>, Vec<u8>) {
        if self.down {
            return (None, Vec::new());
        }
        let b: Value = serde_json::from_slice(&call.body).unwrap();
        match call.operation {
            "UpdateItem" => self.update(&b),
            "Query" => self.query(&b),
            other => panic!("unexpected {other}"),
        }
    }

    fn update(&mut self, b: &Value) -> (Option<u16>, Vec<u8>) {
        let key = (
            b["Key"]["pk"]["S"].as_str().unwrap().to_string(),
            b["Key"]["sk"]["S"].as_str().unwrap().to_string(),
        );
        let names = b["ExpressionAttributeNames"].as_object().unwrap();
        let values = b["ExpressionAttributeValues"].as_object().unwrap();
        let item = self.items.entry(key.clone()).or_default();
        if b.get("ConditionExpression").is_some() {
            let stored = item
                .get("seq")
                .map(|v| v["N"].as_str().unwrap().parse::<u64>().unwrap());
            let new: u64 = values[":q"]["N"].as_str().unwrap().parse().unwrap();
            if stored.is_some_and(|s| s >= new) {
                let err = json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed"});
                return (Some(400), err.to_string().into_bytes());
            }
        }
        let expr = b["UpdateExpression"].as_str().unwrap();
        for part in expr.trim_start_matches("SET ").split(", ") {
            let (name, value) = part.split_once(" = ").unwrap();
            let attr = names[name].as_str().unwrap().to_string();
            item.insert(attr, values[value].clone());
        }
        let mut all = item.clone();
        all.insert("pk".into(), json!({"S": key.0}));
        all.insert("sk".into(), json!({"S": key.1}));
        let answer = if b["ReturnValues"] == "ALL_NEW" {
            json!({ "Attributes": all })
        } else {
            json!({})
        };
        (Some(200), answer.to_string().into_bytes())
    }

    fn query(&mut self, b: &Value) -> (Option<u16>, Vec<u8>) {
        let pk = b["ExpressionAttributeValues"][":p"]["S"].as_str().unwrap();
        let items: Vec<Value> = self
            .items
            .iter()
            .filter(|((p, _), _)| p == pk)
            .map(|((p, s), item)| {
                let mut all = item.clone();
                all.insert("pk".into(), json!({"S": p}));
                all.insert("sk".into(), json!({"S": s}));
                Value::Object(all)
            })
            .collect();
        let n = items.len();
        (
            Some(200),
            json!({"Items": items, "Count": n}).to_string().into_bytes(),
        )
    }
}

/// Runs one writer's tick against the table, answering every call at once.
fn sync(w: &mut Fleet, table: &mut Table, now: u64) -> usize {
    let planned = w.tick(now);
    let n = planned.len();
    for (i, p) in planned.into_iter().enumerate() {
        let token = 1000 + i as u32;
        let (status, body) = table.serve(&p.call);
        w.dispatched(token, p.pending);
        assert!(w.on_answer(token, status, &body, now));
    }
    n
}

fn usage_total(table: &mut Table, tenant: &str, start: u64) -> (u64, u64) {
    let call = dynamo::query("fleet", &dynamo::usage_pk(tenant, start), None);
    let (_, body) = table.serve(&call);
    let (items, _) = dynamo::query_page(&serde_json::from_slice(&body).unwrap()).unwrap();
    let merged = report::merge("nobody", start, &items, None);
    let m = merged.usage.models.values().fold((0, 0), |acc, m| {
        (acc.0 + m.requests, acc.1 + m.output_tokens)
    });
    m
}

fn tokens(out: u64) -> TokenCounts {
    TokenCounts {
        uncached_input: 1,
        output: out,
        ..TokenCounts::default()
    }
}

#[test]
fn config_defaults_and_errors_name_the_field() {
    let c = cfg(json!({}));
    assert_eq!(c.cluster, "dynamodb");
    assert_eq!(c.host, "dynamodb.us-east-1.amazonaws.com");
    assert_eq!(c.sync_interval.as_millis(), 1000);
    assert_eq!(c.on_store_failure, OnStoreFailure::Open);
    assert_eq!(c.writer_id(0xab), "r1-000000ab");
    let env = |k: &str| (k == "HOSTNAME").then(|| "pod/x.y".to_string());
    let raw: RawFleet = serde_json::from_value(json!({"table": "t-1"})).unwrap();
    assert_eq!(
        FleetConfig::from_raw(raw, "eu-west-1", &env)
            .unwrap()
            .replica,
        "pod_x_y"
    );
    for (bad, field) in [
        (json!({"table": "x"}), "fleet.table"),
        (
            json!({"table": "tab", "sync_interval_ms": 49}),
            "fleet.sync_interval_ms",
        ),
        (json!({"table": "tab", "timeout_ms": 0}), "fleet.timeout_ms"),
        (
            json!({"table": "tab", "stale_after_ms": 0}),
            "fleet.stale_after_ms",
        ),
        (json!({"table": "tab", "replica": "a b"}), "fleet.replica"),
        (json!({"table": "tab", "host": "https://x/y"}), "fleet.host"),
        (json!({"table": "tab", "region": "us east"}), "fleet.region"),
    ] {
        let raw: RawFleet = serde_json::from_value(bad).unwrap();
        let e = FleetConfig::from_raw(raw, "us-east-1", &|_| None).unwrap_err();
        assert!(e.0.contains(&format!("`{field}`")), "{e}");
    }
}

#[test]
fn request_bodies_match_botocores_dynamodb_model() {
    let model = crate::test_support::service_model("dynamodb");
    let mut models = BTreeMap::new();
    models.insert(
        "m".to_string(),
        dynamo::RegionUsage {
            usage: crate::accounting::usage::ModelUsage {
                requests: 2,
                ..Default::default()
            },
            region: "eu-west-1".into(),
        },
    );
    let start = json!({"pk": {"S": "usage|acme|0"}, "sk": {"S": "w"}});
    for call in [
        dynamo::put_limit(
            "fleet",
            &pk(),
            7,
            "r1-0000abcd",
            Counts {
                requests: 3,
                tokens: 9,
            },
            99,
        ),
        dynamo::put_usage("fleet", "usage|acme|0", "r1-0000abcd", 4, &models, 99),
        dynamo::query("fleet", "usage|acme|0", Some(&start)),
    ] {
        let body: Value = serde_json::from_slice(&call.body).unwrap();
        let input = format!("{}Input", call.operation);
        crate::test_support::check_shape(&model["shapes"], &input, &body, "$")
            .unwrap_or_else(|e| panic!("{input}: {e}"));
        assert!(call.target().starts_with("DynamoDB_20120810."));
    }
}

#[test]
fn signed_call_carries_the_json_protocol_headers() {
    let c = cfg(json!({"host": "127.0.0.1:8000", "cluster": "ddb"}));
    let creds = crate::upstream::sigv4::Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "secret".into(),
        session_token: None,
    };
    let store = dynamo::query("fleet", "usage|acme|0", None);
    let side = call::signed(&c, &creds, &store, std::time::UNIX_EPOCH).unwrap();
    assert_eq!(side.cluster, "ddb");
    assert_eq!(side.header(":authority"), Some("127.0.0.1:8000"));
    assert_eq!(side.header("x-amz-target"), Some("DynamoDB_20120810.Query"));
    assert_eq!(
        side.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    let auth = side.header("authorization").unwrap();
    assert!(auth.contains("/us-east-1/dynamodb/aws4_request"), "{auth}");
    assert!(auth.contains("x-amz-target"), "{auth}");
}

#[test]
fn the_limit_holds_across_writers_within_one_sync() {
    let mut table = Table::default();
    let (mut a, mut b) = (writer("a", json!({})), writer("b", json!({})));
    let l = limits(Some(10), None);
    let now = T0 - T0 % W + 1000;
    // Before any sync each writer sees only itself: 4 + 4 admitted.
    for _ in 0..4 {
        assert!(a.try_acquire(pk(), l, now, 0).unwrap().decision.allowed);
        assert!(b.try_acquire(pk(), l, now, 0).unwrap().decision.allowed);
    }
    sync(&mut a, &mut table, now);
    sync(&mut b, &mut table, now);
    sync(&mut a, &mut table, now + 1000); // a learns b's 4 (b learnt a's 4 already)
    let d = a.try_acquire(pk(), l, now + 1001, 0).unwrap().decision;
    assert!(d.allowed);
    assert_eq!(d.requests.unwrap().remaining, 1, "8 fleet + 1");
    assert!(
        b.try_acquire(pk(), l, now + 1002, 0)
            .unwrap()
            .decision
            .allowed
    );
    // a has not seen b's last one: it admits a 10th of its own (the fleet's 11th), the
    // tolerance: what the other writer admitted since the last sync.
    assert!(
        a.try_acquire(pk(), l, now + 1003, 0)
            .unwrap()
            .decision
            .allowed
    );
    sync(&mut a, &mut table, now + 2000);
    sync(&mut b, &mut table, now + 2000);
    let refused = a.try_acquire(pk(), l, now + 2001, 0).unwrap();
    assert!(!refused.decision.allowed);
    let h: BTreeMap<_, _> = refused.decision.headers().into_iter().collect();
    assert_eq!(h["x-ratelimit-limit-requests"], "10");
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert_eq!(h["x-ratelimit-reset-requests"], "56.999s");
    assert_eq!(h["retry-after"], "57");
    assert!(
        !b.try_acquire(pk(), l, now + 2002, 0)
            .unwrap()
            .decision
            .allowed
    );
    // The next minute is a new window for everyone.
    let next = now - now % W + W;
    assert!(a.try_acquire(pk(), l, next, 0).unwrap().decision.allowed);
}

#[test]
fn retries_and_repeated_writes_set_absolute_values_counted_once() {
    let mut table = Table::default();
    let mut a = writer("a", json!({}));
    let now = T0;
    a.record_usage("acme", "m", "us-east-1", &tokens(5), false, now / 1000);
    let planned = a.tick(now);
    assert_eq!(planned.len(), 1);
    // The same write lands twice (a retry after a lost answer): still one request.
    table.serve(&planned[0].call);
    table.serve(&planned[0].call);
    let start = a.usage_window_start(now / 1000);
    assert_eq!(usage_total(&mut table, "acme", start), (1, 5));
    // The answer was lost: the next tick writes again, with the newer absolute values.
    a.dispatched(1, planned[0].pending.clone());
    assert!(a.on_answer(1, None, b"", now));
    a.record_usage("acme", "m", "us-east-1", &tokens(5), false, now / 1000);
    assert_eq!(sync(&mut a, &mut table, now + 1000), 1);
    assert_eq!(usage_total(&mut table, "acme", start), (2, 10));
    // After a failure the store may have lost data: the next tick writes the totals again.
    assert_eq!(sync(&mut a, &mut table, now + 2000), 1);
    assert_eq!(usage_total(&mut table, "acme", start), (2, 10));
    // Nothing new: nothing written.
    assert_eq!(sync(&mut a, &mut table, now + 3000), 0);
}

#[test]
fn out_of_order_answers_and_a_late_older_write_change_nothing() {
    let mut table = Table::default();
    let mut a = writer("a", json!({}));
    let start = a.usage_window_start(T0 / 1000);
    a.record_usage("acme", "m", "us-east-1", &tokens(1), false, T0 / 1000);
    let first = a.tick(T0).remove(0);
    a.dispatched(1, first.pending.clone());
    // Envoy times the first out; the second goes out and lands; then the first lands late.
    assert!(a.on_answer(1, None, b"", T0 + 10));
    a.record_usage("acme", "m", "us-east-1", &tokens(1), false, T0 / 1000);
    let second = a.tick(T0 + 1000).remove(0);
    let (s2, b2) = table.serve(&second.call);
    let (s1, b1) = table.serve(&first.call);
    assert_eq!(dynamo::answer(s1, &b1), dynamo::Answer::Superseded);
    assert_eq!(usage_total(&mut table, "acme", start), (2, 2));
    a.dispatched(2, second.pending);
    assert!(a.on_answer(2, s2, &b2, T0 + 1001));
    // Unknown tokens are not the writer's.
    assert!(!a.on_answer(99, Some(200), b"{}", T0 + 1002));
    // A limit answer for a window that is over is not applied to the new one.
    let l = limits(Some(5), None);
    let mut b = writer("b", json!({}));
    let mut table2 = Table::default();
    table2.serve(&dynamo::put_limit(
        "fleet",
        &pk(),
        T0 / W,
        "zz",
        Counts {
            requests: 4,
            tokens: 0,
        },
        0,
    ));
    b.try_acquire(pk(), l, T0, 0).unwrap();
    let p = b.tick(T0).remove(0);
    let (s, body) = table2.serve(&p.call);
    b.dispatched(5, p.pending);
    let later = T0 - T0 % W + W;
    b.try_acquire(pk(), l, later, 0).unwrap();
    assert!(b.on_answer(5, s, &body, later));
    let d = b.try_acquire(pk(), l, later + 1, 0).unwrap().decision;
    assert_eq!(
        d.requests.unwrap().remaining,
        3,
        "the old window's 4 others do not count"
    );
}

#[test]
fn store_down_open_admits_alone_then_recovers_and_reseeds() {
    let mut table = Table::default();
    let mut a = writer("a", json!({"stale_after_ms": 3000}));
    let l = limits(Some(3), None);
    let now = T0 - T0 % W;
    table.serve(&dynamo::put_limit(
        "fleet",
        &pk(),
        now / W,
        "other",
        Counts {
            requests: 3,
            tokens: 0,
        },
        0,
    ));
    a.record_usage("acme", "m", "us-east-1", &tokens(2), false, now / 1000);
    assert!(
        a.try_acquire(pk(), l, now, 0).unwrap().decision.allowed,
        "others unknown yet"
    );
    sync(&mut a, &mut table, now);
    assert!(
        !a.try_acquire(pk(), l, now + 1, 0).unwrap().decision.allowed,
        "3 others + 1"
    );
    // The store goes away, and loses its data.
    table = Table {
        down: true,
        ..Table::default()
    };
    a.record_usage("acme", "m", "us-east-1", &tokens(2), false, now / 1000);
    sync(&mut a, &mut table, now + 1000);
    assert_eq!(a.health(now + 3999), Health::Available);
    assert_eq!(a.health(now + 4000), Health::Unavailable);
    let adm = a.try_acquire(pk(), l, now + 4001, 0).unwrap();
    assert!(
        adm.alone && adm.decision.allowed,
        "own counts only: 1 + 1 <= 3"
    );
    // Back, empty: the next sync writes every live count again, usage included.
    table.down = false;
    sync(&mut a, &mut table, now + 5000);
    assert_eq!(a.health(now + 5001), Health::Available);
    sync(&mut a, &mut table, now + 6000);
    let start = a.usage_window_start(now / 1000);
    assert_eq!(usage_total(&mut table, "acme", start), (2, 4));
}

#[test]
fn store_down_closed_refuses() {
    let mut table = Table {
        down: true,
        ..Table::default()
    };
    let mut a = writer(
        "a",
        json!({"stale_after_ms": 1000, "on_store_failure": "closed"}),
    );
    let l = limits(Some(3), None);
    assert!(a.try_acquire(pk(), l, T0, 0).is_ok());
    sync(&mut a, &mut table, T0);
    assert!(a.try_acquire(pk(), l, T0 + 999, 0).is_ok());
    assert_eq!(a.try_acquire(pk(), l, T0 + 1000, 0), Err(Unavailable));
    // A dispatch that never went out (no credentials, unknown cluster) is a failure too.
    let mut b = writer(
        "b",
        json!({"stale_after_ms": 1000, "on_store_failure": "closed"}),
    );
    b.try_acquire(pk(), l, T0, 0).unwrap();
    let p = b.tick(T0).remove(0);
    b.not_dispatched(p.pending, T0);
    assert_eq!(b.try_acquire(pk(), l, T0 + 1000, 0), Err(Unavailable));
}

#[test]
fn tokens_are_estimated_then_settled_in_the_fleet_count() {
    let mut a = writer("a", json!({}));
    let l = limits(None, Some(100));
    let adm = a.try_acquire(pk(), l, T0, 60).unwrap();
    assert!(!a.try_acquire(pk(), l, T0 + 1, 60).unwrap().decision.allowed);
    a.settle(&adm.key, adm.decision.window_start_ms, T0 + 2, 60, 30);
    let d = a.try_acquire(pk(), l, T0 + 3, 60).unwrap().decision;
    assert!(d.allowed);
    assert_eq!(d.tokens.unwrap().remaining, 10);
}

#[test]
fn usage_merge_sums_writers_and_prefers_local_counts() {
    let mk = |w: &str, seq: u64, req: u64, region: &str| dynamo::WriterItem {
        writer: w.into(),
        seq,
        models: [(
            "m".to_string(),
            dynamo::RegionUsage {
                usage: crate::accounting::usage::ModelUsage {
                    requests: req,
                    output_tokens: req * 10,
                    ..Default::default()
                },
                region: region.into(),
            },
        )]
        .into(),
    };
    let items = [
        mk("a", 3, 5, "eu-west-1"),
        mk("b", 1, 2, "eu-west-1"),
        mk("me", 7, 1, "eu-west-1"),
    ];
    let local: BTreeMap<_, _> = mk("me", 0, 4, "eu-west-1").models;
    let m = report::merge("me", 600, &items, Some(&local));
    assert_eq!(m.usage.models["m"].requests, 5 + 2 + 4);
    assert_eq!(m.usage.models["m"].output_tokens, 110);
    assert_eq!(
        (m.writers.len(), m.own_seq, m.usage.window_start),
        (3, Some(7), 600)
    );
    assert_eq!(m.regions["m"], "eu-west-1");
    let alone = report::merge("me", 600, &items, None);
    assert_eq!(alone.usage.models["m"].requests, 8);
    assert_eq!(report::merge("me", 600, &[], None).usage.window_start, 0);
}

#[test]
fn answers_are_read_safely() {
    use dynamo::Answer;
    assert_eq!(
        dynamo::answer(Some(200), b"nope"),
        Answer::Failed("status 200 with an unreadable body".into())
    );
    let throttled = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
    assert_eq!(
        dynamo::answer(Some(400), throttled),
        Answer::Failed("status 400, ProvisionedThroughputExceededException".into())
    );
    let odd = br#"{"__type":"x#<script>","message":"m"}"#;
    assert_eq!(
        dynamo::answer(Some(500), odd),
        Answer::Failed("status 500, unknown error".into())
    );
    assert_eq!(dynamo::others_of(&json!({}), "a"), Counts::default());
    let attrs = json!({"Attributes": {"w_a": {"M": {"r": {"N": "1"}, "t": {"N": "2"}}},
        "w_b": {"M": {"r": {"N": "3"}, "t": {"N": "x"}}}, "expires_at": {"N": "5"}}});
    assert_eq!(
        dynamo::others_of(&attrs, "a"),
        Counts {
            requests: 3,
            tokens: 0
        }
    );
    assert!(dynamo::query_page(&json!({})).is_err());
}

#[test]
fn drain_flushes_usage_whatever_the_interval() {
    let mut table = Table::default();
    let mut a = writer("a", json!({"sync_interval_ms": 60000}));
    a.record_usage("acme", "m", "us-east-1", &tokens(1), false, T0 / 1000);
    sync(&mut a, &mut table, T0);
    a.record_usage("acme", "m", "us-east-1", &tokens(1), false, T0 / 1000);
    assert!(a.tick(T0 + 10).is_empty(), "not due yet");
    let planned = a.drain(T0 + 10);
    assert_eq!(planned.len(), 1);
    a.dispatched(3, planned[0].pending.clone());
    assert!(!a.drained());
    let (s, b) = table.serve(&planned[0].call);
    a.on_answer(3, s, &b, T0 + 20);
    assert!(a.drained());
    let start = a.usage_window_start(T0 / 1000);
    assert_eq!(usage_total(&mut table, "acme", start), (2, 2));
}

#[test]
fn an_idle_writer_keeps_syncing_into_the_next_window() {
    // Without this, a writer idle since the last minute admits on others = 0 at the start
    // of the next one, however much the fleet has used.
    let mut table = Table::default();
    let (mut a, mut b) = (writer("a", json!({})), writer("b", json!({})));
    let l = limits(Some(5), None);
    let start = T0 - T0 % W;
    a.try_acquire(pk(), l, start + 1000, 0).unwrap();
    sync(&mut a, &mut table, start + 1000);
    let next = start + W;
    for i in 0..4 {
        assert!(
            b.try_acquire(pk(), l, next + i, 0)
                .unwrap()
                .decision
                .allowed
        );
    }
    sync(&mut b, &mut table, next + 10);
    // a decided nothing in this window, yet its tick writes (zero) and learns b's 4.
    assert_eq!(sync(&mut a, &mut table, next + 20), 1);
    let d = a.try_acquire(pk(), l, next + 30, 0).unwrap().decision;
    assert!(d.allowed);
    assert_eq!(d.requests.unwrap().remaining, 0, "b's 4 + this one");
    assert!(
        !a.try_acquire(pk(), l, next + 40, 0)
            .unwrap()
            .decision
            .allowed
    );
    // Two windows later without a decision the key is no longer synced.
    assert_eq!(sync(&mut b, &mut table, next + 2 * W + 50), 0);
}

#[test]
fn a_failing_writer_with_nothing_to_write_probes_until_the_store_is_back() {
    let mut table = Table {
        down: true,
        ..Table::default()
    };
    let mut a = writer(
        "a",
        json!({"stale_after_ms": 1000, "on_store_failure": "closed"}),
    );
    let l = limits(Some(3), None);
    a.try_acquire(pk(), l, T0, 0).unwrap();
    sync(&mut a, &mut table, T0);
    assert_eq!(a.try_acquire(pk(), l, T0 + 1000, 0), Err(Unavailable));
    // Two windows on, nothing is left to write: the tick still probes.
    let later = T0 + 3 * W;
    assert_eq!(sync(&mut a, &mut table, later), 1);
    assert_eq!(a.try_acquire(pk(), l, later + 1, 0), Err(Unavailable));
    table.down = false;
    assert_eq!(sync(&mut a, &mut table, later + 2000), 1);
    assert!(
        a.try_acquire(pk(), l, later + 2001, 0)
            .unwrap()
            .decision
            .allowed
    );
    // Healthy and idle: no probe.
    assert_eq!(sync(&mut a, &mut table, later + 5 * W), 0);
}

#[test]
fn send_signs_each_planned_call_and_counts_what_did_not_go_out() {
    use std::time::{Duration, UNIX_EPOCH};
    let now = UNIX_EPOCH + Duration::from_millis(T0);
    let creds = crate::upstream::sigv4::Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "s".into(),
        session_token: None,
    };
    let l = limits(Some(10), None);
    // Signed and sent: the call carries SigV4 for dynamodb and is awaited under its token.
    let mut a = writer("a", json!({}));
    a.try_acquire(pk(), l, T0, 0).unwrap();
    let planned = a.tick(T0);
    assert_eq!(planned.len(), 1);
    let mut sent = Vec::new();
    a.send(planned, Some(&creds), now, &mut |call| {
        sent.push(call.clone());
        Some(7)
    });
    assert_eq!(sent.len(), 1);
    let auth = sent[0].header("authorization").unwrap();
    assert!(auth.contains("/us-east-1/dynamodb/aws4_request"), "{auth}");
    assert!(!a.drained(), "the call is awaited");
    // Without credentials nothing is dispatched and the write counts as failed.
    let mut b = writer("b", json!({}));
    b.try_acquire(pk(), l, T0, 0).unwrap();
    let planned = b.tick(T0);
    let mut dispatched = 0;
    b.send(planned, None, now, &mut |_| {
        dispatched += 1;
        Some(1)
    });
    assert_eq!(dispatched, 0);
    assert!(b.drained(), "nothing is awaited");
    // A call that does not go out is not awaited either.
    let mut c = writer("c", json!({}));
    c.try_acquire(pk(), l, T0, 0).unwrap();
    let planned = c.tick(T0);
    c.send(planned, Some(&creds), now, &mut |_| None);
    assert!(c.drained());
}
