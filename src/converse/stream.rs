//! ConverseStream events, one variant per `:event-type` (botocore shape
//! `ConverseStreamOutput`; <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html>),
//! and the routing of an event-stream message on `:message-type`.
//!
//! Every type ignores unknown fields: real events carry a random-length `"p"` padding field,
//! and Bedrock adds members over time. Strings borrow from the frame payload where JSON
//! escaping allows.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::usage::TokenUsage;
use crate::event_stream::Message;

/// `Option<Cow<str>>` that borrows from the payload when it can. serde's `borrow` attribute
/// only borrows a bare `Cow<str>` (serde-rs/serde#1497); behind an `Option` it always copies.
fn borrow_opt<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
}

/// `messageStart` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_MessageStartEvent.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStartEvent<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
}

/// `contentBlockStart` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlockStartEvent.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent<'a> {
    pub content_block_index: u32,
    #[serde(default, borrow)]
    pub start: ContentBlockStart<'a>,
}

/// `ContentBlockStart` union; only `toolUse` is translated (`toolResult`, only ever a server
/// tool's, and `image` are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlockStart<'a>>,
}

/// `ToolUseBlockStart` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolUseBlockStart.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlockStart<'a> {
    #[serde(borrow)]
    pub tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// `ToolUseType`: `server_tool_use` for a tool Bedrock runs itself (its `toolResult`
    /// block follows), absent or `tool_use` for the client's.
    #[serde(
        default,
        rename = "type",
        borrow,
        deserialize_with = "borrow_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<Cow<'a, str>>,
}

impl ToolUseBlockStart<'_> {
    pub fn is_server_tool(&self) -> bool {
        self.kind.as_deref() == Some(crate::converse::response::SERVER_TOOL_USE)
    }
}

/// `contentBlockDelta` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlockDeltaEvent.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent<'a> {
    pub content_block_index: u32,
    #[serde(borrow)]
    pub delta: ContentBlockDelta<'a>,
}

/// `ContentBlockDelta` union (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlockDelta.html>).
/// A struct of options rather than an enum so that members we do not translate
/// (`toolResult`, `image`) parse as "nothing set" instead of failing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "borrow_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlockDelta<'a>>,
    /// Boxed, as `citation` is: rare members kept out of line make the event small enough
    /// to be moved in registers, not copied, on its way out of the parse (every text delta).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Box<ReasoningContentBlockDelta<'a>>>,
    /// `CitationsDelta`: one citation of the text of this block, as Bedrock sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citation: Option<Box<serde_json::Value>>,
}

/// `ToolUseBlockDelta`: a fragment of the tool input JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlockDelta<'a> {
    #[serde(borrow)]
    pub input: Cow<'a, str>,
}

/// `ReasoningContentBlockDelta` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ReasoningContentBlockDelta.html>).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContentBlockDelta<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "borrow_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub text: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "borrow_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature: Option<Cow<'a, str>>,
    /// Base64 `Blob` on the wire.
    #[serde(
        default,
        borrow,
        deserialize_with = "borrow_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub redacted_content: Option<Cow<'a, str>>,
}

/// `contentBlockStop` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlockStopEvent.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStopEvent {
    pub content_block_index: u32,
}

/// `messageStop` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_MessageStopEvent.html>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent<'a> {
    #[serde(borrow)]
    pub stop_reason: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<serde_json::Value>,
}

/// `metadata` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamMetadataEvent.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataEvent {
    pub usage: TokenUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<StreamMetrics>,
    /// `ConverseStreamTrace`: the guardrail's assessment, when its `trace` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<serde_json::Value>,
    #[serde(
        default,
        rename = "performanceConfig",
        skip_serializing_if = "Option::is_none"
    )]
    pub performance_config: Option<crate::converse::response::PerformanceOut>,
    /// The tier that served the request.
    #[serde(
        default,
        rename = "serviceTier",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_tier: Option<crate::converse::response::ServiceTierOut>,
}

/// `ConverseStreamMetrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetrics {
    pub latency_ms: u64,
}

