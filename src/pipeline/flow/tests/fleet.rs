//! Fleet mode through whole requests: admission against the writer's fleet counts (and
//! nothing in shared data), the store down in both failure modes, `/v1/usage` read from the
//! store and merged, and limits keyed by the region actually called.

use super::*;
use crate::fleet::{Fleet, UNAVAILABLE_METRIC};

const MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

fn fleet_config(extra_fleet: Value, tenant_extra: Value) -> Rc<Config> {
    let mut fleet = json!({"table": "fleet", "replica": "r1", "stale_after_ms": 1000});
    for (k, v) in extra_fleet.as_object().unwrap() {
        fleet[k] = v.clone();
    }
    let mut tenant = json!({"key_sha256": [SHA_DEMO], "limits": {"requests_per_minute": 1}});
    for (k, v) in tenant_extra.as_object().unwrap() {
        tenant[k] = v.clone();
    }
    config(json!({"fleet": fleet, "tenants": {"acme": tenant}}))
}

fn harness(cfg: &Rc<Config>, fleet: Option<Fleet>) -> Harness {
    let mut h = Harness::new(cfg.clone());
    let fc = cfg.fleet.clone().unwrap();
    h.fleet = Some(fleet.unwrap_or_else(|| Fleet::new(fc, "r1-00000001".into(), 86_400, 64)));
    h
}

/// Ends a request with a small unary answer and runs its log.
fn finish(h: &mut Harness) -> Vec<Effect> {
    let answer = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}});
    h.response(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    h.response_body(answer.to_string().as_bytes(), true);
    h.log()
}

fn usage_get(h: &mut Harness) -> Output {
    let head = [
        (":method", "GET"),
        (":path", "/v1/usage"),
        ("authorization", "Bearer sk-local-demo"),
    ];
    h.headers(&head, true)
}

fn counted(effects: &[Effect]) -> bool {
    effects
        .iter()
        .any(|e| matches!(e, Effect::Metric(u) if u.name == UNAVAILABLE_METRIC))
}

