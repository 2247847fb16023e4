//! Replays a real Bedrock ConverseStream body through `StreamTranslator` under every kind of
//! chunking, compares it with a golden SSE transcript, validates every emitted JSON object
//! against the OpenAI OpenAPI spec, and drives the error paths (exception and error messages,
//! corrupt frames, bad JSON, truncation, every single-byte flip).
//!
//! Capture: `shared/reference/captures/converse-stream-claude-text-tooluse.bin` (see its
//! README). Regenerate the golden with `BLESS=1 cargo test --test stream_replay`, then review
//! the diff by eye.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_openai_filter::event_stream::{encode, encode_to_vec, Header, HeaderValue};
use bedrock_openai_filter::stream::{OutputFormat, StreamOptions, StreamTranslator};
use bedrock_openai_filter::translate::tools::{OutputMode, JSON_TOOL};
use serde_json::{json, Value};

const EXPECTED_TEXT: &str =
    "To calculate the cosine of 7, we can use the \"cosine\" function that is \
                             available to us. Let's use this function to get the result.";

fn capture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/captures/converse-stream-claude-text-tooluse.bin"
    ))
    .unwrap()
}

fn opts(include_usage: bool) -> StreamOptions {
    StreamOptions {
        id: "chatcmpl-replay".into(),
        model: "anthropic.claude-3-5-sonnet".into(),
        created: 1_700_000_000,
        include_usage,
        format: OutputFormat::Chat,
        output: Default::default(),
    }
}

/// Feeds `chunks` in order, then ends the body; everything the client would receive.
fn run<'a>(include_usage: bool, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut t = StreamTranslator::new(opts(include_usage));
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    assert!(t.is_finished());
    out
}

/// Frame boundaries of a valid event-stream body, from each prelude's total length.
fn frames(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let (frame, tail) = rest.split_at(len);
        out.push(frame);
        rest = tail;
    }
    out
}

fn string_header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header {
        name,
        value: HeaderValue::String(value),
    }
}

/// A Bedrock `event` frame, shaped as the service sends them (padding included).
fn event(event_type: &str, payload: Value) -> Vec<u8> {
    let mut payload = payload;
    payload["p"] = json!("abcdefghijklmnopqrstu");
    encode_to_vec(
        &[
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        &serde_json::to_vec(&payload).unwrap(),
    )
    .unwrap()
}

fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode_to_vec(
        &[
            string_header(":exception-type", exception_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "exception"),
        ],
        &serde_json::to_vec(&json!({ "message": message })).unwrap(),
    )
    .unwrap()
}

#[derive(Debug, Clone, PartialEq)]
enum Sse {
    Chunk(Value),
    Error(Value),
    Done,
}

/// Splits SSE bytes into events; every event must be one `data:` line ending in a blank line.
fn parse_sse(bytes: &[u8]) -> Vec<Sse> {
    let text = std::str::from_utf8(bytes).expect("SSE is UTF-8");
    if text.is_empty() {
        return Vec::new();
    }
    assert!(
        text.ends_with("\n\n"),
        "SSE must end with a blank line: {text:?}"
    );
    text[..text.len() - 2]
        .split("\n\n")
        .map(|ev| {
            let data = ev
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {ev:?}"));
            assert!(!data.contains('\n'), "multi-line event: {data:?}");
            if data == "[DONE]" {
                return Sse::Done;
            }
            let v: Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
            if v.get("error").is_some() {
                Sse::Error(v)
            } else {
                Sse::Chunk(v)
            }
        })
        .collect()
}

fn chunks_of(events: &[Sse]) -> Vec<&Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Sse::Chunk(v) => Some(v),
            _ => None,
        })
        .collect()
}

