//! Inputs shared by the property tests, the memory test, the stream replay tests and the
//! criterion benches (`benches/core.rs` includes this file with `#[path]`): the text + tool-use
//! ConverseStream fixture (generated here, committed under `tests/fixtures/eventstream/`),
//! longer streams built from it, and OpenAI request bodies of a chosen size.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::event_stream::{encode, Header, HeaderValue};
use bedrock_openai_filter::stream::{OutputFormat, StreamOptions, StreamTranslator};
use serde_json::json;

pub mod bedrock_rules;
pub mod botocore;
pub mod openapi;

/// Where the generated text + tool-use stream is committed.
pub const TOOLUSE_STREAM_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eventstream/converse-stream-text-tooluse.bin"
);

/// The 17 text deltas of block 0 of the fixture.
pub const TOOLUSE_TEXT_DELTAS: [&str; 17] = [
    "Sure",
    "! To",
    " convert 30",
    " degrees",
    " Celsius to",
    " Fahrenheit",
    ",",
    " I'll",
    " call",
    " the",
    " \"",
    "convert_temperature\"",
    " tool",
    " with",
    " that",
    " value",
    ".",
];
/// The tool call in block 1: id, name, and its two input deltas (the first one empty).
pub const TOOLUSE_ID: &str = "tooluse_Xq3vB8nLr2TzK0pWd5YhJA";
pub const TOOLUSE_NAME: &str = "convert_temperature";
pub const TOOLUSE_INPUT_DELTAS: [&str; 2] = ["", r#"{"celsius": 30}"#];
/// `metadata.usage`: input, output, total tokens.
pub const TOOLUSE_USAGE: (u64, u64, u64) = (412, 58, 470);

/// The fixture's event types in order: 25 frames, as a real Claude ConverseStream answer with
/// text then a tool call is laid out.
pub fn tooluse_event_types() -> Vec<&'static str> {
    let mut t = vec!["messageStart"];
    t.extend(["contentBlockDelta"; 17]);
    t.extend([
        "contentBlockStop",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]);
    t
}

/// The committed text + tool-use ConverseStream body (25 frames; see
/// `tests/fixtures/eventstream/README.md`). `tests/fixture_streams.rs` proves it is exactly
/// what [`generate_tooluse_stream`] writes.
pub fn tooluse_stream() -> Vec<u8> {
    std::fs::read(TOOLUSE_STREAM_PATH).unwrap_or_else(|e| panic!("{TOOLUSE_STREAM_PATH}: {e}"))
}

