//! Property tests (proptest), part of `cargo test` and kept quick (a few hundred cases each):
//!
//! - any chunking of a valid stream gives the same SSE as feeding it whole (and, for the
//!   reasoning stream, the same signed and redacted `thinking_blocks` and no server tool call);
//! - any single-byte flip, under any chunking, ends in exactly one error event (last, no
//!   `[DONE]`), never a panic;
//! - arbitrary bytes into the decoder and the translator never panic and always terminate;
//! - the request parser / translator never panics on arbitrary JSON values, and rejects
//!   with a 400 whatever it does not accept; the plugin config parser never panics;
//! - header safety: whatever a client sends (model, `bedrock_model`, request id, headers),
//!   every header the filter writes, upstream, downstream or in a local reply, passes the
//!   one check in `headers.rs`, and the core never even asks it to write an unsafe one.
//!
//! Failing cases are saved under `proptest-regressions/` and replayed first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::event_stream::Decoder;
use bedrock_openai_filter::pipeline::bedrock;
use bedrock_openai_filter::stream::StreamTranslator;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

mod support;

// ---------------------------------------------------------------------------------------------
// SSE checks.

#[derive(Debug, PartialEq)]
enum Event {
    Chunk,
    Error,
    Done,
}

/// Every event is one `data:` line of JSON (or `[DONE]`) followed by a blank line.
fn events(sse: &[u8]) -> Vec<Event> {
    let text = std::str::from_utf8(sse).expect("SSE is UTF-8");
    if text.is_empty() {
        return Vec::new();
    }
    assert!(text.ends_with("\n\n"), "{text:?}");
    text[..text.len() - 2]
        .split("\n\n")
        .map(|ev| {
            let data = ev.strip_prefix("data: ").expect("data event");
            assert!(!data.contains('\n'));
            if data == "[DONE]" {
                return Event::Done;
            }
            let v: Value = serde_json::from_str(data).expect("JSON event");
            if v.get("error").is_some() {
                Event::Error
            } else {
                Event::Chunk
            }
        })
        .collect()
}

/// A finished stream ends in exactly one terminator: `[DONE]` or a single error event.
fn assert_terminated_once(ev: &[Event]) {
    let errors = ev.iter().filter(|e| **e == Event::Error).count();
    let dones = ev.iter().filter(|e| **e == Event::Done).count();
    assert_eq!(errors + dones, 1, "{ev:?}");
    assert!(
        matches!(ev.last(), Some(Event::Error | Event::Done)),
        "{ev:?}"
    );
}

/// Splits `bytes` at the given cut points (any values; taken modulo the length).
fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| c % (bytes.len() + 1))
        .collect::<Vec<_>>();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

fn valid_streams() -> Vec<Vec<u8>> {
    vec![
        support::tooluse_stream(),
        support::long_stream(3),
        support::synthetic_stream(5, 700),
        support::reasoning_stream(),
        support::citations_stream(),
    ]
}