fn only_error(events: &[Sse]) -> &Value {
    let errors: Vec<&Value> = events
        .iter()
        .filter_map(|e| match e {
            Sse::Error(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    assert!(
        matches!(events.last(), Some(Sse::Error(_))),
        "error must be last: {events:?}"
    );
    assert!(!events.contains(&Sse::Done), "no [DONE] after an error");
    errors[0]
}

/// xorshift64*: deterministic chunkings without a rand dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn random_chunks(bytes: &[u8], seed: u64, max_chunk: u64) -> Vec<&[u8]> {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = ((rng.next() % max_chunk) as usize + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Golden transcript and its content.

/// Compares with `tests/fixtures/sse/<name>`, or rewrites it under `BLESS=1`.
fn assert_golden(name: &str, out: &[u8]) {
    let path = format!("{}/tests/fixtures/sse/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, out).unwrap();
    }
    let golden = std::fs::read(&path).expect("golden missing: run with BLESS=1");
    assert_eq!(
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(&golden)
    );
}

#[test]
fn replay_matches_golden_transcript() {
    assert_golden("claude-text-tooluse.sse", &run(true, [&capture()[..]]));
}

#[test]
fn replay_transcript_content() {
    let events = parse_sse(&run(true, [&capture()[..]]));
    assert_eq!(events.last(), Some(&Sse::Done));
    let chunks = chunks_of(&events);
    assert_eq!(chunks.len() + 1, events.len(), "no error events");
    for c in &chunks {
        assert_eq!(c["id"], "chatcmpl-replay");
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["created"], 1_700_000_000);
        assert_eq!(c["model"], "anthropic.claude-3-5-sonnet");
    }

    // Role chunk first.
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(chunks[0]["choices"][0]["finish_reason"].is_null());

    // 17 text deltas.
    let texts: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(texts.len(), 17);
    assert_eq!(texts.concat(), EXPECTED_TEXT);

    // One tool call, index 0; id and name only on its first chunk.
    let tool_deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(tool_deltas.len(), 3);
    assert_eq!(
        tool_deltas[0],
        &json!({"index": 0, "id": "tooluse_QklrEHKjRu6Oc4BQUfy7ZQ", "type": "function",
                "function": {"name": "cosine", "arguments": ""}})
    );
    for d in &tool_deltas[1..] {
        assert_eq!(d["index"], 0);
        assert!(d.get("id").is_none() && d.get("type").is_none(), "{d}");
        assert!(d["function"].get("name").is_none(), "{d}");
    }
    let args: String = tool_deltas
        .iter()
        .map(|d| d["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(args, r#"{"x": 7}"#);
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"x": 7})
    );

    // Finish chunk, then usage chunk, then [DONE].
    let n = chunks.len();
    let finish = chunks[n - 2];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let finishes = chunks
        .iter()
        .filter(|c| !c["choices"][0]["finish_reason"].is_null())
        .count();
    assert_eq!(finishes, 1);
    let usage = chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 386, "completion_tokens": 75, "total_tokens": 461})
    );
    // Usage appears nowhere else.
    assert_eq!(
        chunks.iter().filter(|c| c.get("usage").is_some()).count(),
        1
    );
}

#[test]
fn without_include_usage_only_the_usage_chunk_goes() {
    let with = parse_sse(&run(true, [&capture()[..]]));
    let without = parse_sse(&run(false, [&capture()[..]]));
    assert_eq!(without.len() + 1, with.len());
    let mut expected = with.clone();
    expected.remove(with.len() - 2);
    assert_eq!(without, expected);

    let mut t = StreamTranslator::new(opts(false));
    t.feed(&capture());
    let u = t.usage().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (386, 75, 461)
    );
    assert_eq!(t.stop_reason(), Some("tool_use"));
    assert!(!t.is_finished(), "[DONE] waits for the end of the body");
    assert_eq!(t.finish(), b"data: [DONE]\n\n");
    assert!(t.is_finished());
}

// ---------------------------------------------------------------------------------------------
// Chunking: the output must not depend on where upstream bytes are split.

#[test]
fn every_two_piece_split_gives_the_same_output() {
    let body = capture();
    let whole = run(true, [&body[..]]);
    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert!(run(true, [a, b]) == whole, "split at {at}");
    }
}

#[test]
fn byte_by_byte_gives_the_same_output() {
    let body = capture();
    let whole = run(true, [&body[..]]);
    assert_eq!(run(true, body.chunks(1)), whole);
    // And every chunk size up to a bit over the largest frame.
    for size in 2..=300 {
        assert!(run(true, body.chunks(size)) == whole, "chunk size {size}");
    }
}

#[test]
fn random_chunkings_give_the_same_output() {
    let body = capture();
    let whole = run(true, [&body[..]]);
    for seed in 0..300 {
        let max = [3, 17, 64, 500, 5000][seed as usize % 5];
        let chunks = random_chunks(&body, seed, max);
        assert!(run(true, chunks) == whole, "seed {seed}");
    }
}