/// Writes the text + tool-use stream with our encoder, shaped like a real Bedrock answer:
/// `messageStart`, 17 text `contentBlockDelta`s in block 0, `contentBlockStop`, a
/// `contentBlockStart` with a `toolUse` in block 1, two `toolUse.input` deltas (`""` first),
/// `contentBlockStop`, `messageStop` (`tool_use`), `metadata` (usage, `metrics.latencyMs`,
/// `serviceTier`). Like Bedrock, every event carries a `"p"` padding field of varying length
/// (a prefix of `a-zA-Z0-9`), and payload keys are in sorted order. Payloads are written as
/// text, so the bytes do not depend on serde_json's map features.
pub fn generate_tooluse_stream() -> Vec<u8> {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // xorshift64 with a fixed seed: padding lengths 1..=60, the same on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut pad = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 60) as usize + 1;
        serde_json::to_string(&ALPHABET[..len]).unwrap()
    };
    let s = |v: &str| serde_json::to_string(v).unwrap();
    let mut payloads: Vec<(&str, String)> = Vec::new();
    payloads.push((
        "messageStart",
        format!(r#"{{"p":{},"role":"assistant"}}"#, pad()),
    ));
    for text in TOOLUSE_TEXT_DELTAS {
        payloads.push((
            "contentBlockDelta",
            format!(
                r#"{{"contentBlockIndex":0,"delta":{{"text":{}}},"p":{}}}"#,
                s(text),
                pad()
            ),
        ));
    }
    payloads.push((
        "contentBlockStop",
        format!(r#"{{"contentBlockIndex":0,"p":{}}}"#, pad()),
    ));
    payloads.push((
        "contentBlockStart",
        format!(
            r#"{{"contentBlockIndex":1,"p":{},"start":{{"toolUse":{{"name":{},"toolUseId":{}}}}}}}"#,
            pad(),
            s(TOOLUSE_NAME),
            s(TOOLUSE_ID)
        ),
    ));
    for input in TOOLUSE_INPUT_DELTAS {
        payloads.push((
            "contentBlockDelta",
            format!(
                r#"{{"contentBlockIndex":1,"delta":{{"toolUse":{{"input":{}}}}},"p":{}}}"#,
                s(input),
                pad()
            ),
        ));
    }
    payloads.push((
        "contentBlockStop",
        format!(r#"{{"contentBlockIndex":1,"p":{}}}"#, pad()),
    ));
    payloads.push((
        "messageStop",
        format!(r#"{{"p":{},"stopReason":"tool_use"}}"#, pad()),
    ));
    let (input, output, total) = TOOLUSE_USAGE;
    payloads.push((
        "metadata",
        format!(
            r#"{{"metrics":{{"latencyMs":1532}},"p":{},"serviceTier":{{"type":"default"}},"usage":{{"inputTokens":{input},"outputTokens":{output},"totalTokens":{total}}}}}"#,
            pad()
        ),
    ));
    let mut out = Vec::new();
    for (event_type, payload) in payloads {
        encode(
            &[
                string_header(":event-type", event_type),
                string_header(":content-type", "application/json"),
                string_header(":message-type", "event"),
            ],
            payload.as_bytes(),
            &mut out,
        )
        .unwrap();
    }
    out
}

/// Frame boundaries of a valid event-stream body, from each prelude's total length.
pub fn frames(body: &[u8]) -> Vec<&[u8]> {
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

/// The tool-use fixture with its 17 text-delta frames (frames 1..=17) repeated `repeat` times:
/// a longer answer made of the fixture's frames. `repeat = 1` is the fixture itself.
pub fn long_stream(repeat: usize) -> Vec<u8> {
    let cap = tooluse_stream();
    let f = frames(&cap);
    assert_eq!(f.len(), 25, "fixture layout changed");
    let mut out = Vec::with_capacity(cap.len() * repeat);
    out.extend_from_slice(f[0]);
    for _ in 0..repeat {
        for d in &f[1..=17] {
            out.extend_from_slice(d);
        }
    }
    for t in &f[18..] {
        out.extend_from_slice(t);
    }
    out
}

fn string_header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header {
        name,
        value: HeaderValue::String(value),
    }
}

/// A Bedrock `event` frame, re-encoded with our encoder.
pub fn event_frame(event_type: &str, payload: &serde_json::Value, out: &mut Vec<u8>) {
    encode(
        &[
            string_header(":event-type", event_type),
            string_header(":content-type", "application/json"),
            string_header(":message-type", "event"),
        ],
        &serde_json::to_vec(payload).unwrap(),
        out,
    )
    .unwrap();
}

/// A synthetic stream: messageStart, `deltas` text deltas of `text_len` bytes each,
/// contentBlockStop, messageStop, metadata. Frames are re-encoded, so any size works.
pub fn synthetic_stream(deltas: usize, text_len: usize) -> Vec<u8> {
    let text: String = "lorem ipsum dolor sit amet, consectetur adipiscing elit "
        .chars()
        .cycle()
        .take(text_len)
        .collect();
    let mut out = Vec::new();
    event_frame(
        "messageStart",
        &json!({"role": "assistant", "p": "abcdef"}),
        &mut out,
    );
    let delta = {
        let mut one = Vec::new();
        event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcdefghijk"}),
            &mut one,
        );
        one
    };
    for _ in 0..deltas {
        out.extend_from_slice(&delta);
    }
    event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0, "p": "ab"}),
        &mut out,
    );
    event_frame(
        "messageStop",
        &json!({"stopReason": "end_turn", "p": "abcd"}),
        &mut out,
    );
    event_frame(
        "metadata",
        &json!({"usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30},
                "metrics": {"latencyMs": 100}, "p": "abc"}),
        &mut out,
    );
    out
}