/// One ConverseStream event, by `:event-type`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent<'a> {
    MessageStart(MessageStartEvent<'a>),
    ContentBlockStart(ContentBlockStartEvent<'a>),
    ContentBlockDelta(ContentBlockDeltaEvent<'a>),
    ContentBlockStop(ContentBlockStopEvent),
    MessageStop(MessageStopEvent<'a>),
    /// Boxed: once per stream, and the largest event (see [`ContentBlockDelta`]).
    Metadata(Box<MetadataEvent>),
}

/// What one event-stream message carried.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMessage<'a> {
    Event(StreamEvent<'a>),
    /// An `:event-type` this version does not know: skipped, so new Bedrock events do not
    /// break old filters.
    UnknownEvent(&'a str),
    /// `:message-type: exception`: a modeled error such as `throttlingException` or
    /// `modelStreamErrorException`, with the payload's `message`.
    Exception {
        exception_type: &'a str,
        message: Cow<'a, str>,
    },
    /// `:message-type: error`: an unmodeled service error from the headers.
    Error {
        code: &'a str,
        message: &'a str,
    },
}

/// A message that cannot be routed or parsed.
#[derive(Debug)]
pub enum DecodeError {
    /// A routing header is absent or not a string.
    MissingHeader(&'static str),
    UnknownMessageType(String),
    /// The payload of a known event is not the JSON its type needs.
    Json {
        event_type: &'static str,
        source: serde_json::Error,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::MissingHeader(name) => write!(f, "missing string header {name}"),
            DecodeError::UnknownMessageType(t) => write!(f, "unknown message type {t:?}"),
            DecodeError::Json { event_type, source } => {
                write!(f, "invalid {event_type} payload: {source}")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Exception payloads: `{"message": ...}` (some services spell it `Message`).
#[derive(Deserialize)]
struct ExceptionBody<'a> {
    #[serde(default, borrow, alias = "Message")]
    message: Option<Cow<'a, str>>,
}

fn json<'a, T: Deserialize<'a>>(
    event_type: &'static str,
    payload: &'a [u8],
) -> Result<T, DecodeError> {
    serde_json::from_slice(payload).map_err(|source| DecodeError::Json { event_type, source })
}

fn header<'a>(msg: &Message<'a>, name: &'static str) -> Result<&'a str, DecodeError> {
    msg.headers
        .get_str(name)
        .ok_or(DecodeError::MissingHeader(name))
}

/// Routes a message on `:message-type` (as smithy's `parse_response_headers` does) and parses
/// its payload. An exception whose payload is not JSON still reports the exception, with an
/// empty message: the type alone decides the status.
pub fn decode_message<'a>(msg: &Message<'a>) -> Result<StreamMessage<'a>, DecodeError> {
    match header(msg, ":message-type")? {
        "event" => {
            let p = msg.payload;
            let event = match header(msg, ":event-type")? {
                "messageStart" => StreamEvent::MessageStart(json("messageStart", p)?),
                "contentBlockStart" => {
                    StreamEvent::ContentBlockStart(json("contentBlockStart", p)?)
                }
                "contentBlockDelta" => {
                    StreamEvent::ContentBlockDelta(json("contentBlockDelta", p)?)
                }
                "contentBlockStop" => StreamEvent::ContentBlockStop(json("contentBlockStop", p)?),
                "messageStop" => StreamEvent::MessageStop(json("messageStop", p)?),
                "metadata" => StreamEvent::Metadata(json("metadata", p)?),
                other => return Ok(StreamMessage::UnknownEvent(other)),
            };
            Ok(StreamMessage::Event(event))
        }
        "exception" => {
            let exception_type = header(msg, ":exception-type")?;
            let message = serde_json::from_slice::<ExceptionBody<'a>>(msg.payload)
                .ok()
                .and_then(|b| b.message)
                .unwrap_or_default();
            Ok(StreamMessage::Exception {
                exception_type,
                message,
            })
        }
        "error" => Ok(StreamMessage::Error {
            code: header(msg, ":error-code")?,
            message: msg.headers.get_str(":error-message").unwrap_or_default(),
        }),
        other => Err(DecodeError::UnknownMessageType(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_stream::{encode_to_vec, Decoder, Header, HeaderValue};

    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let h: Vec<Header<'_>> = headers
            .iter()
            .map(|(n, v)| Header {
                name: n,
                value: HeaderValue::String(v),
            })
            .collect();
        encode_to_vec(&h, payload).unwrap()
    }

    /// Decodes one frame and routes it.
    fn route(headers: &[(&str, &str)], payload: &[u8]) -> Result<String, DecodeError> {
        let bytes = frame(headers, payload);
        let mut dec = Decoder::new();
        let mut frames = dec.feed(&bytes);
        let msg = frames.next_message().unwrap().unwrap();
        decode_message(&msg).map(|m| format!("{m:?}"))
    }

    fn ev(t: &str) -> Vec<(&'static str, &str)> {
        vec![(":message-type", "event"), (":event-type", t)]
    }

    #[test]
    fn events_ignore_padding_and_unknown_members() {
        let got = route(
            &ev("contentBlockDelta"),
            br#"{"p":"abcdef","contentBlockIndex":2,"delta":{"text":"hi \"x\"","future":1}}"#,
        )
        .unwrap();
        assert!(got.contains(r#"text: Some("hi \"x\"")"#), "{got}");
        assert!(got.contains("content_block_index: 2"), "{got}");

        let got = route(
            &ev("metadata"),
            br#"{"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5,"cacheReadInputTokens":1},
                 "metrics":{"latencyMs":7},"serviceTier":{"type":"default"},"p":"x"}"#,
        )
        .unwrap();
        assert!(got.contains("cache_read_input_tokens: 1,"), "{got}");
        assert!(got.contains("latency_ms: 7"), "{got}");
    }

    #[test]
    fn borrowed_unless_escaped() {
        let payload = br#"{"contentBlockIndex":0,"delta":{"text":"plain"}}"#;
        let e: ContentBlockDeltaEvent<'_> = serde_json::from_slice(payload).unwrap();
        assert!(matches!(e.delta.text, Some(Cow::Borrowed("plain"))));
        let payload = br#"{"contentBlockIndex":0,"delta":{"text":"a\nb"}}"#;
        let e: ContentBlockDeltaEvent<'_> = serde_json::from_slice(payload).unwrap();
        assert!(matches!(e.delta.text, Some(Cow::Owned(ref s)) if s == "a\nb"));
    }

    #[test]
    fn routing_on_message_type() {
        assert_eq!(
            route(&ev("somethingNew"), b"{}").unwrap(),
            r#"UnknownEvent("somethingNew")"#
        );
        let got = route(
            &[
                (":message-type", "exception"),
                (":exception-type", "throttlingException"),
            ],
            br#"{"Message":"slow down"}"#,
        )
        .unwrap();
        assert!(
            got.contains(r#"exception_type: "throttlingException""#),
            "{got}"
        );
        assert!(got.contains("slow down"), "{got}");
        let got = route(
            &[
                (":message-type", "error"),
                (":error-code", "InternalFailure"),
                (":error-message", "boom"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(got, r#"Error { code: "InternalFailure", message: "boom" }"#);

        assert_eq!(
            route(&[(":message-type", "weird")], b"")
                .unwrap_err()
                .to_string(),
            r#"unknown message type "weird""#
        );
        assert_eq!(
            route(&[(":event-type", "messageStart")], b"")
                .unwrap_err()
                .to_string(),
            "missing string header :message-type"
        );
        assert_eq!(
            route(&[(":message-type", "event")], b"")
                .unwrap_err()
                .to_string(),
            "missing string header :event-type"
        );
        let e = route(&ev("messageStop"), br#"{"p":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid messageStop payload: missing field `stopReason`"),
            "{e}"
        );
    }

    #[test]
    fn stream_shapes_match_the_botocore_model() {
        // Every member we read exists in the model under that exact name.
        let model = crate::test_support::botocore_model();
        let shapes = &model["shapes"];
        let has = |shape: &str, member: &str| !shapes[shape]["members"][member].is_null();
        for (shape, members) in [
            (
                "ConverseStreamOutput",
                &[
                    "messageStart",
                    "contentBlockStart",
                    "contentBlockDelta",
                    "contentBlockStop",
                    "messageStop",
                    "metadata",
                ][..],
            ),
            ("MessageStartEvent", &["role"]),
            ("ContentBlockStartEvent", &["contentBlockIndex", "start"]),
            ("ContentBlockStart", &["toolUse"]),
            ("ToolUseBlockStart", &["toolUseId", "name"]),
            ("ContentBlockDeltaEvent", &["contentBlockIndex", "delta"]),
            (
                "ContentBlockDelta",
                &["text", "toolUse", "reasoningContent"],
            ),
            ("ToolUseBlockDelta", &["input"]),
            (
                "ReasoningContentBlockDelta",
                &["text", "signature", "redactedContent"],
            ),
            ("ContentBlockStopEvent", &["contentBlockIndex"]),
            (
                "MessageStopEvent",
                &["stopReason", "additionalModelResponseFields"],
            ),
            ("ConverseStreamMetadataEvent", &["usage", "metrics"]),
            (
                "TokenUsage",
                &[
                    "inputTokens",
                    "outputTokens",
                    "totalTokens",
                    "cacheReadInputTokens",
                    "cacheWriteInputTokens",
                ],
            ),
            ("ConverseStreamMetrics", &["latencyMs"]),
        ] {
            for m in members {
                assert!(has(shape, m), "{shape}.{m}");
            }
        }
    }
}
