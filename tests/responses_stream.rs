//! The Responses API stream (`ResponsesStream`): the committed ConverseStream capture
//! (`tests/fixtures/eventstream/converse-stream-text-tooluse.bin`) replayed against a golden
//! transcript (`tests/fixtures/sse/responses-text-tooluse.sse`) at every two-piece split,
//! byte by byte and under random chunkings; the event grammar the SDKs check (first
//! `response.created`, sequence numbers 0, 1, 2…, items added before their deltas and done
//! before the end); every event against its schema in OpenAI's OpenAPI document when it is
//! there; and the state machine's cases (reasoning, JSON answer, dropped calls, cut-short
//! answers, errors). Regenerate the golden with `BLESS=1 cargo test --test responses_stream`
//! and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_openai_filter::event_stream::{encode_to_vec, Header, HeaderValue};
use bedrock_openai_filter::openai::responses::Echo;
use bedrock_openai_filter::stream::ResponsesStream;
use bedrock_openai_filter::translate::responses::ResponseContext;
use bedrock_openai_filter::translate::tools::{OutputMode, JSON_TOOL};
use serde_json::{json, Value};

mod support;

fn ctx(output: OutputMode) -> ResponseContext {
    ctx_with(output, false)
}

/// `encrypted`: the request had `include: ["reasoning.encrypted_content"]`.
fn ctx_with(output: OutputMode, encrypted: bool) -> ResponseContext {
    let mut echo = serde_json::Map::new();
    echo.insert("instructions".into(), Value::Null);
    echo.insert("tools".into(), json!([]));
    echo.insert("tool_choice".into(), json!("auto"));
    echo.insert("parallel_tool_calls".into(), json!(true));
    echo.insert("temperature".into(), json!(1.0));
    echo.insert("top_p".into(), json!(1.0));
    echo.insert("metadata".into(), json!({}));
    echo.insert("store".into(), json!(false));
    ResponseContext {
        id: "resp_replay".into(),
        created: 1_700_000_000,
        model: "anthropic.claude-3-5-sonnet".into(),
        output,
        echo: Echo(echo),
        encrypted_reasoning: encrypted,
    }
}

fn run_chunks<'a>(output: OutputMode, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut t = ResponsesStream::new(ctx(output));
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    assert!(t.is_finished());
    out
}

/// [`run_chunks`] for a request that asked for `encrypted_content`.
fn run_encrypted<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut t = ResponsesStream::new(ctx_with(OutputMode::default(), true));
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    assert!(t.is_finished());
    out
}

fn run(body: &[u8]) -> Vec<u8> {
    run_chunks(OutputMode::default(), [body])
}

/// Splits the SSE bytes into `(event, data)`; every event is one `event:` and one `data:`
/// line, and the two name the same type.
fn parse(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    assert!(text.ends_with("\n\n"), "{text:?}");
    text[..text.len() - 2]
        .split("\n\n")
        .map(|ev| {
            let (head, data) = ev.split_once('\n').expect("two lines");
            let kind = head.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            assert!(!data.contains('\n'));
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], kind, "{ev}");
            v
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn golden_path() -> String {
    format!(
        "{}/tests/fixtures/sse/responses-text-tooluse.sse",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn replay_matches_golden_transcript_at_every_split() {
    let body = support::tooluse_stream();
    let whole = run(&body);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(golden_path(), &whole).unwrap();
    }
    let golden = std::fs::read(golden_path()).expect("golden missing: run with BLESS=1");
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&golden)
    );
    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert_eq!(
            run_chunks(OutputMode::default(), [a, b]),
            golden,
            "split at {at}"
        );
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(run_chunks(OutputMode::default(), bytes), golden);
    for seed in 0..64 {
        let chunks = support::random_chunks(&body, seed, 97);
        assert_eq!(
            run_chunks(OutputMode::default(), chunks),
            golden,
            "seed {seed}"
        );
    }
}