/// The client's view of a translated stream: the `thinking_blocks` put together from their
/// fragments (a block ends at its signature, a redacted one is whole), the tool calls' indices
/// and names, and `usage.server_tool_use`.
fn reassembled(sse: &[u8]) -> (Vec<Value>, Vec<(u64, String)>, Value) {
    let text = std::str::from_utf8(sse).unwrap();
    let (mut blocks, mut calls, mut server) = (Vec::new(), Vec::new(), Value::Null);
    let mut open: Option<String> = None;
    for data in text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")) {
        let Ok(c) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        if let Some(u) = c.get("usage") {
            server = u["server_tool_use"].clone();
        }
        let delta = &c["choices"][0]["delta"];
        for f in delta["thinking_blocks"].as_array().into_iter().flatten() {
            match (f["type"].as_str(), f.get("signature")) {
                (Some("redacted_thinking"), _) => blocks.push(json!({"type": "redacted_thinking", "data": f["data"]})),
                (_, Some(sig)) => blocks.push(json!({"type": "thinking",
                    "thinking": open.take().unwrap_or_default() + f["thinking"].as_str().unwrap(), "signature": sig})),
                _ => open.get_or_insert_with(String::new).push_str(f["thinking"].as_str().unwrap()),
            }
        }
        for t in delta["tool_calls"].as_array().into_iter().flatten() {
            if let Some(name) = t["function"]["name"].as_str() {
                calls.push((t["index"].as_u64().unwrap(), name.to_string()));
            }
        }
    }
    assert!(open.is_none(), "a thinking block without its signature");
    (blocks, calls, server)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_gives_the_same_sse(
        which in 0usize..4,
        usage in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..64),
    ) {
        let body = &valid_streams()[which];
        let whole = support::translate(usage, [&body[..]]);
        let split = support::translate(usage, split_at_cuts(body, &cuts));
        prop_assert_eq!(&split, &whole);
        if which == 3 {
            // Signed and redacted reasoning come out whole; the server tool is no tool call.
            let (blocks, calls, server) = reassembled(&split);
            prop_assert_eq!(blocks, vec![
                json!({"type": "thinking", "thinking": support::REASONING_DELTAS.concat(),
                       "signature": support::REASONING_SIGNATURE}),
                json!({"type": "redacted_thinking", "data": support::REDACTED_DATA}),
            ]);
            prop_assert_eq!(calls, vec![(0, "record".to_string())]);
            let want = if usage { json!({"nova_code_interpreter": 1}) } else { Value::Null };
            prop_assert_eq!(server, want);
        }
        let ev = events(&whole);
        prop_assert_eq!(ev.last(), Some(&Event::Done));
        assert_terminated_once(&ev);
    }

    #[test]
    fn any_byte_flip_ends_in_exactly_one_error(
        which in 0usize..4,
        at in any::<usize>(),
        mask in 1u8..=255,
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut body = valid_streams()[which].clone();
        let at = at % body.len();
        body[at] ^= mask;
        let mut t = StreamTranslator::new(support::opts(true));
        let mut out = Vec::new();
        for c in split_at_cuts(&body, &cuts) {
            out.extend(t.feed(c));
        }
        out.extend(t.finish());
        prop_assert!(t.is_finished());
        let ev = events(&out);
        prop_assert_eq!(ev.last(), Some(&Event::Error), "flip at {} not detected", at);
        assert_terminated_once(&ev);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_terminate(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        valid_prefix in 0usize..4,
    ) {
        // Optionally start with a few valid frames so the garbage lands mid-stream.
        let cap = support::tooluse_stream();
        let frames = support::frames(&cap);
        let mut body: Vec<u8> = frames[..valid_prefix].concat();
        body.extend_from_slice(&bytes);
        let mut t = StreamTranslator::new(support::opts(true));
        let mut out = Vec::new();
        for c in split_at_cuts(&body, &cuts) {
            out.extend(t.feed(c));
        }
        out.extend(t.finish());
        prop_assert!(t.is_finished());
        prop_assert!(t.feed(&bytes).is_empty(), "nothing after the end");
        assert_terminated_once(&events(&out));
    }

    #[test]
    fn decoder_on_arbitrary_bytes_terminates(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut d = Decoder::with_max_frame_len(4096);
        let mut failed = false;
        for c in split_at_cuts(&bytes, &cuts) {
            let mut frames = d.feed(c);
            // Each message consumes at least 16 bytes, so this bound is never reached.
            for _ in 0..=bytes.len() {
                match frames.next_message() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => { failed = true; break }
                }
            }
            drop(frames);
            if failed { break }
            prop_assert!(d.buffered_len() <= 4096);
        }
        prop_assert_eq!(failed, d.error().is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and config.

const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "name",
    "stream",
    "stream_options",
    "include_usage",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "image_url",
];

const STRINGS: &[&str] = &[
    "user",
    "system",
    "developer",
    "assistant",
    "tool",
    "function",
    "text",
    "image_url",
    "gpt-4o",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x",
    "",
    " ",
    "é/📦?#%:",
    "\u{1c}",
    " \u{1f}\t",
    "\u{a0}",
    "\u{2028}",
];

const MODELS: [&str; 4] = [
    "gpt-4o",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x",
    "é/📦?#%:",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(&[0.0, 0.5, 1.0, 2.0, 2.5, -1.0, 1e300][..]).prop_map(|f| json!(f)),
        prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_string())),
        ".{0,40}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Request-shaped values: mostly valid models, roles and contents, with arbitrary values