#[test]
fn requests_are_admitted_on_the_fleet_count_and_nothing_goes_to_shared_data() {
    let cfg = fleet_config(json!({}), json!({}));
    let mut h = harness(&cfg, None);
    assert_eq!(send(&mut h, false).step, Step::Continue);
    let log = finish(&mut h);
    assert!(!counted(&log));
    let resp = h.flow.response_headers();
    assert_eq!(resp.get("x-ratelimit-remaining-requests"), Some("0"));
    let fleet = h.fleet.take();
    let host = std::mem::take(&mut h.host);
    assert!(host.shared.is_empty(), "{:?}", host.shared.keys());
    let mut h = harness(&cfg, fleet);
    let out = send(&mut h, false);
    let (status, body) = error_of(&out);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded_requests"))
    );
    assert_eq!(
        reply_of(&out).headers.get("x-ratelimit-limit-requests"),
        Some("1")
    );
    // The writer holds the usage, to flush on its tick.
    let fleet = h.fleet.as_mut().unwrap();
    let now = crate::upstream::unix_seconds(h.host.now());
    let local = fleet
        .local_usage("acme", fleet.usage_window_start(now))
        .unwrap();
    assert_eq!(
        (local[MODEL].usage.requests, local[MODEL].region.as_str()),
        (1, "us-east-1")
    );
    let planned = fleet.tick(crate::pipeline::step::millis(h.host.now()));
    let pks: Vec<String> = planned
        .iter()
        .map(|p| {
            serde_json::from_slice::<Value>(&p.call.body).unwrap()["Key"]["pk"]["S"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        pks,
        [
            format!("rl|us-east-1|acme|{MODEL}"),
            format!("usage|acme|{}", 1_699_920_000)
        ]
    );
}

/// A writer whose store has failed for longer than `stale_after_ms`.
fn stale_fleet(cfg: &Rc<Config>, h: &Harness) -> Fleet {
    let mut f = Fleet::new(cfg.fleet.clone().unwrap(), "r1-00000001".into(), 86_400, 64);
    let now = crate::pipeline::step::millis(h.host.now());
    f.record_usage(
        "acme",
        MODEL,
        "us-east-1",
        &Default::default(),
        false,
        now / 1000,
    );
    let p = f.tick(now - 5000).remove(0);
    f.not_dispatched(p.pending, now - 5000);
    f
}

#[test]
fn store_down_fails_open_with_a_metric_or_closed_with_503() {
    let cfg = fleet_config(json!({}), json!({}));
    let mut h = harness(&cfg, None);
    h.fleet = Some(stale_fleet(&cfg, &h));
    assert_eq!(send(&mut h, false).step, Step::Continue);
    assert!(counted(&finish(&mut h)));

    let cfg = fleet_config(json!({"on_store_failure": "closed"}), json!({}));
    let mut h = harness(&cfg, None);
    h.fleet = Some(stale_fleet(&cfg, &h));
    let out = send(&mut h, false);
    let (status, body) = error_of(&out);
    assert_eq!(status, 503);
    assert_eq!(body["error"]["type"], "service_unavailable_error");
    assert_eq!(body["error"]["code"], "limit_store_unavailable");
    assert!(counted(&h.log()));
    // An unlimited tenant never needs the store.
    let cfg = fleet_config(json!({"on_store_failure": "closed"}), json!({"limits": {}}));
    let mut h = harness(&cfg, None);
    h.fleet = Some(stale_fleet(&cfg, &h));
    assert_eq!(send(&mut h, false).step, Step::Continue);
}

fn query_answer(writer: &str, requests: u64) -> Vec<u8> {
    json!({"Count": 1, "Items": [{"pk": {"S": "usage|acme|1699920000"}, "sk": {"S": writer},
        "seq": {"N": "3"}, "models": {"M": {MODEL: {"M": {
            "requests": {"N": requests.to_string()}, "errors": {"N": "0"},
            "input_tokens": {"N": "30"}, "output_tokens": {"N": "20"},
            "cache_read_tokens": {"N": "0"}, "cache_write_tokens": {"N": "0"},
            "region": {"S": "us-east-1"}}}}}}]})
    .to_string()
    .into_bytes()
}

#[test]
fn usage_sums_the_store_and_this_writers_unflushed_counts() {
    let cfg = fleet_config(json!({}), json!({"limits": {}}));
    let mut h = harness(&cfg, None);
    send(&mut h, false);
    finish(&mut h);
    let fleet = h.fleet.take();
    let mut h = harness(&cfg, fleet);
    assert_eq!(usage_get(&mut h).step, Step::Pause);
    assert_eq!(h.flow.phase(), "awaiting_usage");
    let call = h.host.calls.last().unwrap().clone();
    assert_eq!(call.cluster, "dynamodb");
    assert_eq!(call.header("x-amz-target"), Some("DynamoDB_20120810.Query"));
    let q: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(
        q["ExpressionAttributeValues"][":p"]["S"],
        "usage|acme|1699920000"
    );
    let token = h.host.calls.len() as u32;
    let ok = HeaderList::from_pairs([(":status", "200")]);
    let mut read = |_: usize| Vec::new();
    // An answer for another token is not this request's.
    let out = h.env(|f, e| f.on_side_call_answer(e, token + 7, &ok, b"{}", &mut read));
    assert_eq!(out.step, Step::Pause);
    let body = query_answer("r2-0000beef", 4);
    let out = h.env(|f, e| f.on_side_call_answer(e, token, &ok, &body, &mut read));
    let (status, v) = error_of(&out);
    assert_eq!(status, 200);
    let t = &v["data"][0];
    assert_eq!(
        (t["requests"].as_u64(), t["output_tokens"].as_u64()),
        (Some(5), Some(22))
    );
    assert_eq!(t["window_start"], 1_699_920_000);
    assert_eq!(t["models"][0]["region"], "us-east-1");
    assert_eq!(v["fleet"]["writers"], 2);
    assert_eq!(v["fleet"]["sync_interval_ms"], 1000);
    assert!(v["fleet"].get("stale").is_none());
}

#[test]
fn usage_with_the_store_down_is_this_replicas_view_or_503() {
    for (mode, expect) in [("open", 200), ("closed", 503)] {
        let cfg = fleet_config(json!({"on_store_failure": mode}), json!({"limits": {}}));
        let mut h = harness(&cfg, None);
        send(&mut h, false);
        finish(&mut h);
        let fleet = h.fleet.take();
        let mut h = harness(&cfg, fleet);
        usage_get(&mut h);
        let token = h.host.calls.len() as u32;
        let failed = HeaderList::default();
        let mut read = |_: usize| Vec::new();
        let out = h.env(|f, e| f.on_side_call_answer(e, token, &failed, b"", &mut read));
        let (status, v) = error_of(&out);
        assert_eq!(status, expect, "{mode}");
        if expect == 200 {
            assert_eq!(v["data"][0]["requests"], 1);
            assert_eq!(v["fleet"]["stale"], true);
        } else {
            assert_eq!(v["error"]["code"], "limit_store_unavailable");
        }
        assert!(counted(&h.log()));
    }
    // A store read that cannot even be dispatched is the same failure.
    let cfg = fleet_config(json!({}), json!({"limits": {}}));
    let mut h = harness(&cfg, None);
    h.host.dispatch_fails = true;
    let (status, v) = error_of(&usage_get(&mut h));
    assert_eq!((status, v["fleet"]["stale"].as_bool()), (200, Some(true)));
}

#[test]
fn limits_are_keyed_by_the_region_actually_called() {
    let models = json!([{"id": MODEL, "region": "eu-west-1"}]);
    // Single-instance mode: the shared-data bucket names the model's region.
    let cfg = config(
        json!({"models": models, "tenants": {"acme": {"key_sha256": [SHA_DEMO],
        "limits": {"requests_per_minute": 5}}}}),
    );
    let mut h = Harness::new(cfg);
    assert_eq!(send(&mut h, false).step, Step::Continue);
    let key = crate::accounting::ratelimit::bucket_key("eu-west-1", "acme", MODEL);
    assert!(
        h.host.shared.contains_key(&key),
        "{:?}",
        h.host.shared.keys()
    );
    // Fleet mode: the item's key does too.
    let mut cfg = (*config(json!({"models": models, "fleet": {"table": "fleet"},
        "tenants": {"acme": {"key_sha256": [SHA_DEMO], "limits": {"requests_per_minute": 5}}}})))
    .clone();
    cfg.fleet.as_mut().unwrap().replica = "r1".into();
    let cfg = Rc::new(cfg);
    let mut h = harness(&cfg, None);
    assert_eq!(send(&mut h, false).step, Step::Continue);
    let planned = h
        .fleet
        .as_mut()
        .unwrap()
        .tick(crate::pipeline::step::millis(h.host.now()));
    let body: Value = serde_json::from_slice(&planned[0].call.body).unwrap();
    assert_eq!(body["Key"]["pk"]["S"], format!("rl|eu-west-1|acme|{MODEL}"));
}