#[test]
fn output_is_emitted_as_soon_as_a_frame_completes() {
    // Streaming, not buffering: the role chunk is out once the first frame is in.
    let body = capture();
    let first = frames(&body)[0].len();
    let mut t = StreamTranslator::new(opts(true));
    assert!(t.feed(&body[..first - 1]).is_empty());
    let out = parse_sse(&t.feed(&body[first - 1..first]));
    assert_eq!(out.len(), 1);
    assert_eq!(
        chunks_of(&out)[0]["choices"][0]["delta"]["role"],
        "assistant"
    );
}

// ---------------------------------------------------------------------------------------------
// Schema: every chunk and error event against the OpenAI OpenAPI document.

/// Enough JSON Schema for the OpenAPI schemas involved: `$ref`, `type` (string or list),
/// `nullable`, `enum`, `required`, `properties`, `additionalProperties: false`, `items`,
/// `anyOf`, `oneOf`, `allOf`.
fn validate(spec: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        let target = &spec["components"]["schemas"][name];
        assert!(!target.is_null(), "unresolved {r}");
        // Sibling `nullable` on a `$ref` (OpenAPI 3.0 style) still allows null.
        if v.is_null() && schema.get("nullable") == Some(&json!(true)) {
            return;
        }
        return validate(spec, target, v, path, errors);
    }
    let sub_ok = |s: &Value| {
        let mut e = Vec::new();
        validate(spec, s, v, path, &mut e);
        e.is_empty()
    };
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(sub_ok) {
            errors.push(format!("{path}: matches no anyOf branch: {v}"));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|s| sub_ok(s)).count();
        if n != 1 {
            errors.push(format!("{path}: matches {n} oneOf branches: {v}"));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(spec, s, v, path, errors);
        }
    }
    if v.is_null() && schema.get("nullable") == Some(&json!(true)) {
        return;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{path}: {v} not in enum {e:?}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{path}: missing required `{r}`"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(spec, s, val, &format!("{path}.{k}"), errors),
                None if schema.get("additionalProperties") == Some(&json!(false)) => {
                    errors.push(format!("{path}: unexpected `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(spec, items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/openai-openapi.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn schema_errors(spec: &Value, name: &str, v: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(
        spec,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
        v,
        "$",
        &mut errors,
    );
    errors
}

#[test]
fn every_chunk_matches_the_openapi_schema() {
    let spec = openapi();
    // The spec's own `required` arrays, read from the file, must hold for our chunks.
    let schemas = &spec["components"]["schemas"];
    let required = |v: &Value| -> Vec<String> {
        v["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let top = required(&schemas["CreateChatCompletionStreamResponse"]);
    assert_eq!(top, ["choices", "created", "id", "model", "object"]);
    let choice =
        required(&schemas["CreateChatCompletionStreamResponse"]["properties"]["choices"]["items"]);
    assert_eq!(choice, ["delta", "finish_reason", "index"]);

    let events = parse_sse(&run(true, [&capture()[..]]));
    for c in chunks_of(&events) {
        for k in &top {
            assert!(c.get(k).is_some(), "missing {k}: {c}");
        }
        for ch in c["choices"].as_array().unwrap() {
            for k in &choice {
                assert!(ch.get(k).is_some(), "missing choices[].{k}: {c}");
            }
        }
        let errors = schema_errors(&spec, "CreateChatCompletionStreamResponse", c);
        assert!(errors.is_empty(), "{errors:?}\n{c}");
    }
}

#[test]
fn schema_check_can_fail() {
    // Guards the validator itself: known-bad chunks must be rejected.
    let spec = openapi();
    let events = parse_sse(&run(true, [&capture()[..]]));
    let good = chunks_of(&events)[1].clone();
    assert!(schema_errors(&spec, "CreateChatCompletionStreamResponse", &good).is_empty());

    let mut no_finish = good.clone();
    no_finish["choices"][0]
        .as_object_mut()
        .unwrap()
        .remove("finish_reason");
    let mut bad_reason = good.clone();
    bad_reason["choices"][0]["finish_reason"] = json!("tool_use");
    let mut bad_object = good.clone();
    bad_object["object"] = json!("chat.completion");
    let mut bad_role = good.clone();
    bad_role["choices"][0]["delta"]["role"] = json!("model");
    let mut bad_tool = good.clone();
    bad_tool["choices"][0]["delta"]["tool_calls"] = json!([{"id": "x"}]);
    let mut bad_usage = good.clone();
    bad_usage["usage"] = json!({"prompt_tokens": 1});
    for bad in [
        no_finish, bad_reason, bad_object, bad_role, bad_tool, bad_usage,
    ] {
        assert!(
            !schema_errors(&spec, "CreateChatCompletionStreamResponse", &bad).is_empty(),
            "accepted {bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors mid-stream.

/// The capture's first `n` frames, `extra`, then the rest of the capture.
fn with_inserted(n: usize, extra: &[u8]) -> Vec<u8> {
    let body = capture();
    let fr = frames(&body);
    let mut out: Vec<u8> = fr[..n].concat();
    out.extend_from_slice(extra);
    out.extend(fr[n..].concat());
    out
}

fn assert_error_after_content(
    body: &[u8],
    content_chunks: usize,
    status_type: &str,
    code: &str,
) -> Value {
    let spec = openapi();
    let whole = run(true, [body]);
    let events = parse_sse(&whole);
    let err = only_error(&events).clone();
    assert_eq!(events.len(), content_chunks + 1, "{events:?}");
    assert_eq!(err["error"]["type"], status_type, "{err}");
    assert_eq!(err["error"]["code"], code, "{err}");
    assert!(
        schema_errors(&spec, "ErrorResponse", &err).is_empty(),
        "{err}"
    );
    // Same bytes whatever the chunking.
    assert!(run(true, body.chunks(1)) == whole);
    for seed in 0..20 {
        assert!(
            run(true, random_chunks(body, seed, 100)) == whole,
            "seed {seed}"
        );
    }
    err
}

#[test]
fn throttling_exception_mid_stream() {
    // messageStart + 4 text deltas → role chunk + 4 content chunks, then the exception.
    let body = with_inserted(
        5,
        &exception("throttlingException", "Too many tokens, please wait."),
    );
    let err = assert_error_after_content(&body, 5, "rate_limit_error", "ThrottlingException");
    assert_golden("claude-throttled-mid-stream.sse", &run(true, [&body[..]]));
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Too many tokens, please wait."));
    assert!(err["error"]["param"].is_null());
}

#[test]
fn model_stream_error_exception_mid_stream() {
    let body = with_inserted(3, &exception("ModelStreamErrorException", "model crashed"));
    let err = assert_error_after_content(&body, 3, "upstream_error", "ModelStreamErrorException");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("model crashed"));
}

#[test]
fn later_feeds_after_an_error_produce_nothing() {
    let body = capture();
    let fr = frames(&body);
    let mut t = StreamTranslator::new(opts(true));
    let mut out = t.feed(&fr[..2].concat());
    out.extend(t.feed(&exception("validationException", "bad input")));
    assert!(t.is_finished());
    let events = parse_sse(&out);
    assert_eq!(
        only_error(&events)["error"]["type"],
        "invalid_request_error"
    );
    for f in &fr[2..] {
        assert!(t.feed(f).is_empty());
    }
    assert!(t.finish().is_empty());
    assert!(t.finish().is_empty());
    assert_eq!(t.stop_reason(), None);
}

#[test]
fn error_message_type_uses_its_headers() {
    let error = encode_to_vec(
        &[
            string_header(":message-type", "error"),
            string_header(":error-code", "InternalServerException"),
            string_header(":error-message", "something broke"),
        ],
        b"",
    )
    .unwrap();
    let body = with_inserted(2, &error);
    let err = assert_error_after_content(&body, 2, "server_error", "InternalServerException");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("something broke"));
}

#[test]
fn unknown_message_type_is_an_error_unknown_event_type_is_skipped() {
    let odd = encode_to_vec(&[string_header(":message-type", "surprise")], b"{}").unwrap();
    let body = with_inserted(2, &odd);
    assert_error_after_content(&body, 2, "upstream_error", "bad_upstream_response");

    let future = event("citationsSummary", json!({"anything": [1, 2, 3]}));
    let body = with_inserted(7, &future);
    assert_eq!(run(true, [&body[..]]), run(true, [&capture()[..]]));
}

#[test]
fn corrupt_crc_mid_stream() {
    let body = capture();
    let fr = frames(&body);
    let mut corrupt: Vec<u8> = fr[..6].concat();
    let mut bad = fr[6].to_vec();
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    corrupt.extend(bad);
    corrupt.extend(fr[7..].concat());
    let err = assert_error_after_content(&corrupt, 6, "upstream_error", "bad_upstream_response");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("checksum"),
        "{err}"
    );
}

#[test]
fn oversize_frame_is_refused_from_its_prelude() {
    // A prelude announcing 64 MiB with a valid CRC: refused at once, nothing buffered.
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&(64u32 << 20).to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    let body = with_inserted(2, &prelude);
    let mut t = StreamTranslator::new(opts(true));
    let before: usize = frames(&capture())[..2].iter().map(|f| f.len()).sum();
    // Two frames in: role and first text chunk out, the next 11 prelude bytes held.
    let first = parse_sse(&t.feed(&body[..before + 11]));
    assert_eq!(chunks_of(&first).len(), 2);
    assert!(!t.is_finished());
    // The 12th prelude byte decides.
    let out = parse_sse(&t.feed(&body[before + 11..before + 12]));
    assert!(t.is_finished());
    let err = only_error(&out);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("limit"),
        "{err}"
    );
}

#[test]
fn undecodable_json_payload() {
    let bad = encode_to_vec(
        &[
            string_header(":event-type", "contentBlockDelta"),
            string_header(":message-type", "event"),
        ],
        br#"{"contentBlockIndex":0,"delta":{"text":"unterminated}"#,
    )
    .unwrap();
    let body = with_inserted(4, &bad);
    let err = assert_error_after_content(&body, 4, "upstream_error", "bad_upstream_response");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("contentBlockDelta"),
        "{err}"
    );

    let wrong_shape = event(
        "contentBlockDelta",
        json!({"contentBlockIndex": "zero", "delta": {}}),
    );
    assert_error_after_content(
        &with_inserted(4, &wrong_shape),
        4,
        "upstream_error",
        "bad_upstream_response",
    );
}

#[test]
fn truncated_stream_ends_in_an_error() {
    let body = capture();
    let fr = frames(&body);
    // Cut inside the last frame.
    let events = parse_sse(&run(true, [&body[..body.len() - 10]]));
    let err = only_error(&events);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inside a frame"),
        "{err}"
    );
    // Cut between frames, before messageStop.
    let cut: Vec<u8> = fr[..20].concat();
    let events = parse_sse(&run(true, [&cut[..]]));
    let err = only_error(&events);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messageStop"),
        "{err}"
    );
    // Role, 17 texts, the tool call's first chunk.
    assert_eq!(chunks_of(&events).len(), 1 + 17 + 1);
    // An empty body too.
    let events = parse_sse(&run(true, []));
    assert_eq!(events.len(), 1);
    only_error(&events);
    // After messageStop but before metadata is a complete answer: no usage, but [DONE].
    let no_metadata: Vec<u8> = fr[..24].concat();
    let events = parse_sse(&run(true, [&no_metadata[..]]));
    assert_eq!(events.last(), Some(&Sse::Done));
    assert!(chunks_of(&events).iter().all(|c| c.get("usage").is_none()));
}

