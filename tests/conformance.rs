//! `make conformance`: what needs the references outside the repository (`../shared/reference`).
//! Built only with `--features conformance` (`required-features` in Cargo.toml), so `cargo test`
//! (and `make test`) neither builds nor lists it; `make conformance` runs it with these
//! variables set:
//!
//! - `BEDROCK_RECORDINGS_DIR`: real Bedrock answers recorded by other projects (`SOURCES.md`
//!   there). Each `<name>.json` (+ `<name>.bin` for streams) goes through the translator:
//!   unary → a `chat.completion` valid against the OpenAPI document, with the recorded text,
//!   tool calls and usage; stream → every SSE chunk valid, exactly one `finish_reason`, the
//!   usage chunk, `[DONE]`, the same bytes at any chunking; stream exception → exactly one
//!   error event; error → the recorded status and an OpenAI error body.
//! - `BEDROCK_CAPTURES_DIR`: the real ConverseStream capture whose layout
//!   `tests/fixtures/eventstream/converse-stream-text-tooluse.bin` re-creates; replayed, and
//!   compared frame by frame (event types, JSON key structure) with our fixture.
//! - `OPENAI_OPENAPI_JSON`: OpenAI's OpenAPI document (required here; no subset fallback).
//!
//! Recordings that reveal translation bugs are listed in [`KNOWN_FAILING`] with the reason;
//! the test checks they still fail, so the list cannot go stale silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use bedrock_openai_filter::event_stream::Decoder;
use bedrock_openai_filter::pipeline::response::{ResponseHandler, ResponseHead, EVENT_STREAM};
use bedrock_openai_filter::stream::OutputFormat;
use bedrock_openai_filter::upstream::Exchange;
use serde_json::{json, Value};
use support::openapi::{openapi, schema_errors};

/// Recordings whose translation is wrong today (translator code is not changed here): name and
/// what goes wrong. `recordings_translate_to_valid_openai_answers` fails if one of them passes.
const KNOWN_FAILING: &[(&str, &str)] = &[];

fn dir(var: &str) -> PathBuf {
    let d = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("{var} is not set: run this through `make conformance`"));
    let d = PathBuf::from(d);
    assert!(d.is_dir(), "{var}={} is not a directory", d.display());
    d
}

fn require_openapi() -> Value {
    let p = std::env::var_os("OPENAI_OPENAPI_JSON")
        .filter(|v| !v.is_empty())
        .expect("OPENAI_OPENAPI_JSON is not set: run this through `make conformance`");
    assert!(Path::new(&p).is_file(), "{p:?} does not exist");
    openapi()
}

fn exchange(stream: bool) -> Exchange {
    Exchange {
        model: "gpt-4o".into(),
        bedrock_model: "recorded".into(),
        canonical_model: "recorded".into(),
        via_bedrock_model: false,
        stream,
        include_usage: true,
        estimated_input_tokens: 0,
        ignored: Vec::new(),
        output: Default::default(),
        format: OutputFormat::Chat,
    }
}

fn handler(stream: bool, status: u16) -> ResponseHandler {
    let head = ResponseHead {
        status,
        content_type: Some(if stream {
            EVENT_STREAM
        } else {
            "application/json"
        }),
        // The recordings kept no `x-amzn-errortype` (SOURCES.md): the status alone decides.
        error_type: None,
    };
    ResponseHandler::new(
        &exchange(stream),
        &head,
        "chatcmpl-conf".into(),
        1_700_000_000,
    )
}

/// (event type or exception type, payload) of every frame, CRCs checked.
fn frames_of(body: &[u8]) -> Vec<(String, Value)> {
    let mut dec = Decoder::new();
    let mut frames = dec.feed(body);
    let mut out = Vec::new();
    while let Some(m) = frames.next_message().unwrap() {
        let kind = m
            .headers
            .get_str(":event-type")
            .or(m.headers.get_str(":exception-type"))
            .unwrap_or("?")
            .to_string();
        out.push((
            kind,
            serde_json::from_slice(m.payload).unwrap_or(Value::Null),
        ));
    }
    out
}

