//! Inputs shared by the property tests, the memory test and the criterion benches
//! (`benches/core.rs` includes this file with `#[path]`): the recorded ConverseStream capture,
//! longer streams built from it, and OpenAI request bodies of a chosen size.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::event_stream::{encode, Header, HeaderValue};
use bedrock_openai_filter::stream::{OutputFormat, StreamOptions, StreamTranslator};
use serde_json::json;

pub mod bedrock_rules;

/// The real Bedrock ConverseStream body (25 frames, 4870 bytes; see its README).
pub fn capture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/captures/converse-stream-claude-text-tooluse.bin"
    ))
    .expect("the capture in ../shared/reference/captures")
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

/// The capture with its 17 text-delta frames (frames 1..=17) repeated `repeat` times: a
/// longer answer made only of real Bedrock frames. `repeat = 1` is the capture itself.
pub fn long_stream(repeat: usize) -> Vec<u8> {
    let cap = capture();
    let f = frames(&cap);
    assert_eq!(f.len(), 25, "capture layout changed");
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