/// The grammar the SDK's stream accumulator enforces, on any event list.
fn check_grammar(events: &[Value]) {
    assert_eq!(
        types(events)[..2],
        ["response.created", "response.in_progress"]
    );
    let mut added = std::collections::BTreeMap::new();
    let mut done = std::collections::BTreeSet::new();
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], n as u64, "{e}");
        let t = e["type"].as_str().unwrap();
        if let Some(i) = e["output_index"].as_u64() {
            match t {
                "response.output_item.added" => {
                    assert!(added.insert(i, e["item"]["id"].clone()).is_none(), "{e}")
                }
                "response.output_item.done" => {
                    assert_eq!(added.get(&i), Some(&e["item"]["id"]), "{e}");
                    assert!(done.insert(i), "{e}");
                }
                _ => {
                    assert!(added.contains_key(&i) && !done.contains(&i), "{e}");
                    assert_eq!(e["item_id"], added[&i], "{e}");
                }
            }
        }
    }
    let last = events.last().unwrap();
    match last["type"].as_str().unwrap() {
        "response.completed" | "response.incomplete" => {
            assert_eq!(done.len(), added.len());
            let output = last["response"]["output"].as_array().unwrap();
            assert_eq!(output.len(), added.len());
            let u = &last["response"]["usage"];
            assert_eq!(
                u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap(),
                u["total_tokens"].as_u64().unwrap()
            );
        }
        "response.failed" => {
            assert_eq!(types(events)[events.len() - 2], "error");
        }
        other => panic!("stream ends with {other}"),
    }
}

#[test]
fn replay_content_and_order() {
    let events = parse(&run(&support::tooluse_stream()));
    check_grammar(&events);
    let t = types(&events);
    assert_eq!(t[2], "response.output_item.added");
    assert_eq!(t[3], "response.content_part.added");
    assert_eq!(
        t.iter()
            .filter(|t| **t == "response.output_text.delta")
            .count(),
        17
    );
    assert_eq!(
        t.iter()
            .filter(|t| **t == "response.function_call_arguments.delta")
            .count(),
        2
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    let r = &last["response"];
    assert_eq!(
        (r["id"].as_str(), r["status"].as_str()),
        (Some("resp_replay"), Some("completed"))
    );
    assert_eq!(r["output"][0]["type"], "message");
    assert_eq!(
        r["output"][0]["content"][0]["text"],
        support::TOOLUSE_TEXT_DELTAS.concat()
    );
    let call = &r["output"][1];
    assert_eq!(
        (
            call["type"].as_str(),
            call["call_id"].as_str(),
            call["name"].as_str()
        ),
        (
            Some("function_call"),
            Some(support::TOOLUSE_ID),
            Some(support::TOOLUSE_NAME)
        )
    );
    assert_eq!(call["arguments"], support::TOOLUSE_INPUT_DELTAS.concat());
    let (i, o, _) = support::TOOLUSE_USAGE;
    assert_eq!(r["usage"]["input_tokens"], i);
    assert_eq!(r["usage"]["output_tokens"], o);
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(r["store"], false);
}

/// Each event's schema in the document: the `ResponseStreamEvent` branch of its `type`.
fn event_schema<'s>(spec: &'s Value, kind: &str) -> Option<&'s str> {
    let branches = spec["components"]["schemas"]["ResponseStreamEvent"]["anyOf"].as_array()?;
    branches.iter().find_map(|b| {
        let name = b["$ref"].as_str()?.strip_prefix("#/components/schemas/")?;
        let t = &spec["components"]["schemas"][name]["properties"]["type"];
        (t["enum"].as_array()?.contains(&json!(kind))).then_some(name)
    })
}

#[test]
fn every_event_matches_the_openapi_schema() {
    let spec = support::openapi::openapi();
    if spec["components"]["schemas"]["ResponseStreamEvent"].is_null() {
        // The repository's own subset has no Responses schemas: `make conformance` and the
        // e2e SDK checks cover them without the document.
        return;
    }
    let mut bodies = vec![support::tooluse_stream()];
    bodies.push(reasoning_body());
    bodies.push(encrypted_body());
    bodies.push(
        [
            message_start(),
            text(0, "x"),
            exception("throttlingException", "slow"),
        ]
        .concat(),
    );
    bodies.push(
        [
            message_start(),
            text(0, "cut"),
            stop("max_tokens"),
            metadata(3, 9),
        ]
        .concat(),
    );
    let runs = bodies
        .iter()
        .map(|b| run(b))
        .chain([run_encrypted([&encrypted_body()[..]])]);
    for out in runs {
        for e in parse(&out) {
            let kind = e["type"].as_str().unwrap();
            let name = event_schema(&spec, kind).unwrap_or_else(|| panic!("no schema for {kind}"));
            let errors = support::openapi::schema_errors(&spec, name, &e);
            assert!(errors.is_empty(), "{name}: {errors:?}\n{e}");
        }
    }
    // The check can fail.
    let bad = json!({"type": "response.output_text.delta", "item_id": 1, "output_index": 0,
                     "content_index": 0, "delta": "x", "sequence_number": 0, "logprobs": []});
    let name = event_schema(&spec, "response.output_text.delta").unwrap();
    assert!(!support::openapi::schema_errors(&spec, name, &bad).is_empty());
}

