//! The whole life of a request under `cargo test`, in the callback orders Envoy produces:
//! a normal unary and streamed exchange, a request without a body, a bodyless upstream answer,
//! resets before and during the answer, Envoy's own reply while buffering, the limiter, and
//! an IAM caller whose STS answer arrives before or after the body.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::event_stream::frame::{encode, Header, HeaderValue};
use crate::pipeline::step::MemoryHost;

mod fanout;
mod fleet;

const SHA_DEMO: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

fn config(extra: Value) -> Rc<Config> {
    let mut v = json!({
        "region": "us-east-1",
        "credentials": {"access_key_id": "AKID", "secret_access_key": "secret"},
        "model_aliases": {"gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
        "tenants": {"acme": {"key_sha256": [SHA_DEMO]}}
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    Rc::new(Config::parse(v.to_string().as_bytes(), &|_| None).unwrap())
}

/// Drives one flow against a [`MemoryHost`].
struct Harness {
    flow: Flow,
    host: MemoryHost,
    cache: IamCache,
    fleet: Option<crate::fleet::Fleet>,
}

impl Harness {
    fn new(cfg: Rc<Config>) -> Self {
        Self {
            flow: Flow::new(7, Some(cfg)),
            host: MemoryHost::default(),
            cache: IamCache::default(),
            fleet: None,
        }
    }

    fn env<T>(&mut self, f: impl FnOnce(&mut Flow, &mut Env<'_>) -> T) -> T {
        let mut env = Env {
            host: &mut self.host,
            keys: None,
            iam_cache: Some(&mut self.cache),
            live: None,
            fleet: self.fleet.as_mut(),
        };
        f(&mut self.flow, &mut env)
    }

    fn headers(&mut self, pairs: &[(&str, &str)], eos: bool) -> Output {
        let h = HeaderList::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.env(|f, e| f.on_request_headers(e, h, eos))
    }

    fn body(&mut self, bytes: &[u8], eos: bool) -> Output {
        let mut read = || bytes.to_vec();
        self.env(|f, e| f.on_request_body(e, bytes.len(), eos, &mut read))
    }

    fn response(&mut self, pairs: &[(&str, &str)], eos: bool) -> Output {
        let h = HeaderList::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.env(|f, e| f.on_response_headers(e, h, eos))
    }

    fn response_body(&mut self, bytes: &[u8], eos: bool) -> Output {
        let mut read = || bytes.to_vec();
        self.env(|f, e| f.on_response_body(e, eos, &mut read))
    }

    fn log(&mut self) -> Vec<Effect> {
        self.env(|f, e| f.on_log(e))
    }
}

fn post(key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/chat/completions".into()),
        (":authority", "localhost".into()),
        ("authorization", format!("Bearer {key}")),
        ("content-type", "application/json".into()),
        ("x-request-id", "rid-1".into()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn chat(stream: bool) -> Vec<u8> {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
        .to_string()
        .into_bytes()
}

fn field<'a>(effects: &'a [Effect], name: &str) -> Option<&'a str> {
    effects.iter().find_map(|e| match e {
        Effect::LogField(k, v) if *k == name => Some(v.as_str()),
        _ => None,
    })
}

fn reply_of(out: &Output) -> &Reply {
    match &out.step {
        Step::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn error_of(out: &Output) -> (u16, Value) {
    let r = reply_of(out);
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// Sends a chat request through to the point where it goes upstream.
fn send(h: &mut Harness, stream: bool) -> Output {
    assert_eq!(
        h.headers(&pairs(&post("sk-local-demo")), false).step,
        Step::Pause
    );
    assert_eq!(h.flow.phase(), "buffering");
    let body = chat(stream);
    let (a, b) = body.split_at(10);
    assert_eq!(h.body(a, false).step, Step::Pause);
    let mut all = a.to_vec();
    all.extend_from_slice(b);
    h.body(&all, true)
}

#[test]
fn a_unary_exchange_from_head_to_log() {
    let mut h = Harness::new(config(json!({})));
    let out = send(&mut h, false);
    assert_eq!(out.step, Step::Continue);
    let Effect::RequestBody { replaced, body } = &out.effects[0] else {
        panic!("{:?}", out.effects)
    };
    assert_eq!(*replaced, chat(false).len());
    let converse: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(converse["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(out.effects[1], Effect::RequestHeaders);
    let req = h.flow.request_headers();
    assert_eq!(
        req.get(":path"),
        Some("/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse")
    );
    assert!(req
        .get("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 "));
    assert_eq!(req.get("x-request-id"), Some("rid-1"));
    assert_eq!(h.flow.phase(), "upstream");

    let head = [
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", "9"),
    ];
    assert_eq!(h.response(&head, false).step, Step::Pause);
    assert_eq!(h.response_body(b"{\"outp", false).step, Step::Pause);
    let answer = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}});
    let out = h.response_body(answer.to_string().as_bytes(), true);
    assert_eq!(out.step, Step::Continue);
    assert_eq!(out.effects[0], Effect::ResponseHeaders);
    let Effect::ResponseBody { body, .. } = &out.effects[1] else {
        panic!()
    };
    let completion: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "Hello");
    assert_eq!(completion["model"], "gpt-4o");
    let resp = h.flow.response_headers();
    assert_eq!(
        resp.get("x-bedrock-model"),
        Some("us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    );
    assert_eq!(
        resp.get("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(resp.get("x-token-usage-output"), Some("2"));

    let log = h.log();
    assert_eq!(field(&log, "bedrock_tenant"), Some("acme"));
    assert_eq!(field(&log, "bedrock_path"), Some("/v1/chat/completions"));
    assert_eq!(field(&log, "bedrock_output_tokens"), Some("2"));
    assert_eq!(field(&log, "bedrock_error_type"), Some("-"));
    let usage = h.host.shared_get(&usage::key("acme")).unwrap();
    let u = usage::TenantUsage::decode(Some(&usage));
    let m = &u.models["anthropic.claude-3-5-sonnet-20241022-v2:0"];
    assert_eq!((m.requests, m.input_tokens, m.output_tokens), (1, 3, 2));
    assert!(log.iter().any(|e| matches!(e, Effect::Metrics(m)
            if m.named().iter().any(|u| u.name.ends_with(".requests")))));
    assert_eq!(h.flow.phase(), "done");
}

fn frame(event: &str, payload: Value) -> Vec<u8> {
    let s = |v| HeaderValue::String(v);
    let headers = [
        Header {
            name: ":event-type",
            value: s(event),
        },
        Header {
            name: ":content-type",
            value: s("application/json"),
        },
        Header {
            name: ":message-type",
            value: s("event"),
        },
    ];
    let mut out = Vec::new();
    encode(&headers, payload.to_string().as_bytes(), &mut out).unwrap();
    out
}

fn stream_events() -> Vec<Vec<u8>> {
    vec![
        frame("messageStart", json!({"role": "assistant"})),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 0})),
        frame("messageStop", json!({"stopReason": "end_turn"})),
        frame(
            "metadata",
            json!({"usage": {"inputTokens": 4, "outputTokens": 1, "totalTokens": 5}, "metrics": {"latencyMs": 1}}),
        ),
    ]
}

const STREAM_HEAD: [(&str, &str); 2] = [
    (":status", "200"),
    ("content-type", "application/vnd.amazon.eventstream"),
];

#[test]
fn a_stream_goes_out_chunk_by_chunk_with_usage_trailers() {
    let mut h = Harness::new(config(json!({})));
    assert_eq!(send(&mut h, true).step, Step::Continue);
    assert!(h
        .flow
        .request_headers()
        .get(":path")
        .unwrap()
        .ends_with("/converse-stream"));
    let out = h.response(&STREAM_HEAD, false);
    assert_eq!(out.step, Step::Continue);
    assert_eq!(out.effects, vec![Effect::ResponseHeaders]);
    assert_eq!(
        h.flow.response_headers().get("content-type"),
        Some("text/event-stream")
    );
    let events = stream_events();
    let mut sse = Vec::new();
    for (i, f) in events.iter().enumerate() {
        let out = h.response_body(f, i + 1 == events.len());
        assert_eq!(out.step, Step::Continue);
        for e in &out.effects {
            if let Effect::ResponseBody { replaced, body } = e {
                assert_eq!(*replaced, f.len());
                sse.extend_from_slice(body);
            }
        }
        if i + 1 == events.len() {
            let Some(Effect::Trailers(t)) = out
                .effects
                .iter()
                .find(|e| matches!(e, Effect::Trailers(_)))
            else {
                panic!("no trailers: {:?}", out.effects)
            };
            assert_eq!(t.get("x-token-usage-input"), Some("4"));
            assert_eq!(t.get("x-bedrock-guardrail-action"), None);
        }
    }
    let text = String::from_utf8(sse).unwrap();
    assert!(
        text.contains("\"content\":\"Hi\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let log = h.log();
    assert_eq!(field(&log, "bedrock_stop_reason"), Some("end_turn"));
    assert_eq!(field(&log, "bedrock_error_type"), Some("-"));
}

#[test]
fn a_guardrail_intervention_in_a_stream_is_a_trailer() {
    let mut h = Harness::new(config(json!({})));
    send(&mut h, true);
    h.response(&STREAM_HEAD, false);
    let mut events = stream_events();
    events[3] = frame("messageStop", json!({"stopReason": "guardrail_intervened"}));
    let mut trailers = None;
    for (i, f) in events.iter().enumerate() {
        let out = h.response_body(f, i + 1 == events.len());
        trailers = trailers.or(out.effects.into_iter().find_map(|e| match e {
            Effect::Trailers(t) => Some(t),
            _ => None,
        }));
    }
    let t = trailers.expect("trailers at the end of the stream");
    assert_eq!(t.get("x-bedrock-guardrail-action"), Some("INTERVENED"));
    assert_eq!(
        field(&h.log(), "bedrock_stop_reason"),
        Some("guardrail_intervened")
    );
}

#[test]
fn a_stream_cut_short_is_an_upstream_reset_and_keeps_the_estimate() {
    let mut h = Harness::new(config(
        json!({"tenants": {"acme": {"key_sha256": [SHA_DEMO],
        "limits": {"tokens_per_minute": 1000}}}}),
    ));
    send(&mut h, true);
    h.response(&STREAM_HEAD, false);
    h.response_body(&stream_events()[0], false);
    // Envoy resets the stream: no end of stream, straight to the log.
    let log = h.log();
    assert_eq!(field(&log, "bedrock_error_type"), Some("upstream_reset"));
    let key = ratelimit::bucket_key(
        "us-east-1",
        "acme",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    );
    let window = ratelimit::Window::decode(h.host.shared_get(&key).as_deref());
    assert!(window.tokens > 0, "the estimate stays charged: {window:?}");
}

#[test]
fn cache_reads_and_writes_are_reported_counted_and_weighted() {
    // The tenant's own weights over the top level's.
    let mut h = Harness::new(config(json!({
        "token_weights": {"cache_read": 0.5, "cache_write": 3},
        "tenants": {"acme": {"key_sha256": [SHA_DEMO],
            "limits": {"tokens_per_minute": 100000}, "token_weights": {"cache_read": 0.25}}}}
    )));
    send(&mut h, false);
    h.response(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    let answer = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 2, "outputTokens": 5,
        "cacheReadInputTokens": 1322, "cacheWriteInputTokens": 10, "totalTokens": 1339}});
    h.response_body(answer.to_string().as_bytes(), true);
    let resp = h.flow.response_headers();
    for (k, v) in [
        ("x-token-usage-input", "1334"),
        ("x-token-usage-output", "5"),
        ("x-token-usage-cache-read", "1322"),
        ("x-token-usage-cache-write", "10"),
    ] {
        assert_eq!(resp.get(k), Some(v), "{k}");
    }
    let log = h.log();
    assert_eq!(field(&log, "bedrock_input_tokens"), Some("1334"));
    assert_eq!(field(&log, "bedrock_cache_read_tokens"), Some("1322"));
    assert_eq!(field(&log, "bedrock_cache_write_tokens"), Some("10"));
    let metric = |suffix: &str| {
        log.iter().find_map(|e| match e {
            Effect::Metrics(m) => m
                .named()
                .into_iter()
                .find(|u| u.name.ends_with(suffix))
                .map(|u| u.value),
            _ => None,
        })
    };
    assert_eq!(metric(".input_tokens"), Some(1334));
    assert_eq!(metric(".cache_read_tokens"), Some(1322));
    assert_eq!(metric(".cache_write_tokens"), Some(10));
    let u = usage::TenantUsage::decode(h.host.shared_get(&usage::key("acme")).as_deref());
    let m = &u.models["anthropic.claude-3-5-sonnet-20241022-v2:0"];
    assert_eq!(
        (m.input_tokens, m.cache_read_tokens, m.cache_write_tokens),
        (1334, 1322, 10)
    );
    // Settled at what Bedrock reported: 2 + 5 + ceil(1322 / 4) + 10 * 3.
    let key = ratelimit::bucket_key(
        "us-east-1",
        "acme",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    );
    let window = ratelimit::Window::decode(h.host.shared_get(&key).as_deref());
    assert_eq!(window.tokens, 2 + 5 + 331 + 30);
}

#[test]
fn a_reset_before_the_answer_refunds_the_estimate() {
    let mut h = Harness::new(config(
        json!({"tenants": {"acme": {"key_sha256": [SHA_DEMO],
        "limits": {"tokens_per_minute": 1000}}}}),
    ));
    send(&mut h, false);
    let log = h.log();
    assert_eq!(field(&log, "bedrock_error_type"), Some("-"));
    let key = ratelimit::bucket_key(
        "us-east-1",
        "acme",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    );
    let window = ratelimit::Window::decode(h.host.shared_get(&key).as_deref());
    assert_eq!((window.requests, window.tokens), (1, 0));
}

#[test]
fn headers_with_end_of_stream_and_bad_callers_get_openai_errors() {
    let mut h = Harness::new(config(json!({})));
    let (status, e) = error_of(&h.headers(&pairs(&post("sk-local-demo")), true));
    assert_eq!(
        (status, e["error"]["message"].as_str()),
        (400, Some("the request has no body"))
    );
    assert_eq!(h.flow.phase(), "replied");
    // Later callbacks let the filter's own reply through untouched.
    assert_eq!(
        h.response(&[(":status", "400")], false).step,
        Step::Continue
    );
    assert_eq!(h.response_body(b"{}", true).step, Step::Continue);
    assert_eq!(
        field(&h.log(), "bedrock_error_type"),
        Some("invalid_request_error")
    );

    let mut h = Harness::new(config(json!({})));
    let out = h.headers(&pairs(&post("sk-wrong-key-123")), false);
    let (status, e) = error_of(&out);
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    assert_eq!(reply_of(&out).headers.get("x-request-id"), Some("rid-1"));
    let log = h.log();
    assert_eq!(field(&log, "bedrock_tenant"), Some("-"));
    assert_eq!(
        field(&log, "bedrock_error_type"),
        Some("authentication_error")
    );

    let mut h = Harness::new(config(json!({})));
    let mut head = post("sk-local-demo");
    head[5].1 = "bad id with spaces".into();
    let out = h.headers(&pairs(&head), true);
    assert_eq!(reply_of(&out).status, 400);
    // An unsafe client request id is replaced by one made up from the clock and context.
    let made = reply_of(&out).headers.get("x-request-id").unwrap();
    assert_eq!(made, format!("{:x}-7", 1_700_000_000_000u64));

    let h = &mut Harness::new(config(json!({})));
    h.flow = Flow::new(1, None);
    let (status, _) = error_of(&h.headers(&pairs(&post("sk-local-demo")), false));
    assert_eq!(status, 500);
}

#[test]
fn a_bodyless_upstream_answer_is_answered_at_the_head() {
    let mut h = Harness::new(config(json!({})));
    send(&mut h, false);
    let out = h.response(
        &[
            (":status", "429"),
            ("x-amzn-errortype", "ThrottlingException:http://x"),
        ],
        true,
    );
    let r = reply_of(&out);
    assert_eq!(r.status, 429);
    assert_eq!(r.headers.get("retry-after"), Some("1"));
    assert_eq!(r.headers.get("x-request-id"), Some("rid-1"));
    assert_eq!(h.flow.phase(), "replied");
    let log = h.log();
    assert_eq!(field(&log, "bedrock_error_type"), Some("rate_limit_error"));
    let u = usage::TenantUsage::decode(h.host.shared_get(&usage::key("acme")).as_deref());
    assert_eq!(
        u.models["anthropic.claude-3-5-sonnet-20241022-v2:0"].errors,
        1
    );
}

#[test]
fn envoys_own_reply_while_buffering_becomes_an_openai_error() {
    let mut h = Harness::new(config(json!({})));
    h.headers(&pairs(&post("sk-local-demo")), false);
    let out = h.response(&[(":status", "413"), ("content-type", "text/plain")], false);
    assert_eq!(out.step, Step::Pause);
    let out = h.response_body(b"Payload Too Large", true);
    assert_eq!(out.effects[0], Effect::ResponseHeaders);
    let Effect::ResponseBody { body, .. } = &out.effects[1] else {
        panic!()
    };
    let e: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert_eq!(h.flow.response_headers().get("x-request-id"), Some("rid-1"));
}

#[test]
fn the_limiter_refuses_before_anything_goes_upstream() {
    let cfg = config(json!({"tenants": {"acme": {"key_sha256": [SHA_DEMO],
        "limits": {"requests_per_minute": 1}}}}));
    let mut h = Harness::new(cfg.clone());
    assert_eq!(send(&mut h, false).step, Step::Continue);
    h.log();
    let host = std::mem::take(&mut h.host);
    let mut h = Harness::new(cfg);
    h.host = host;
    let out = send(&mut h, false);
    let r = reply_of(&out);
    assert_eq!(r.status, 429);
    assert_eq!(r.headers.get("x-ratelimit-remaining-requests"), Some("0"));
    assert!(r.headers.get("retry-after").is_some());
    assert!(!out
        .effects
        .iter()
        .any(|e| matches!(e, Effect::RequestBody { .. })));
    // A broken store fails open.
    let mut h = Harness::new(config(
        json!({"tenants": {"acme": {"key_sha256": [SHA_DEMO],
        "limits": {"requests_per_minute": 1}}}}),
    ));
    h.host.shared_fails = true;
    assert_eq!(send(&mut h, false).step, Step::Continue);
}

#[test]
fn usage_is_answered_from_shared_data() {
    let mut h = Harness::new(config(json!({})));
    send(&mut h, false);
    h.log();
    let host = std::mem::take(&mut h.host);
    let mut h = Harness::new(config(json!({})));
    h.host = host;
    let head = [
        (":method", "GET"),
        (":path", "/v1/usage"),
        ("authorization", "Bearer sk-local-demo"),
    ];
    let out = h.headers(&head, true);
    let r = reply_of(&out);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (r.status, v["data"][0]["requests"].as_u64()),
        (200, Some(1))
    );
}

// --- IAM callers ---------------------------------------------------------------------------

const ROLE: &str = "arn:aws:iam::123456789012:role/callers";

fn iam_config() -> Rc<Config> {
    config(json!({"iam_auth": {"principals": {ROLE: "acme"}}}))
}

fn iam_token() -> String {
    let query = [
        "Action=GetCallerIdentity",
        "Version=2011-06-15",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Credential=AKIDCALLER%2F20231114%2Fus-east-1%2Fsts%2Faws4_request",
        "X-Amz-Date=20231114T221320Z",
        "X-Amz-Expires=60",
        "X-Amz-SignedHeaders=host",
        "X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ]
    .join("&");
    let url = format!("https://sts.us-east-1.amazonaws.com/?{query}");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url);
    format!("{}{b64}", iam::TOKEN_PREFIX)
}

fn sts_ok() -> Vec<u8> {
    json!({"GetCallerIdentityResponse": {"GetCallerIdentityResult": {"Arn": ROLE}}})
        .to_string()
        .into_bytes()
}

fn answer(h: &mut Harness, token: u32, status: u16, body: &[u8]) -> Output {
    let request = chat(false);
    let mut read = |n: usize| request[..n].to_vec();
    let status = status.to_string();
    let headers = HeaderList::from_pairs([(":status", status.as_str())]);
    h.env(|f, e| f.on_side_call_answer(e, token, &headers, body, &mut read))
}

#[test]
fn an_iam_caller_whose_sts_answer_comes_after_the_body_is_resumed() {
    let mut h = Harness::new(iam_config());
    h.host.now = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_010));
    let token = iam_token();
    let out = h.headers(&pairs(&post(&token)), false);
    assert_eq!(out.step, Step::Pause);
    assert_eq!(h.flow.phase(), "awaiting_sts");
    assert_eq!(h.host.calls.len(), 1);
    assert_eq!(h.host.calls[0].cluster, "sts");
    // The body arrives while STS is asked: held.
    let body = chat(false);
    assert_eq!(h.body(&body, true).step, Step::Pause);
    // An answer to someone else's call is ignored.
    assert_eq!(answer(&mut h, 99, 200, &sts_ok()).effects, vec![]);
    let out = answer(&mut h, 1, 200, &sts_ok());
    assert_eq!(out.step, Step::Continue);
    assert!(out.effects.contains(&Effect::ResumeRequest));
    assert!(matches!(out.effects[0], Effect::RequestBody { .. }));
    assert_eq!(h.flow.phase(), "upstream");
    // The verdict is cached: the next request with the token does not ask STS.
    let cache = std::mem::take(&mut h.cache);
    let mut h2 = Harness::new(iam_config());
    h2.host.now = h.host.now;
    h2.cache = cache;
    assert_eq!(h2.headers(&pairs(&post(&token)), false).step, Step::Pause);
    assert_eq!(h2.flow.phase(), "buffering");
    assert!(h2.host.calls.is_empty());
}

#[test]
fn an_iam_caller_whose_sts_answer_comes_first_waits_for_the_body() {
    let mut h = Harness::new(iam_config());
    h.host.now = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_010));
    h.headers(&pairs(&post(&iam_token())), false);
    let out = answer(&mut h, 1, 200, &sts_ok());
    assert_eq!((out.step, h.flow.phase()), (Step::Pause, "buffering"));
    assert_eq!(h.body(&chat(false), true).step, Step::Continue);
}

#[test]
fn refusals_around_sts_are_openai_errors() {
    // STS refuses the token.
    let mut h = Harness::new(iam_config());
    h.host.now = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_010));
    h.headers(&pairs(&post(&iam_token())), false);
    let (status, _) = error_of(&answer(
        &mut h,
        1,
        403,
        b"<Code>InvalidClientTokenId</Code>",
    ));
    assert_eq!(status, 401);
    // STS cannot be reached.
    let mut h = Harness::new(iam_config());
    h.host.now = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_010));
    h.host.dispatch_fails = true;
    let (status, _) = error_of(&h.headers(&pairs(&post(&iam_token())), false));
    assert_eq!(status, 503);
    // A malformed token never reaches STS.
    let mut h = Harness::new(iam_config());
    let bad = format!("{}not-base64!", iam::TOKEN_PREFIX);
    let (status, _) = error_of(&h.headers(&pairs(&post(&bad)), false));
    assert_eq!(status, 401);
    assert!(h.host.calls.is_empty());
}