#[test]
fn every_single_byte_flip_ends_in_one_error_event() {
    let body = capture();
    let clean = parse_sse(&run(true, [&body[..]]));
    for i in 0..body.len() {
        for mask in [0x01u8, 0x80] {
            let mut b = body.clone();
            b[i] ^= mask;
            let events = parse_sse(&run(true, [&b[..]]));
            only_error(&events);
            // Everything before the error is what the clean stream said at that point.
            let n = events.len() - 1;
            assert_eq!(events[..n], clean[..n], "flip {i}/{mask:#x}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State machine details, on synthetic streams built with the encoder.

fn stream(events: &[Vec<u8>]) -> Vec<u8> {
    events.concat()
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

fn stop(reason: &str) -> Vec<u8> {
    event("messageStop", json!({"stopReason": reason}))
}

fn metadata(i: u64, o: u64) -> Vec<u8> {
    event(
        "metadata",
        json!({"usage": {"inputTokens": i, "outputTokens": o, "totalTokens": i + o},
               "metrics": {"latencyMs": 12}, "serviceTier": {"type": "default"}}),
    )
}

#[test]
fn metadata_before_message_stop_is_held() {
    let body = stream(&[
        message_start(),
        text(0, "hi"),
        metadata(5, 1),
        stop("end_turn"),
    ]);
    let events = parse_sse(&run(true, [&body[..]]));
    let c = chunks_of(&events);
    assert_eq!(c.len(), 4);
    assert_eq!(c[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(c[3]["choices"], json!([]));
    assert_eq!(c[3]["usage"]["total_tokens"], 6);
    assert_eq!(events.last(), Some(&Sse::Done));
}

#[test]
fn stop_reasons_map_and_malformed_output_is_an_error() {
    for (reason, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("tool_use", "tool_calls"),
    ] {
        let body = stream(&[message_start(), text(0, "x"), stop(reason)]);
        let mut t = StreamTranslator::new(opts(false));
        let events = parse_sse(&[t.feed(&body), t.finish()].concat());
        assert_eq!(
            chunks_of(&events)[2]["choices"][0]["finish_reason"],
            finish,
            "{reason}"
        );
        assert_eq!(t.stop_reason(), Some(reason));
    }
    let body = stream(&[
        message_start(),
        text(0, "x"),
        stop("malformed_tool_use"),
        metadata(1, 1),
    ]);
    let events = parse_sse(&run(true, [&body[..]]));
    let err = only_error(&events);
    assert_eq!(err["error"]["code"], "malformed_tool_use");
    assert_eq!(err["error"]["type"], "upstream_error");
    assert_eq!(chunks_of(&events).len(), 2);
}

#[test]
fn tool_indices_count_tool_calls_only() {
    let tool_start = |block: u32, id: &str, name: &str| {
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": block, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
        )
    };
    let tool_input = |block: u32, input: &str| {
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": block, "delta": {"toolUse": {"input": input}}}),
        )
    };
    let block_stop = |block: u32| event("contentBlockStop", json!({"contentBlockIndex": block}));
    let body = stream(&[
        message_start(),
        text(0, "Let me check."),
        block_stop(0),
        tool_start(1, "t1", "weather"),
        tool_input(1, "{\"city\":"),
        tool_input(1, "\"Paris\"}"),
        block_stop(1),
        text(2, "And"),
        block_stop(2),
        tool_start(3, "t2", "time"),
        tool_input(3, "{}"),
        block_stop(3),
        stop("tool_use"),
    ]);
    let events = parse_sse(&run(false, [&body[..]]));
    let calls: Vec<&Value> = chunks_of(&events)
        .into_iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    let summary: Vec<(u64, Option<&str>, Option<&str>, &str)> = calls
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["id"].as_str(),
                c["function"]["name"].as_str(),
                c["function"]["arguments"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, Some("t1"), Some("weather"), ""),
            (0, None, None, "{\"city\":"),
            (0, None, None, "\"Paris\"}"),
            (1, Some("t2"), Some("time"), ""),
            (1, None, None, "{}"),
        ]
    );

    // Tool input for a block that never started a tool call cannot be attributed.
    let body = stream(&[message_start(), tool_input(0, "{}"), stop("tool_use")]);
    let events = parse_sse(&run(false, [&body[..]]));
    assert!(only_error(&events)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("toolUse start"));
}

#[test]
fn reasoning_and_escapes() {
    let body = stream(&[
        message_start(),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think \"hard\"\n"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "AAAA"}}}),
        ),
        text(1, "line1\nline2 \u{e9}\u{1F600} </script>"),
        stop("end_turn"),
    ]);
    let events = parse_sse(&run(false, [&body[..]]));
    let c = chunks_of(&events);
    // Role, reasoning, text, finish: signature and redacted reasoning have no OpenAI field.
    assert_eq!(c.len(), 4, "{events:?}");
    assert_eq!(
        c[1]["choices"][0]["delta"],
        json!({"reasoning_content": "think \"hard\"\n"})
    );
    assert_eq!(
        c[2]["choices"][0]["delta"]["content"],
        "line1\nline2 \u{e9}\u{1F600} </script>"
    );
}