// ---------------------------------------------------------------------------------------------
// State machine cases, on synthetic streams.

fn header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header {
        name,
        value: HeaderValue::String(value),
    }
}

fn event(event_type: &str, payload: Value) -> Vec<u8> {
    encode_to_vec(
        &[
            header(":event-type", event_type),
            header(":content-type", "application/json"),
            header(":message-type", "event"),
        ],
        &serde_json::to_vec(&payload).unwrap(),
    )
    .unwrap()
}

fn exception(kind: &str, message: &str) -> Vec<u8> {
    encode_to_vec(
        &[
            header(":exception-type", kind),
            header(":content-type", "application/json"),
            header(":message-type", "exception"),
        ],
        &serde_json::to_vec(&json!({ "message": message })).unwrap(),
    )
    .unwrap()
}

fn message_start() -> Vec<u8> {
    event("messageStart", json!({"role": "assistant"}))
}

fn text(block: u32, t: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"text": t}}),
    )
}

fn reasoning(block: u32, t: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"reasoningContent": {"text": t}}}),
    )
}

fn signature(block: u32) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"reasoningContent": {"signature": "sig"}}}),
    )
}

fn tool_start(block: u32, id: &str, name: &str) -> Vec<u8> {
    event(
        "contentBlockStart",
        json!({"contentBlockIndex": block, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
    )
}

fn tool_input(block: u32, input: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"toolUse": {"input": input}}}),
    )
}

fn block_stop(block: u32) -> Vec<u8> {
    event("contentBlockStop", json!({"contentBlockIndex": block}))
}

fn stop(reason: &str) -> Vec<u8> {
    event("messageStop", json!({"stopReason": reason}))
}

fn metadata(i: u64, o: u64) -> Vec<u8> {
    event(
        "metadata",
        json!({"usage": {"inputTokens": i, "outputTokens": o, "totalTokens": i + o,
                         "cacheReadInputTokens": 2}}),
    )
}

fn reasoning_body() -> Vec<u8> {
    [
        message_start(),
        reasoning(0, "think "),
        reasoning(0, "hard"),
        signature(0),
        block_stop(0),
        text(1, "answer"),
        block_stop(1),
        stop("end_turn"),
        metadata(5, 7),
    ]
    .concat()
}

#[test]
fn reasoning_is_a_summary_item_before_the_message() {
    let events = parse(&run(&reasoning_body()));
    check_grammar(&events);
    let t = types(&events);
    assert!(t.contains(&"response.reasoning_summary_part.added"));
    assert_eq!(
        t.iter()
            .filter(|t| **t == "response.reasoning_summary_text.delta")
            .count(),
        2
    );
    let r = &events.last().unwrap()["response"];
    assert_eq!(r["output"][0]["type"], "reasoning");
    assert_eq!(r["output"][0]["summary"][0]["text"], "think hard");
    assert_eq!(r["output"][1]["content"][0]["text"], "answer");
    assert_eq!(r["usage"]["input_tokens"], 7);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
}

