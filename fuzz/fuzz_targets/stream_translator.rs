//! ConverseStream → SSE with arbitrary chunkings: a sequence of plausible Bedrock events
//! (any order, any strings, reasoning and citation deltas, exceptions, unknown events, raw
//! payloads), optionally one
//! corrupted byte, fed whole and in arbitrary chunks. The output must be identical, valid
//! SSE, with exactly one terminator.
#![no_main]

use arbitrary::Arbitrary;
use bedrock_openai_filter::event_stream::encode;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

#[derive(Debug, Arbitrary)]
enum Delta {
    Text(String),
    ToolInput(String),
    Reasoning(String),
    Signature(String),
    Redacted(String),
    ToolResult(String),
    Citation(Citation),
    Empty,
}

/// A `citation` delta (botocore's `CitationsDelta`): any strings, any numbers, a location of
/// a known kind, an unknown one, or one of the wrong shape.
#[derive(Debug, Arbitrary)]
struct Citation {
    title: Option<String>,
    source: Option<String>,
    cited: Option<Vec<String>>,
    location: Option<(u8, String, u32, u32, u32)>,
}

const LOCATIONS: [&str; 5] = [
    "documentChar",
    "documentPage",
    "documentChunk",
    "searchResultLocation",
    "web",
];

fn citation(c: &Citation) -> Value {
    let mut v = json!({});
    if let Some(t) = &c.title {
        v["title"] = json!(t);
    }
    if let Some(s) = &c.source {
        v["source"] = json!(s);
    }
    if let Some(parts) = &c.cited {
        v["sourceContent"] = parts.iter().take(4).map(|t| json!({"text": t})).collect();
    }
    if let Some((kind, name, a, b, d)) = &c.location {
        let k = usize::from(*kind);
        v["location"] = match LOCATIONS.get(k % 8) {
            Some(&"web") => json!({"web": {"url": name, "domain": name}}),
            Some(&"searchResultLocation") => {
                json!({"searchResultLocation": {"searchResultIndex": a, "start": b, "end": d}})
            }
            Some(kind) => json!({ *kind: {"documentIndex": a, "start": b, "end": d} }),
            None if k % 8 == 5 => json!({ name.as_str(): {"x": a} }),
            None if k % 8 == 6 => json!(name),
            None => json!({"documentChar": {"documentIndex": a}, "web": {}}),
        };
    }
    v
}

#[derive(Debug, Arbitrary)]
enum Ev {
    MessageStart(String),
    BlockStart {
        index: u32,
        tool: Option<(String, String)>,
        /// A server tool (`type: server_tool_use`), or its `toolResult` start when no `tool`.
        server: bool,
    },
    BlockDelta {
        index: u32,
        delta: Delta,
    },
    BlockStop(u32),
    MessageStop(u8, String),
    Metadata(u32, u32, u32),
    Exception(u8, String),
    Error(String, String),
    Unknown(String, Vec<u8>),
    Raw(u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    events: Vec<Ev>,
    sizes: Vec<u8>,
    include_usage: bool,
    corrupt: Option<(u16, u8)>,
    truncate: Option<u16>,
    /// Output options: chat or legacy completion, JSON-answer tool, dropped or legacy tool calls.
    mode: u8,
}

const EVENT_TYPES: [&str; 6] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];
const STOPS: [&str; 8] = [
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "model_context_window_exceeded",
];
const EXCEPTIONS: [&str; 6] = [
    "throttlingException",
    "modelStreamErrorException",
    "validationException",
    "internalServerException",
    "serviceUnavailableException",
    "",
];

fn event(out: &mut Vec<u8>, event_type: &str, payload: &[u8]) {
    let h = [
        fuzz::string_header(":event-type", event_type),
        fuzz::string_header(":content-type", "application/json"),
        fuzz::string_header(":message-type", "event"),
    ];
    let _ = encode(&h, payload, out);
}

fn json_event(out: &mut Vec<u8>, event_type: &str, mut v: Value) {
    v["p"] = json!("abcdefgh");
    event(out, event_type, &serde_json::to_vec(&v).unwrap_or_default());
}