#[test]
fn missing_message_start_still_opens_with_the_role() {
    let body = stream(&[text(0, "a"), stop("end_turn")]);
    let events = parse_sse(&run(false, [&body[..]]));
    let c = chunks_of(&events);
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(c[1]["choices"][0]["delta"]["content"], "a");
    assert_eq!(
        c.iter()
            .filter(|c| c["choices"][0]["delta"].get("role").is_some())
            .count(),
        1
    );
}

#[test]
fn exception_with_non_json_payload_still_maps() {
    let mut frame = Vec::new();
    encode(
        &[
            string_header(":message-type", "exception"),
            string_header(":exception-type", "serviceUnavailableException"),
        ],
        b"<html>oops</html>",
        &mut frame,
    )
    .unwrap();
    let events = parse_sse(&run(true, [&frame[..]]));
    let err = only_error(&events);
    assert_eq!(err["error"]["type"], "service_unavailable_error");
    assert_eq!(err["error"]["code"], "ServiceUnavailableException");
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

fn run_with(output: OutputMode, body: &[u8]) -> Vec<Sse> {
    let mut t = StreamTranslator::new(StreamOptions {
        output,
        ..opts(false)
    });
    parse_sse(&[t.feed(body), t.finish()].concat())
}

fn finish_of(events: &[Sse]) -> Value {
    chunks_of(events)
        .into_iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(Value::from))
        .unwrap()
}