#[test]
fn the_json_tool_is_the_message_and_dropped_calls_never_show() {
    let body = [
        message_start(),
        tool_start(0, "t1", JSON_TOOL),
        tool_input(0, "{\"a\":"),
        tool_input(0, "1}"),
        block_stop(0),
        tool_start(1, "t2", "other"),
        tool_input(1, "{}"),
        block_stop(1),
        stop("tool_use"),
        metadata(1, 1),
    ]
    .concat();
    let output = OutputMode {
        json_tool: Some(JSON_TOOL.into()),
        drop_tool_calls: true,
        legacy_functions: false,
    };
    let events = parse(&run_chunks(output, [&body[..]]));
    check_grammar(&events);
    let r = &events.last().unwrap()["response"];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["output"].as_array().unwrap().len(), 1);
    assert_eq!(r["output"][0]["content"][0]["text"], "{\"a\":1}");
    assert!(!types(&events).contains(&"response.function_call_arguments.delta"));
}

#[test]
fn cut_short_answers_are_incomplete_with_the_reason() {
    for (reason, want) in [
        ("max_tokens", "max_output_tokens"),
        ("content_filtered", "content_filter"),
    ] {
        let body = [
            message_start(),
            text(0, "cut"),
            stop(reason),
            metadata(3, 9),
        ]
        .concat();
        let events = parse(&run(&body));
        check_grammar(&events);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.incomplete");
        assert_eq!(last["response"]["incomplete_details"]["reason"], want);
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    }
}

#[test]
fn a_call_without_input_has_empty_object_arguments() {
    let body = [
        message_start(),
        tool_start(0, "t1", "f"),
        block_stop(0),
        stop("tool_use"),
        metadata(1, 1),
    ]
    .concat();
    let events = parse(&run(&body));
    check_grammar(&events);
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["arguments"],
        "{}"
    );
}

#[test]
fn errors_end_in_error_then_response_failed() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            [
                message_start(),
                text(0, "x"),
                exception("throttlingException", "slow"),
            ]
            .concat(),
            "ThrottlingException",
        ),
        (
            [message_start(), text(0, "x")].concat(),
            "bad_upstream_response",
        ),
        (
            [message_start(), text(0, "x"), stop("malformed_tool_use")].concat(),
            "malformed_tool_use",
        ),
        // Before any event: `response.created` still comes first.
        (
            exception("internalServerException", "boom"),
            "InternalServerException",
        ),
        (tool_input(0, "{}"), "bad_upstream_response"),
    ];
    for (body, code) in cases {
        let events = parse(&run(&body));
        check_grammar(&events);
        let error = &events[events.len() - 2];
        assert_eq!(error["code"], code, "{error}");
        let failed = &events.last().unwrap()["response"];
        assert_eq!(failed["status"], "failed");
        assert!(failed["error"]["message"].is_string());
    }
    // Cut inside a frame, and nothing after the end.
    let body = [message_start(), text(0, "x")].concat();
    let mut t = ResponsesStream::new(ctx(OutputMode::default()));
    let mut out = t.feed(&body[..body.len() - 3]);
    out.extend(t.finish());
    assert!(t.feed(b"more").is_empty() && t.finish().is_empty());
    let events = parse(&out);
    check_grammar(&events);
    assert!(events[events.len() - 2]["message"]
        .as_str()
        .unwrap()
        .contains("inside a frame"));
}

#[test]
fn random_chunkings_of_every_case_give_the_same_output() {
    let bodies = [
        reasoning_body(),
        [
            message_start(),
            text(0, "x"),
            exception("throttlingException", "slow"),
        ]
        .concat(),
        [
            message_start(),
            tool_start(0, "t", "f"),
            tool_input(0, "{\"é\":"),
            tool_input(0, "\"\\n\"}"),
            block_stop(0),
            stop("tool_use"),
            metadata(1, 2),
        ]
        .concat(),
    ];
    for body in bodies {
        let whole = run(&body);
        for seed in 0..200 {
            let chunks = support::random_chunks(&body, seed, 23);
            assert_eq!(
                run_chunks(OutputMode::default(), chunks),
                whole,
                "seed {seed}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `include: ["reasoning.encrypted_content"]`: signatures and redacted reasoning collected.

fn signature_piece(block: u32, sig: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"reasoningContent": {"signature": sig}}}),
    )
}

fn redacted(block: u32, data: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        json!({"contentBlockIndex": block, "delta": {"reasoningContent": {"redactedContent": data}}}),
    )
}

