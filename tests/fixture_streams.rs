//! The generated event-stream fixture `tests/fixtures/eventstream/converse-stream-text-tooluse.bin`
//! is exactly what `support::generate_tooluse_stream` writes (regenerate it with
//! `BLESS=1 cargo test --test fixture_streams`), and it has the layout of a real Bedrock
//! ConverseStream answer with text then a tool call. `make conformance` also compares that
//! layout with a real recorded answer (`tests/conformance.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use bedrock_openai_filter::event_stream::Decoder;
use serde_json::Value;

#[test]
fn committed_fixture_is_what_the_generator_writes() {
    let generated = support::generate_tooluse_stream();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(support::TOOLUSE_STREAM_PATH, &generated).unwrap();
    }
    let committed = support::tooluse_stream();
    assert!(
        committed == generated,
        "{} differs from support::generate_tooluse_stream(): regenerate it with \
         `BLESS=1 cargo test --test fixture_streams` and review the golden SSE diffs",
        support::TOOLUSE_STREAM_PATH
    );
}

/// (event type, payload) of every frame, decoded with our decoder (CRCs checked).
fn decoded(body: &[u8]) -> Vec<(String, Value)> {
    let mut dec = Decoder::new();
    let mut frames = dec.feed(body);
    let mut out = Vec::new();
    while let Some(m) = frames.next_message().unwrap() {
        let names: Vec<&str> = m.headers.iter().map(|h| h.name).collect();
        assert_eq!(names, [":event-type", ":content-type", ":message-type"]);
        assert_eq!(m.headers.get_str(":message-type"), Some("event"));
        assert_eq!(m.headers.get_str(":content-type"), Some("application/json"));
        out.push((
            m.headers.get_str(":event-type").unwrap().to_string(),
            serde_json::from_slice(m.payload).unwrap(),
        ));
    }
    drop(frames);
    assert_eq!(dec.buffered_len(), 0);
    out
}

#[test]
fn fixture_has_the_layout_of_a_real_text_then_tool_answer() {
    let body = support::tooluse_stream();
    let events = decoded(&body);
    assert_eq!(events.len(), 25);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, support::tooluse_event_types());
    // Every event carries Bedrock's padding, of more than one length.
    let pads: std::collections::BTreeSet<usize> = events
        .iter()
        .map(|(_, p)| p["p"].as_str().expect("padding").len())
        .collect();
    assert!(pads.len() > 10, "{pads:?}");
    let text: String = events[1..=17]
        .iter()
        .map(|(_, p)| {
            assert_eq!(p["contentBlockIndex"], 0);
            p["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, support::TOOLUSE_TEXT_DELTAS.concat());
    assert_eq!(events[18].1["contentBlockIndex"], 0);
    let tool = &events[19].1;
    assert_eq!(tool["contentBlockIndex"], 1);
    assert_eq!(tool["start"]["toolUse"]["name"], support::TOOLUSE_NAME);
    assert_eq!(tool["start"]["toolUse"]["toolUseId"], support::TOOLUSE_ID);
    assert_eq!(events[20].1["delta"]["toolUse"]["input"], "");
    assert_eq!(
        events[21].1["delta"]["toolUse"]["input"],
        support::TOOLUSE_INPUT_DELTAS[1]
    );
    assert_eq!(events[22].1["contentBlockIndex"], 1);
    assert_eq!(events[23].1["stopReason"], "tool_use");
    let meta = &events[24].1;
    let (i, o, t) = support::TOOLUSE_USAGE;
    assert_eq!(meta["usage"]["inputTokens"], i);
    assert_eq!(meta["usage"]["outputTokens"], o);
    assert_eq!(meta["usage"]["totalTokens"], t);
    assert!(meta["metrics"]["latencyMs"].is_u64());
    assert_eq!(meta["serviceTier"]["type"], "default");
    // Frames stay below 300 bytes (the replay tests try every chunk size up to 300).
    let largest = support::frames(&body)
        .iter()
        .map(|f| f.len())
        .max()
        .unwrap();
    assert!(largest < 300, "{largest}");
}