fn sse_events(bytes: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(bytes).expect("SSE is UTF-8");
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text:?}");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data event").to_string())
        .collect()
}

fn translate_stream(body: &[u8], chunk: usize) -> Vec<u8> {
    let ResponseHandler::Stream(mut t) = handler(true, 200) else {
        panic!("not a stream handler")
    };
    let mut out = Vec::new();
    for c in body.chunks(chunk.max(1)) {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    out
}

fn tool_names(meta: &Value) -> Vec<String> {
    meta["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().or(t.as_str()).map(str::to_string))
        .collect()
}

/// Unary: a valid `chat.completion` carrying every text and tool call of the answer.
fn check_unary(spec: &Value, meta: &Value) -> Result<(), String> {
    let body = serde_json::to_vec(&meta["body"]).unwrap();
    let fin = handler(false, 200).finish_buffered(&body);
    let out: Value = serde_json::from_slice(&fin.body).map_err(|e| e.to_string())?;
    if fin.status != 200 {
        return Err(format!("status {}: {out}", fin.status));
    }
    let errs = schema_errors(spec, "CreateChatCompletionResponse", &out);
    if !errs.is_empty() {
        return Err(format!("schema: {errs:?}\n{out}"));
    }
    let msg = &out["choices"][0]["message"];
    let content = msg["content"].as_str().unwrap_or("");
    let blocks = meta["body"]["output"]["message"]["content"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for b in &blocks {
        if let Some(t) = b["text"].as_str() {
            if !content.contains(t.trim()) {
                return Err(format!("text block lost: {t:?} not in {content:?}"));
            }
        }
    }
    let want_thinking: Vec<Value> = blocks
        .iter()
        .filter_map(|b| b.get("reasoningContent"))
        .map(|r| match r.get("redactedContent") {
            Some(d) => json!({"type": "redacted_thinking", "data": d}),
            None => {
                let t = &r["reasoningText"];
                let mut b = json!({"type": "thinking", "thinking": t["text"]});
                if let Some(sig) = t.get("signature") {
                    b["signature"] = sig.clone();
                }
                b
            }
        })
        .collect();
    let thinking = msg["thinking_blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if thinking != want_thinking {
        return Err(format!(
            "thinking_blocks {thinking:?} for the recorded {want_thinking:?}"
        ));
    }
    let declared = tool_names(meta);
    let calls = msg["tool_calls"].as_array().cloned().unwrap_or_default();
    for c in &calls {
        let name = c["function"]["name"].as_str().unwrap_or("");
        if !declared.iter().any(|d| d == name) {
            return Err(format!(
                "tool call `{name}` the client never declared (declared: {declared:?})"
            ));
        }
    }
    let tool_uses: Vec<&Value> = blocks
        .iter()
        .filter(|b| b.get("toolUse").is_some())
        .collect();
    let declared_uses = tool_uses
        .iter()
        .filter(|b| declared.iter().any(|d| b["toolUse"]["name"] == d.as_str()))
        .count();
    if calls.len() != declared_uses {
        return Err(format!(
            "{} tool_calls for {declared_uses} toolUse blocks of declared tools",
            calls.len()
        ));
    }
    let finish = out["choices"][0]["finish_reason"].as_str().unwrap_or("");
    if finish == "tool_calls" && calls.is_empty() {
        return Err("finish_reason tool_calls without tool_calls".into());
    }
    tier_and_guardrail(meta, &out, fin.guardrail_action)?;
    check_usage(&out["usage"], &meta["body"]["usage"])
}

/// OpenAI usage from Bedrock's: the prompt is input + cache reads + cache writes, the cache
/// reads are `cached_tokens`, the writes `cache_write_tokens`, and the total adds up.
fn check_usage(out: &Value, recorded: &Value) -> Result<(), String> {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let (read, write) = (
        n(&recorded["cacheReadInputTokens"]),
        n(&recorded["cacheWriteInputTokens"]),
    );
    let prompt = n(&recorded["inputTokens"]) + read + write;
    let completion = n(&recorded["outputTokens"]);
    let details = &out["prompt_tokens_details"];
    if n(&out["prompt_tokens"]) != prompt
        || n(&out["completion_tokens"]) != completion
        || n(&out["total_tokens"]) != prompt + completion
        || n(&details["cached_tokens"]) != read
        || n(&details["cache_write_tokens"]) != write
    {
        return Err(format!("usage {out} vs recorded {recorded}"));
    }
    Ok(())
}

/// The tier Bedrock served is the answer's `service_tier` (`reserved` is OpenAI's `scale`);
/// a guardrail intervention or trace is summarised in `bedrock_guardrail` and the header.
fn tier_and_guardrail(meta: &Value, out: &Value, header: Option<&str>) -> Result<(), String> {
    let tier = meta["body"]["serviceTier"]["type"].as_str();
    let want_tier = tier.map(|t| if t == "reserved" { "scale" } else { t });
    if out["service_tier"].as_str() != want_tier {
        return Err(format!(
            "service_tier {} for Bedrock's {tier:?}",
            out["service_tier"]
        ));
    }
    let stop = meta["body"]["stopReason"].as_str();
    let intervened = matches!(stop, Some("guardrail_intervened" | "content_filtered"));
    let traced = meta["body"]["trace"]["guardrail"].is_object();
    let action = out["bedrock_guardrail"]["action"].as_str();
    let ok = match (intervened, traced) {
        (true, _) => action == Some("INTERVENED"),
        (false, true) => action.is_some(),
        (false, false) => action.is_none(),
    };
    if !ok || header != action {
        return Err(format!(
            "bedrock_guardrail {} / header {header:?} for stopReason {stop:?}",
            out["bedrock_guardrail"]
        ));
    }
    if intervened && out["choices"][0]["finish_reason"] != "content_filter" {
        return Err("an intervention without finish_reason content_filter".into());
    }
    Ok(())
}

/// Stream: every chunk valid, one finish_reason, usage, `[DONE]`, chunking-independent.
fn check_stream(spec: &Value, meta: &Value, body: &[u8]) -> Result<(), String> {
    let whole = translate_stream(body, body.len());
    for size in [1, 7, 64, 1000] {
        if translate_stream(body, size) != whole {
            return Err(format!("output differs when fed in {size}-byte chunks"));
        }
    }
    let events = sse_events(&whole);
    if events.last().map(String::as_str) != Some("[DONE]") {
        return Err(format!("does not end in [DONE]: {:?}", events.last()));
    }
    let mut finishes = 0;
    let mut usage = 0;
    let mut text = String::new();
    let mut names = Vec::new();
    let mut sent_opaque: Vec<String> = Vec::new();
    for e in &events[..events.len() - 1] {
        let c: Value = serde_json::from_str(e).map_err(|e| e.to_string())?;
        if c.get("error").is_some() {
            return Err(format!("error event: {c}"));
        }
        let errs = schema_errors(spec, "CreateChatCompletionStreamResponse", &c);
        if !errs.is_empty() {
            return Err(format!("schema: {errs:?}\n{c}"));
        }
        for ch in c["choices"].as_array().into_iter().flatten() {
            finishes += usize::from(!ch["finish_reason"].is_null());
            text += ch["delta"]["content"].as_str().unwrap_or("");
            for f in ch["delta"]["thinking_blocks"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(o) = f["signature"].as_str().or(f["data"].as_str()) {
                    sent_opaque.push(o.to_string());
                }
            }
            for t in ch["delta"]["tool_calls"].as_array().into_iter().flatten() {
                if let Some(n) = t["function"]["name"].as_str() {
                    // A call's first chunk: indices run 0, 1, 2… over the client's calls.
                    if t["index"].as_u64() != Some(names.len() as u64) {
                        return Err(format!("tool call `{n}` has index {}", t["index"]));
                    }
                    names.push(n.to_string());
                }
            }
        }
        if c.get("usage").is_some_and(|u| !u.is_null()) {
            usage += 1;
            let recorded = frames_of(body)
                .into_iter()
                .find(|(k, _)| k == "metadata")
                .map(|(_, p)| p["usage"].clone())
                .unwrap_or_default();
            check_usage(&c["usage"], &recorded)?;
        }
    }
    if finishes != 1 {
        return Err(format!("{finishes} chunks with a finish_reason"));
    }
    let frames = frames_of(body);
    if frames.iter().any(|(k, _)| k == "metadata") && usage != 1 {
        return Err(format!("{usage} usage chunks (include_usage was asked)"));
    }
    // Every recorded signature and redacted block reaches the client, in order.
    let opaque = |d: &Value| -> Option<String> {
        let r = &d["reasoningContent"];
        r["signature"]
            .as_str()
            .or(r["redactedContent"].as_str())
            .map(str::to_string)
    };
    let recorded_opaque: Vec<String> = frames
        .iter()
        .filter_map(|(_, p)| opaque(&p["delta"]))
        .collect();
    if sent_opaque != recorded_opaque {
        return Err(format!(
            "signatures / redacted blocks {sent_opaque:?} vs recorded {recorded_opaque:?}"
        ));
    }
    let recorded: String = frames
        .iter()
        .filter_map(|(_, p)| p["delta"]["text"].as_str())
        .collect();
    if text != recorded {
        return Err(format!("text {text:?} vs recorded {recorded:?}"));
    }
    let declared = tool_names(meta);
    for n in &names {
        if !declared.contains(n) {
            return Err(format!(
                "tool call `{n}` the client never declared (declared: {declared:?})"
            ));
        }
    }
    Ok(())
}

/// Stream that fails mid-way: exactly one error event, last, valid, no `[DONE]`.
fn check_stream_exception(spec: &Value, meta: &Value, body: &[u8]) -> Result<(), String> {
    let events = sse_events(&translate_stream(body, body.len()));
    let errors: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| v.get("error").is_some())
        .collect();
    if errors.len() != 1 || events.iter().any(|e| e == "[DONE]") {
        return Err(format!("want one error and no [DONE]: {events:?}"));
    }
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    if last.get("error").is_none() {
        return Err("the error is not the last event".into());
    }
    let errs = schema_errors(spec, "ErrorResponse", &last);
    if !errs.is_empty() {
        return Err(format!("schema: {errs:?}\n{last}"));
    }
    let kind = meta["exception"]["type"].as_str().unwrap_or("");
    let code = last["error"]["code"].as_str().unwrap_or("");
    if !code.eq_ignore_ascii_case(kind) {
        return Err(format!("error code {code:?} for exception {kind:?}"));
    }
    let want_type = match kind {
        "throttlingException" => "rate_limit_error",
        "validationException" => "invalid_request_error",
        "serviceUnavailableException" => "service_unavailable_error",
        "internalServerException" => "server_error",
        _ => "upstream_error",
    };
    if last["error"]["type"] != want_type {
        return Err(format!("error type {} for {kind}", last["error"]["type"]));
    }
    Ok(())
}

/// A non-200 answer: the recorded status and an OpenAI error body with Bedrock's message.
fn check_error(spec: &Value, meta: &Value) -> Result<(), String> {
    let status = meta["status"].as_u64().unwrap() as u16;
    let body = serde_json::to_vec(&meta["body"]).unwrap();
    let fin = handler(false, status).finish_buffered(&body);
    let out: Value = serde_json::from_slice(&fin.body).map_err(|e| e.to_string())?;
    if fin.status != status {
        return Err(format!(
            "status {} for a recorded {status}: {out}",
            fin.status
        ));
    }
    let errs = schema_errors(spec, "ErrorResponse", &out);
    if !errs.is_empty() {
        return Err(format!("schema: {errs:?}\n{out}"));
    }
    let want_type = match status {
        400 => "invalid_request_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    if out["error"]["type"] != want_type {
        return Err(format!(
            "error type {} for status {status}",
            out["error"]["type"]
        ));
    }
    let recorded = meta["body"]["message"].as_str().unwrap_or("");
    if !out["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains(recorded)
    {
        return Err(format!(
            "message {} lost {recorded:?}",
            out["error"]["message"]
        ));
    }
    Ok(())
}

#[test]
fn recordings_translate_to_valid_openai_answers() {
    let spec = require_openapi();
    let dir = dir("BEDROCK_RECORDINGS_DIR");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "only {} recordings in {}",
        names.len(),
        dir.display()
    );
    let mut unexpected = Vec::new();
    let mut still_failing = Vec::new();
    for path in &names {
        let meta: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let name = meta["name"].as_str().unwrap().to_string();
        let bin = || std::fs::read(dir.join(meta["stream_file"].as_str().unwrap())).unwrap();
        let result = match meta["kind"].as_str().unwrap() {
            "unary" => check_unary(&spec, &meta),
            "stream" => check_stream(&spec, &meta, &bin()),
            "stream-exception" => check_stream_exception(&spec, &meta, &bin()),
            "error" => check_error(&spec, &meta),
            other => Err(format!("unknown kind {other}")),
        };
        let known = KNOWN_FAILING.iter().find(|(n, _)| *n == name);
        match (result, known) {
            (Ok(()), None) => println!("ok      {name}"),
            (Err(e), Some((_, why))) => {
                println!("KNOWN   {name}: {why}\n        now: {e}");
                still_failing.push(name);
            }
            (Ok(()), Some(_)) => unexpected.push(format!(
                "{name} passes now: take it off KNOWN_FAILING in tests/conformance.rs"
            )),
            (Err(e), None) => unexpected.push(format!("{name}: {e}")),
        }
    }
    for (n, _) in KNOWN_FAILING {
        assert!(
            names.iter().any(|p| p.file_stem().unwrap() == *n),
            "KNOWN_FAILING names a recording that does not exist: {n}"
        );
    }
    println!(
        "{} recordings, {} known failures",
        names.len(),
        still_failing.len()
    );
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

/// JSON structure without values: object keys (recursively, `p` padding left out) and types.
fn skeleton(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "p")
                .map(|(k, v)| (k.clone(), skeleton(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(skeleton).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

#[test]
fn real_capture_replays_and_our_fixture_has_its_layout() {
    let spec = require_openapi();
    let dir = dir("BEDROCK_CAPTURES_DIR");
    let capture = std::fs::read(dir.join("converse-stream-claude-text-tooluse.bin")).unwrap();
    // The real capture through the translator: the same checks as any stream recording.
    let meta = json!({"tools": [{"name": "cosine"}]});
    check_stream(&spec, &meta, &capture).unwrap();
    // Our fixture: same frame count, event types, key structure, padding in every event.
    let real = frames_of(&capture);
    let ours = frames_of(&support::tooluse_stream());
    assert_eq!(real.len(), ours.len());
    for (i, ((rk, rp), (ok, op))) in real.iter().zip(&ours).enumerate() {
        assert_eq!(rk, ok, "frame {i}");
        assert_eq!(skeleton(rp), skeleton(op), "frame {i}");
        assert_eq!(
            rp["p"].is_string(),
            op["p"].is_string(),
            "frame {i} padding"
        );
    }
    println!(
        "real capture: {} frames, layout matches the fixture",
        real.len()
    );
}
