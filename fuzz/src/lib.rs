//! Helpers shared by the fuzz targets: a fixed plugin config, chunking, and the checks every
//! SSE output must pass.

#[path = "../../tests/support/bedrock_rules.rs"]
pub mod bedrock_rules;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::event_stream::{Decoder, Header, HeaderValue, Message};
use bedrock_openai_filter::headers::{is_safe_value, HeaderList};
use bedrock_openai_filter::pipeline::{bedrock, response};
use bedrock_openai_filter::stream::{OutputFormat, StreamOptions, StreamTranslator};
use bedrock_openai_filter::upstream::{Exchange, UpstreamRequest};

pub fn config() -> Config {
    Config::parse(
        br#"{"api_keys":["sk-fuzz-00000"],"region":"us-east-1",
             "credentials":{"access_key_id":"AKIDFUZZ","secret_access_key":"fuzz-secret","session_token":"tok"},
             "model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"}}"#,
        &|_| None,
    )
    .expect("fixed fuzz config parses")
}

/// Header safety for an accepted request: every header the filter would write (the upstream
/// head with rate-limit descriptors, the downstream head) passes `headers.rs`' check without a
/// single refusal.
pub fn assert_headers_safe(cfg: &Config, tenant: &str, up: &UpstreamRequest, ex: &Exchange) {
    let mut req = HeaderList::default();
    bedrock::upstream_head(&mut req, cfg, tenant, up, ex);
    let mut resp = HeaderList::default();
    response::downstream_head(&mut resp, ex, "fuzz-1", &[]);
    for h in [&req, &resp] {
        assert_eq!(h.refused(), 0, "an unsafe header was asked for: {h:?}");
        assert!(h.changes().all(|(_, v)| v.is_none_or(is_safe_value)));
    }
}

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Splits `bytes` into chunks whose sizes cycle through `sizes` (each taken as 1..=256, or
/// the whole rest when `sizes` is empty).
pub fn chunks<'a>(bytes: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![bytes];
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = (usize::from(sizes[i % sizes.len()]) + 1).min(rest.len());
        i += 1;
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}

/// An owned copy of a decoded message, to compare decodings.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedMessage {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl From<&Message<'_>> for OwnedMessage {
    fn from(m: &Message<'_>) -> Self {
        Self {
            headers: m
                .headers
                .iter()
                .map(|h| (h.name.to_string(), format!("{:?}", h.value)))
                .collect(),
            payload: m.payload.to_vec(),
        }
    }
}

/// Decodes `bytes` fed as `chunks`: the messages, whether it failed, and the bytes left
/// buffered. Checks that the buffer never exceeds `max`.
pub fn decode_all(chunks: &[&[u8]], max: u32) -> (Vec<OwnedMessage>, bool, usize) {
    let mut d = Decoder::with_max_frame_len(max);
    let mut out = Vec::new();
    let mut failed = false;
    'outer: for c in chunks {
        let mut frames = d.feed(c);
        loop {
            match frames.next_message() {
                Ok(Some(m)) => out.push(OwnedMessage::from(&m)),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'outer;
                }
            }
        }
        drop(frames);
        assert!(
            d.buffered_len() <= max as usize,
            "buffer above the frame cap"
        );
    }
    assert_eq!(failed, d.error().is_some());
    (out, failed, d.buffered_len())
}

pub fn string_header<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header {
        name,
        value: HeaderValue::String(value),
    }
}

pub fn options(include_usage: bool) -> StreamOptions {
    StreamOptions {
        id: "chatcmpl-fuzz".into(),
        model: "gpt-4o".into(),
        created: 1_700_000_000,
        include_usage,
        format: OutputFormat::Chat,
        output: Default::default(),
    }
}

/// Options picked by one fuzzer byte: chat or legacy completion chunks (with or without
/// echo), a JSON-answer tool, dropped tool calls, legacy function calling.
pub fn options_from(include_usage: bool, mode: u8) -> StreamOptions {
    let mut o = options(include_usage);
    if mode & 1 != 0 {
        o.format = OutputFormat::Completion {
            echo: (mode & 2 != 0).then(|| "echoed prompt".to_string()),
        };
    }
    if mode & 4 != 0 {
        o.output.json_tool = Some(
            if mode & 8 != 0 {
                "json_response"
            } else {
                "cosine"
            }
            .into(),
        );
    }
    o.output.drop_tool_calls = mode & 16 != 0;
    o.output.legacy_functions = mode & 32 != 0;
    o
}

/// Feeds `chunks`, ends the body, and checks the translator's contract; returns the SSE.
pub fn translate(include_usage: bool, chunks: &[&[u8]]) -> Vec<u8> {
    translate_with(options(include_usage), chunks)
}

/// [`translate`] with any options.
pub fn translate_with(opts: StreamOptions, chunks: &[&[u8]]) -> Vec<u8> {
    let mut t = StreamTranslator::new(opts);
    let mut out = Vec::new();
    for c in chunks {
        out.extend(t.feed(c));
        assert!(
            t.buffered_len() <= bedrock_openai_filter::event_stream::DEFAULT_MAX_FRAME_LEN as usize
        );
    }
    out.extend(t.finish());
    assert!(t.is_finished(), "finish() always ends the stream");
    assert!(t.feed(b"more").is_empty(), "nothing after the end");
    assert!(t.finish().is_empty(), "finish() is idempotent");
    check_sse(&out);
    out
}

/// Every event is `data: <one line>\n\n`; each is a JSON object or `[DONE]`; the stream ends
/// with exactly one terminator (`[DONE]` or one error event), and it is the last event.
pub fn check_sse(sse: &[u8]) {
    let text = std::str::from_utf8(sse).expect("SSE is UTF-8");
    assert!(text.ends_with("\n\n"), "SSE ends with a blank line");
    let events: Vec<&str> = text[..text.len() - 2].split("\n\n").collect();
    let mut terminators = 0;
    for (i, ev) in events.iter().enumerate() {
        let data = ev.strip_prefix("data: ").expect("a data event");
        assert!(!data.contains('\n'), "one line per event");
        let is_terminator = if data == "[DONE]" {
            true
        } else {
            let v: serde_json::Value = serde_json::from_str(data).expect("JSON event");
            assert!(v.is_object());
            if let Some(e) = v.get("error") {
                assert!(e["message"].is_string() && e["type"].is_string(), "{data}");
                true
            } else {
                assert!(
                    v["object"] == "chat.completion.chunk" || v["object"] == "text_completion",
                    "{data}"
                );
                assert!(v["choices"].is_array());
                false
            }
        };
        if is_terminator {
            terminators += 1;
            assert_eq!(i, events.len() - 1, "terminator is the last event");
        }
    }
    assert_eq!(terminators, 1, "exactly one terminator");
}