/// mixed in everywhere, so that many cases reach translation and signing.
fn chat_like() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        12 => ".{0,40}".prop_map(Value::String),
        3 => prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_string())),
        1 => leaf(),
    ];
    let content = prop_oneof![
        30 => ".{0,60}".prop_map(Value::String),
        6 => prop::sample::select(STRINGS).prop_map(|s| Value::String(s.to_string())),
        10 => prop::collection::vec(
            (prop_oneof![20 => Just("text"), 1 => Just("image_url"), 1 => Just("file"), 1 => Just("x")], text),
            0..4
        )
        .prop_map(|parts| Value::Array(
            parts
                .into_iter()
                .map(|(t, v)| json!({"type": t, "text": v}))
                .collect()
        )),
        1 => json_value(),
    ];
    let role = prop_oneof![
        40 => prop::sample::select(&["user", "system", "developer", "assistant"][..]),
        1 => prop::sample::select(&["tool", "x", ""][..]),
    ];
    // Reasoning handed back: well-formed blocks mostly, odd ones too.
    let thinking_block = prop_oneof![
        4 => (".{0,20}", prop::sample::select(&["c2ln", "", "x y"][..]))
            .prop_map(|(t, s)| json!({"type": "thinking", "thinking": t, "signature": s})),
        2 => prop::sample::select(&["AAAA", "not base64", ""][..])
            .prop_map(|d| json!({"type": "redacted_thinking", "data": d})),
        1 => json_value(),
    ];
    let thinking = prop_oneof![
        6 => Just(None),
        2 => prop::collection::vec(thinking_block, 0..3).prop_map(|b| Some(Value::Array(b))),
        1 => json_value().prop_map(Some),
    ];
    let message = prop_oneof![
        40 => (role, content, thinking).prop_map(|(role, content, thinking)| {
            let mut m = json!({"role": role, "content": content});
            if let Some(t) = thinking {
                m["thinking_blocks"] = t;
            }
            m
        }),
        1 => json_value(),
    ];
    let model = prop_oneof![
        20 => prop::sample::select(&MODELS[..]).prop_map(|s| json!(s)),
        2 => prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        1 => leaf(),
    ];
    let messages = prop_oneof![
        20 => (any::<bool>(), prop::collection::vec(message, 1..6)).prop_map(|(user_first, mut m)| {
            if user_first {
                m.insert(0, json!({"role": "user", "content": "Hello"}));
            }
            Value::Array(m)
        }),
        1 => json_value(),
    ];
    let extra_value = prop_oneof![
        3 => prop::sample::select(&[0.0, 0.5, 1.0, 2.0, 2.5, -1.0, 1e300][..]).prop_map(|f| json!(f)),
        2 => (0u64..100_000).prop_map(|n| json!(n)),
        2 => any::<bool>().prop_map(Value::Bool),
        1 => json_value(),
        1 => prop::collection::vec(".{0,8}", 0..6).prop_map(|v| json!(v)),
        1 => any::<bool>().prop_map(|b| json!({"include_usage": b})),
    ];
    (
        model,
        messages,
        prop::collection::vec((key(), extra_value), 0..4),
    )
        .prop_map(|(model, messages, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            obj.insert("model".into(), model);
            obj.insert("messages".into(), messages);
            Value::Object(obj)
        })
}