/// Reasoning signed in two signature deltas, a redacted block in two pieces, then a call.
fn encrypted_body() -> Vec<u8> {
    [
        message_start(),
        reasoning(0, "think "),
        reasoning(0, "hard"),
        signature_piece(0, "c2ln"),
        signature_piece(0, "bmF0dXJl"),
        block_stop(0),
        redacted(1, "AAEC"),
        redacted(1, "AwQ="),
        block_stop(1),
        tool_start(2, "t1", "f"),
        tool_input(2, "{}"),
        block_stop(2),
        stop("tool_use"),
        metadata(5, 7),
    ]
    .concat()
}

fn unseal(v: &Value) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("encrypted_content"))
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn include_puts_the_signed_block_on_the_done_item_and_the_response() {
    let events = parse(&run_encrypted([&encrypted_body()[..]]));
    check_grammar(&events);
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.done")
        .map(|e| &e["item"])
        .collect();
    assert_eq!(done.len(), 3);
    let signed = json!({"type": "thinking", "thinking": "think hard", "signature": "c2lnbmF0dXJl"});
    assert_eq!(unseal(&done[0]["encrypted_content"]), signed);
    assert_eq!(done[0]["summary"][0]["text"], "think hard");
    // The redacted pieces' bytes, joined (each piece is base64 of its own).
    let redacted = json!({"type": "redacted_thinking", "data": "AAECAwQ="});
    assert_eq!(unseal(&done[1]["encrypted_content"]), redacted);
    assert_eq!(
        (done[1]["type"].as_str(), done[1]["summary"].clone()),
        (Some("reasoning"), json!([]))
    );
    assert!(done[2].get("encrypted_content").is_none());
    // Announced without it (it is not known yet); the redacted item has no summary events.
    for e in events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
    {
        assert!(e["item"].get("encrypted_content").is_none(), "{e}");
    }
    let summary_parts = events
        .iter()
        .filter(|e| e["type"] == "response.reasoning_summary_part.added")
        .count();
    assert_eq!(summary_parts, 1);
    let r = &events.last().unwrap()["response"];
    assert_eq!(unseal(&r["output"][0]["encrypted_content"]), signed);
    assert_eq!(unseal(&r["output"][1]["encrypted_content"]), redacted);
    assert_eq!(r["output"][2]["type"], "function_call");
}

#[test]
fn without_include_there_is_no_encrypted_content_nor_redacted_item() {
    let events = parse(&run(&encrypted_body()));
    check_grammar(&events);
    let r = &events.last().unwrap()["response"];
    let kinds: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "function_call"]);
    assert!(!String::from_utf8(run(&encrypted_body()))
        .unwrap()
        .contains("encrypted_content"));
}

#[test]
fn signatures_survive_every_chunking() {
    let body = encrypted_body();
    let whole = run_encrypted([&body[..]]);
    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert_eq!(run_encrypted([a, b]), whole, "split at {at}");
    }
    for seed in 0..200 {
        let chunks = support::random_chunks(&body, seed, 19);
        assert_eq!(run_encrypted(chunks), whole, "seed {seed}");
    }
}

#[test]
fn bad_redacted_bytes_fail_the_stream() {
    let body = [message_start(), redacted(0, "not base64!")].concat();
    let events = parse(&run_encrypted([&body[..]]));
    check_grammar(&events);
    assert_eq!(events.last().unwrap()["type"], "response.failed");
}

#[test]
fn the_guardrail_action_is_kept_for_the_trailer() {
    let traced = event(
        "metadata",
        json!({"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
               "trace": {"guardrail": {"outputAssessments": {"g": [{"contentPolicy": {"filters": [
                   {"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]}}]}}}}),
    );
    for (body, want) in [
        (
            [
                message_start(),
                text(0, "x"),
                stop("end_turn"),
                metadata(1, 1),
            ]
            .concat(),
            None,
        ),
        (
            [
                message_start(),
                text(0, "x"),
                stop("guardrail_intervened"),
                traced,
            ]
            .concat(),
            Some("INTERVENED"),
        ),
        (
            [message_start(), text(0, "x"), stop("guardrail_intervened")].concat(),
            Some("INTERVENED"),
        ),
    ] {
        let mut t = ResponsesStream::new(ctx(OutputMode::default()));
        t.feed(&body);
        t.finish();
        assert_eq!(t.guardrail_action(), want);
    }
}