/// Reasoning text (two deltas, with escapes), its signature and a redacted block, then Nova's
/// server tool (a `server_tool_use` toolUse and its `toolResult`), the answer text and a call
/// of the client's tool: every delta kind the thinking and server-tool translation reads.
pub fn reasoning_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let mut ev = |t: &str, v: serde_json::Value| event_frame(t, &v, &mut out);
    ev("messageStart", json!({"role": "assistant", "p": "ab"}));
    for text in REASONING_DELTAS {
        ev(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": text}}, "p": "a"}),
        );
    }
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": REASONING_SIGNATURE}}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 0}));
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": REDACTED_DATA}}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 1}));
    ev(
        "contentBlockStart",
        json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_s",
               "name": "nova_code_interpreter", "type": "server_tool_use"}}}),
    );
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"snippet\":\"6*7\"}"}}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 2}));
    ev(
        "contentBlockStart",
        json!({"contentBlockIndex": 3, "start": {"toolResult": {"toolUseId": "tooluse_s",
               "type": "nova_code_interpreter_result", "status": "success"}}}),
    );
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 3, "delta": {"toolResult": [{"json": {"stdOut": "42"}}]}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 3}));
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 4, "delta": {"text": "It is 42."}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 4}));
    ev(
        "contentBlockStart",
        json!({"contentBlockIndex": 5, "start": {"toolUse": {"toolUseId": "tooluse_c", "name": "record"}}}),
    );
    ev(
        "contentBlockDelta",
        json!({"contentBlockIndex": 5, "delta": {"toolUse": {"input": "{\"n\":42}"}}}),
    );
    ev("contentBlockStop", json!({"contentBlockIndex": 5}));
    ev("messageStop", json!({"stopReason": "tool_use"}));
    ev(
        "metadata",
        json!({"usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}, "metrics": {"latencyMs": 3}}),
    );
    out
}

/// A stream answering from a document with citations (ConverseStream's `citation` deltas):
/// text, then a cited block (its citation, then its text), then text again.
pub fn citations_stream() -> Vec<u8> {
    let mut out = Vec::new();
    event_frame(
        "messageStart",
        &json!({"role": "assistant", "p": "ab"}),
        &mut out,
    );
    let delta = |block: u32, delta: serde_json::Value, out: &mut Vec<u8>| {
        event_frame(
            "contentBlockDelta",
            &json!({"contentBlockIndex": block, "delta": delta, "p": "abc"}),
            out,
        );
    };
    delta(0, json!({"text": "According to the notes, "}), &mut out);
    event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0}),
        &mut out,
    );
    delta(
        1,
        json!({"citation": {"title": "notes", "sourceContent": [{"text": "The grass is green."}],
               "location": {"documentChar": {"documentIndex": 0, "start": 0, "end": 19}}}}),
        &mut out,
    );
    delta(1, json!({"text": "the grass is green"}), &mut out);
    event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 1}),
        &mut out,
    );
    delta(2, json!({"text": "."}), &mut out);
    event_frame(
        "contentBlockStop",
        &json!({"contentBlockIndex": 2}),
        &mut out,
    );
    event_frame("messageStop", &json!({"stopReason": "end_turn"}), &mut out);
    event_frame(
        "metadata",
        &json!({"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}}),
        &mut out,
    );
    out
}

/// The reasoning deltas of [`reasoning_stream`], its signature and its redacted block.
pub const REASONING_DELTAS: [&str; 2] = ["Six \"times\"\n", "seven. \u{e9}"];
pub const REASONING_SIGNATURE: &str = "c2lnbmF0dXJl";
pub const REDACTED_DATA: &str = "cmVkYWN0ZWQ=";

pub fn opts(include_usage: bool) -> StreamOptions {
    StreamOptions {
        id: "chatcmpl-prop".into(),
        model: "anthropic.claude-3-5-sonnet".into(),
        created: 1_700_000_000,
        include_usage,
        format: OutputFormat::Chat,
        output: Default::default(),
    }
}

/// Feeds `chunks` in order, then ends the body; everything the client would receive.
pub fn translate<'a>(include_usage: bool, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut t = StreamTranslator::new(opts(include_usage));
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    out
}

/// The configuration the benches and fuzz targets sign with (static credentials, no env).
pub fn config() -> Config {
    Config::parse(
        br#"{"api_keys":["sk-bench-0000"],"region":"us-east-1",
             "credentials":{"access_key_id":"AKIDBENCH","secret_access_key":"bench-secret"},
             "model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"}}"#,
        &|_| None,
    )
    .unwrap()
}

/// An OpenAI chat request of about `target` bytes: a system prompt, then alternating
/// user/assistant turns of ~400-byte texts (the last one a user turn).
pub fn chat_body(target: usize, stream: bool) -> Vec<u8> {
    let para = "The quick brown fox jumps over the lazy dog; Bedrock answers in kind. ";
    let text: String = para.chars().cycle().take(400).collect();
    let mut messages = vec![json!({"role": "system", "content": "You are a helpful assistant."})];
    let mut body = Vec::new();
    let mut turn = 0usize;
    loop {
        let role = if turn.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        };
        messages.push(json!({"role": role, "content": text}));
        turn += 1;
        if turn % 2 == 1 {
            let req = json!({
                "model": "gpt-4o",
                "messages": messages,
                "stream": stream,
                "stream_options": {"include_usage": true},
                "max_tokens": 512,
                "temperature": 0.7,
            });
            body = serde_json::to_vec(&req).unwrap();
            if body.len() + 400 >= target {
                return body;
            }
        }
        if turn > 1_000_000 {
            return body;
        }
    }
}

/// Deterministic random chunkings (xorshift64*, no rand dependency): pieces of 1 to
/// `max_chunk` bytes.
#[allow(dead_code)]
pub fn random_chunks(bytes: &[u8], seed: u64, max_chunk: u64) -> Vec<&[u8]> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = ((next() % max_chunk) as usize + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}