fn check_chat(body: &[u8]) -> Result<(), TestCaseError> {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    match bedrock::chat(&support::config(), body, now, None) {
        Ok((up, ex)) => {
            prop_assert!(up.path.starts_with("/model/"));
            prop_assert!(!ex.bedrock_model.is_empty());
            // The upstream body is JSON that Bedrock would accept.
            let converse = serde_json::from_slice::<Value>(&up.body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(e) = support::bedrock_rules::check(&converse) {
                return Err(TestCaseError::fail(format!(
                    "accepted but Bedrock would refuse it ({e}): {}",
                    String::from_utf8_lossy(body)
                )));
            }
        }
        Err(e) => {
            prop_assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(&e.to_body()));
            serde_json::from_slice::<Value>(&e.to_body())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_parser_never_panics_on_json(v in json_value()) {
        check_chat(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn request_parser_never_panics_on_chat_shaped_json(v in chat_like()) {
        check_chat(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn request_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_chat(&bytes)?;
    }

    #[test]
    fn config_parser_never_panics(v in json_value(), keys in prop::collection::vec(".{0,10}", 0..3)) {
        let _ = Config::parse(&serde_json::to_vec(&v).unwrap(), &|k| keys.first().filter(|_| k == "AWS_REGION").cloned());
    }
}

// ---------------------------------------------------------------------------------------------
// Header safety.

use bedrock_openai_filter::headers::{is_safe_name, is_safe_value, HeaderList};
use bedrock_openai_filter::pipeline::request::{self, Endpoint};
use bedrock_openai_filter::pipeline::response;

/// Strings an attacker would try: controls, CR/LF, NUL, header-looking text, long runs.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,40}",
        4 => "[a-z0-9.:/ _-]{0,20}(\r\n|\n|\r|\u{0}|\u{7f}|\u{85})[a-zA-Z: -]{0,30}",
        2 => prop::sample::select(&MODELS[..]).prop_map(str::to_string),
        1 => (1usize..5000).prop_map(|n| "m".repeat(n)),
        1 => "[\\x00-\\x1f]{1,8}",
    ]
}

fn hostile_request() -> impl Strategy<Value = (Value, Option<String>, Vec<(String, String)>)> {
    (
        chat_like(),
        hostile(),
        prop::option::of(hostile()),
        prop::option::of(hostile()),
        prop::collection::vec((hostile(), hostile()), 0..4),
    )
        .prop_map(|(mut body, model, bedrock_model, id, client)| {
            body["model"] = json!(model);
            if let Some(b) = bedrock_model {
                body["bedrock_model"] = json!(b);
            }
            (body, id, client)
        })
}

fn assert_written_safe(h: &HeaderList) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        h.refused(),
        0,
        "the core asked for an unsafe header: {:?}",
        h
    );
    for (k, v) in h.changes() {
        prop_assert!(is_safe_name(k), "{:?}", k);
        prop_assert!(v.is_none_or(is_safe_value), "{:?}: {:?}", k, v);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn every_header_the_filter_writes_is_safe((body, client_id, client) in hostile_request()) {
        let mut cfg = support::config();
        cfg.rate_limit_descriptors = true;
        let tenant = cfg.tenants.tenants()[0].clone();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (id, _) = request::request_id(client_id.as_deref(), || "made-up-1".to_string());
        let body = serde_json::to_vec(&body).unwrap();
        match request::on_body(&cfg, &tenant, Endpoint::ChatCompletions, &body, None, now, None) {
            Ok((request::Prepared::FanOut(_), ..)) => panic!("a chat request is forwarded"),
            Ok((request::Prepared::Forward(up), ex, _)) => {
                let mut req = HeaderList::new(client.clone());
                req.set("x-request-id", &id);
                bedrock::upstream_head(&mut req, &cfg, &tenant.name, &up, &ex);
                assert_written_safe(&req)?;
                let limits = vec![("x-ratelimit-limit-requests".to_string(), "3".to_string())];
                let mut resp = HeaderList::new(client);
                response::downstream_head(&mut resp, &ex, &id, &limits);
                assert_written_safe(&resp)?;
            }
            Err(e) => {
                prop_assert!(e.status >= 400);
                let reply = HeaderList::from_pairs([("content-type", "application/json"), ("x-request-id", id.as_str())]);
                prop_assert_eq!(reply.refused(), 0);
            }
        }
    }

    #[test]
    fn the_header_check_lets_nothing_unsafe_through(pairs in prop::collection::vec((hostile(), hostile()), 0..8)) {
        let mut h = HeaderList::default();
        let mut unsafe_sets = 0;
        for (k, v) in &pairs {
            unsafe_sets += usize::from(!is_safe_name(k) || !is_safe_value(v));
            h.set(k, v);
        }
        prop_assert_eq!(h.refused(), unsafe_sets);
        for (k, v) in h.checked().chain(h.changes().filter_map(|(k, v)| v.map(|v| (k, v)))) {
            prop_assert!(is_safe_name(k) && is_safe_value(v), "{:?}: {:?}", k, v);
            prop_assert!(!v.contains(['\r', '\n', '\0']) && v.len() <= 8192);
        }
    }
}