fn content_of(events: &[Sse]) -> String {
    chunks_of(events)
        .into_iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn tool_calls_of(events: &[Sse]) -> Vec<Value> {
    chunks_of(events)
        .into_iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .cloned()
        .collect()
}

#[test]
fn parallel_tool_calls_get_indices_0_and_1() {
    let body = stream(&[
        message_start(),
        tool_start(0, "tooluse_a", "get_weather"),
        tool_input(0, "{\"city\":\"Paris\"}"),
        block_stop(0),
        tool_start(1, "tooluse_b", "get_weather"),
        tool_input(1, "{\"city\":"),
        tool_input(1, "\"Rome\"}"),
        block_stop(1),
        stop("tool_use"),
    ]);
    let events = run_with(OutputMode::default(), &body);
    let calls = tool_calls_of(&events);
    let starts: Vec<(u64, &str)> = calls
        .iter()
        .filter(|c| c.get("id").is_some())
        .map(|c| (c["index"].as_u64().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(starts, [(0, "tooluse_a"), (1, "tooluse_b")]);
    let args = |i: u64| -> String {
        calls
            .iter()
            .filter(|c| c["index"] == i)
            .filter_map(|c| c["function"]["arguments"].as_str())
            .collect()
    };
    assert_eq!(args(0), "{\"city\":\"Paris\"}");
    assert_eq!(args(1), "{\"city\":\"Rome\"}");
    assert_eq!(finish_of(&events), "tool_calls");
}

#[test]
fn the_json_tool_streams_as_content_with_a_normal_stop() {
    let body = stream(&[
        message_start(),
        tool_start(0, "t1", JSON_TOOL),
        tool_input(0, "{\"name\":"),
        tool_input(0, "\"Paris\"}"),
        block_stop(0),
        stop("tool_use"),
    ]);
    let events = run_with(
        OutputMode {
            json_tool: Some(JSON_TOOL.into()),
            ..OutputMode::default()
        },
        &body,
    );
    assert_eq!(content_of(&events), "{\"name\":\"Paris\"}");
    assert!(tool_calls_of(&events).is_empty());
    assert_eq!(finish_of(&events), "stop");
    assert_eq!(events.last(), Some(&Sse::Done));
}

#[test]
fn dropped_tool_calls_never_reach_the_client() {
    let body = stream(&[
        message_start(),
        text(0, "Sunny."),
        block_stop(0),
        tool_start(1, "t1", "get_weather"),
        tool_input(1, "{}"),
        block_stop(1),
        stop("tool_use"),
    ]);
    let events = run_with(
        OutputMode {
            drop_tool_calls: true,
            ..OutputMode::default()
        },
        &body,
    );
    assert_eq!(content_of(&events), "Sunny.");
    assert!(tool_calls_of(&events).is_empty());
    assert_eq!(finish_of(&events), "stop");
}

/// The same recorded stream as a legacy completion (`text_completion` chunks): text only, at
/// every split, with the tool-use stop read as `stop` and the echoed prompt first.
#[test]
fn capture_as_text_completion_at_every_split() {
    let body = capture();
    let translate = |split: usize| {
        let mut t = StreamTranslator::new(StreamOptions {
            id: "cmpl-replay".into(),
            model: "m".into(),
            created: 1,
            include_usage: true,
            output: Default::default(),
            format: OutputFormat::Completion {
                echo: Some("Prompt: ".into()),
            },
        });
        let mut out = Vec::new();
        for c in body.chunks(split) {
            out.extend(t.feed(c));
        }
        out.extend(t.finish());
        out
    };
    let whole = translate(body.len());
    let events = parse_sse(&whole);
    assert_eq!(events.last(), Some(&Sse::Done));
    let chunks: Vec<&Value> = events
        .iter()
        .filter_map(|e| match e {
            Sse::Chunk(v) => Some(v),
            _ => None,
        })
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "text_completion");
        if let Some(choice) = c["choices"].get(0) {
            assert_eq!(
                choice.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["finish_reason", "index", "logprobs", "text"]
            );
        }
    }
    assert_eq!(chunks[0]["choices"][0]["text"], "Prompt: ");
    let with_choice: Vec<_> = chunks
        .iter()
        .filter(|c| c["choices"].get(0).is_some())
        .collect();
    assert_eq!(
        with_choice.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    for split in [1, 2, 3, 7, 64, 1000] {
        assert_eq!(translate(split), whole, "split {split}");
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy function calling: the same translator, answering in `delta.function_call`.

fn legacy() -> OutputMode {
    OutputMode {
        legacy_functions: true,
        ..OutputMode::default()
    }
}

fn run_legacy<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut t = StreamTranslator::new(StreamOptions {
        output: legacy(),
        ..opts(true)
    });
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    assert!(t.is_finished());
    out
}

fn function_calls_of(events: &[Sse]) -> Vec<Value> {
    chunks_of(events)
        .into_iter()
        .filter_map(|c| c["choices"][0]["delta"].get("function_call").cloned())
        .collect()
}

/// The recorded text + `cosine` toolUse stream, with the legacy flag: text as before, then
/// `delta.function_call` (name first, then argument fragments), no `tool_calls`, finish
/// `function_call`; the same bytes at every split, every chunk schema-valid.
#[test]
fn capture_in_legacy_function_call_form_at_every_split() {
    let body = capture();
    let whole = run_legacy([&body[..]]);
    let events = parse_sse(&whole);
    assert_eq!(events.last(), Some(&Sse::Done));
    assert_eq!(content_of(&events), EXPECTED_TEXT);
    assert!(tool_calls_of(&events).is_empty());
    let calls = function_calls_of(&events);
    assert_eq!(calls[0], json!({"name": "cosine", "arguments": ""}));
    for c in &calls[1..] {
        assert!(c.get("name").is_none(), "{c}");
    }
    let args: String = calls
        .iter()
        .map(|c| c["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"x": 7})
    );
    assert_eq!(args, r#"{"x": 7}"#);
    assert_eq!(finish_of(&events), "function_call");
    let finishes: Vec<&Value> = chunks_of(&events)
        .into_iter()
        .filter(|c| {
            c["choices"]
                .get(0)
                .is_some_and(|ch| !ch["finish_reason"].is_null())
        })
        .collect();
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["choices"][0]["delta"], json!({}));

    let spec = openapi();
    for c in chunks_of(&events) {
        let errors = schema_errors(&spec, "CreateChatCompletionStreamResponse", c);
        assert!(errors.is_empty(), "{errors:?}\n{c}");
    }

    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert!(run_legacy([a, b]) == whole, "split at {at}");
    }
    for size in 1..=300 {
        assert!(run_legacy(body.chunks(size)) == whole, "chunk size {size}");
    }
}

/// Two toolUse blocks: the legacy form carries the first; the second never reaches the client.
#[test]
fn legacy_form_keeps_only_the_first_call() {
    let body = stream(&[
        message_start(),
        tool_start(0, "tooluse_a", "get_weather"),
        tool_input(0, "{\"city\":"),
        tool_input(0, "\"Paris\"}"),
        block_stop(0),
        tool_start(1, "tooluse_b", "get_time"),
        tool_input(1, "{\"zone\":\"UTC\"}"),
        block_stop(1),
        stop("tool_use"),
    ]);
    for size in [1, 7, body.len()] {
        let mut t = StreamTranslator::new(StreamOptions {
            output: legacy(),
            ..opts(false)
        });
        let mut out = Vec::new();
        for c in body.chunks(size) {
            out.extend(t.feed(c));
        }
        out.extend(t.finish());
        let events = parse_sse(&out);
        let calls = function_calls_of(&events);
        assert_eq!(calls[0]["name"], "get_weather");
        assert_eq!(
            calls.iter().filter(|c| c.get("name").is_some()).count(),
            1,
            "{calls:?}"
        );
        let args: String = calls
            .iter()
            .map(|c| c["arguments"].as_str().unwrap())
            .collect();
        assert_eq!(args, "{\"city\":\"Paris\"}");
        assert!(tool_calls_of(&events).is_empty());
        assert_eq!(finish_of(&events), "function_call");
    }
    // `function_call: "none"` with history: the call is dropped, a normal stop.
    let events = run_with(
        OutputMode {
            drop_tool_calls: true,
            ..legacy()
        },
        &body,
    );
    assert!(function_calls_of(&events).is_empty());
    assert_eq!(finish_of(&events), "stop");
}