fn build(events: &[Ev]) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in events.iter().take(64) {
        match ev {
            Ev::MessageStart(role) => json_event(&mut out, "messageStart", json!({"role": role})),
            Ev::BlockStart {
                index,
                tool,
                server,
            } => {
                let mut start = match tool {
                    // Short names are the ones the options know (JSON-answer tool, `cosine`).
                    Some((id, name)) if name.len() < 2 => {
                        let known = ["cosine", "json_response"][name.len()];
                        json!({"toolUse": {"toolUseId": id, "name": known}})
                    }
                    Some((id, name)) => json!({"toolUse": {"toolUseId": id, "name": name}}),
                    None if *server => {
                        json!({"toolResult": {"toolUseId": "t", "status": "success"}})
                    }
                    None => json!({}),
                };
                if *server && tool.is_some() {
                    start["toolUse"]["type"] = json!("server_tool_use");
                }
                json_event(
                    &mut out,
                    "contentBlockStart",
                    json!({"contentBlockIndex": index % 4, "start": start}),
                )
            }
            Ev::BlockDelta { index, delta } => {
                let d = match delta {
                    Delta::Text(t) => json!({"text": t}),
                    Delta::ToolInput(t) => json!({"toolUse": {"input": t}}),
                    Delta::Reasoning(t) => json!({"reasoningContent": {"text": t}}),
                    Delta::Signature(t) => json!({"reasoningContent": {"signature": t}}),
                    Delta::Redacted(t) => json!({"reasoningContent": {"redactedContent": t}}),
                    Delta::ToolResult(t) => json!({"toolResult": [{"text": t}]}),
                    Delta::Citation(c) => json!({"citation": citation(c)}),
                    Delta::Empty => json!({}),
                };
                json_event(
                    &mut out,
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index % 4, "delta": d}),
                )
            }
            Ev::BlockStop(i) => json_event(
                &mut out,
                "contentBlockStop",
                json!({"contentBlockIndex": i % 4}),
            ),
            Ev::MessageStop(k, s) => {
                let reason = STOPS.get(usize::from(*k)).copied().unwrap_or(s.as_str());
                json_event(&mut out, "messageStop", json!({"stopReason": reason}))
            }
            Ev::Metadata(i, o, t) => json_event(
                &mut out,
                "metadata",
                json!({"usage": {"inputTokens": i, "outputTokens": o, "totalTokens": t},
                       "metrics": {"latencyMs": 1}}),
            ),
            Ev::Exception(k, msg) => {
                let t = EXCEPTIONS[usize::from(*k) % EXCEPTIONS.len()];
                let h = [
                    fuzz::string_header(":exception-type", t),
                    fuzz::string_header(":content-type", "application/json"),
                    fuzz::string_header(":message-type", "exception"),
                ];
                let _ = encode(
                    &h,
                    &serde_json::to_vec(&json!({"message": msg})).unwrap_or_default(),
                    &mut out,
                );
            }
            Ev::Error(code, msg) => {
                let h = [
                    fuzz::string_header(":error-code", code),
                    fuzz::string_header(":error-message", msg),
                    fuzz::string_header(":message-type", "error"),
                ];
                let _ = encode(&h, b"", &mut out);
            }
            Ev::Unknown(t, p) => event(&mut out, t, p),
            Ev::Raw(k, p) => event(
                &mut out,
                EVENT_TYPES[usize::from(*k) % EVENT_TYPES.len()],
                p,
            ),
        }
    }
    out
}

fuzz_target!(|input: Input| {
    let mut stream = build(&input.events);
    if let Some((at, mask)) = input.corrupt {
        if !stream.is_empty() && mask != 0 {
            let at = usize::from(at) % stream.len();
            stream[at] ^= mask;
        }
    }
    if let Some(n) = input.truncate {
        stream.truncate(usize::from(n));
    }
    let opts = || fuzz::options_from(input.include_usage, input.mode);
    let whole = fuzz::translate_with(opts(), &[&stream]);
    let split = fuzz::translate_with(opts(), &fuzz::chunks(&stream, &input.sizes));
    assert_eq!(whole, split, "output depends on chunking");
});
