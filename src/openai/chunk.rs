//! `chat.completion.chunk` objects (OpenAPI `CreateChatCompletionStreamResponse`), and the
//! [`Usage`] block shared with unary `chat.completion` responses.
//!
//! Strings are `Cow` so the stream translator can serialize text borrowed straight from the
//! upstream event, while tests and clients can still deserialize owned chunks. Absent optional
//! fields are omitted, except `finish_reason` (the schema requires it, `null` until the end)
//! and `logprobs` (always `null`, as OpenAI sends it).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `object` value of every chunk.
pub(crate) const CHUNK_OBJECT: &str = "chat.completion.chunk";

/// One streamed chunk (OpenAPI `CreateChatCompletionStreamResponse`,
/// <https://platform.openai.com/docs/api-reference/chat-streaming/streaming>).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub object: Cow<'a, str>,
    pub created: u64,
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl<'a> ChatCompletionChunk<'a> {
    /// A chunk with `object: "chat.completion.chunk"` and no usage.
    pub fn new(id: &'a str, created: u64, model: &'a str, choices: Vec<ChunkChoice<'a>>) -> Self {
        Self {
            id: Cow::Borrowed(id),
            object: Cow::Borrowed(CHUNK_OBJECT),
            created,
            model: Cow::Borrowed(model),
            choices,
            usage: None,
        }
    }
}

/// `choices[]` item of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    #[serde(borrow)]
    pub delta: Delta<'a>,
    /// Always serialized: `null` until the last content chunk.
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    /// Always `null`: Bedrock returns no log probabilities.
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

impl<'a> ChunkChoice<'a> {
    /// Choice 0 (we never ask Bedrock for `n > 1`) carrying `delta`.
    pub fn first(delta: Delta<'a>, finish_reason: Option<&'a str>) -> Self {
        Self {
            index: 0,
            delta,
            finish_reason: finish_reason.map(Cow::Borrowed),
            logprobs: None,
        }
    }
}

/// OpenAPI `ChatCompletionStreamResponseDelta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content: Option<Cow<'a, str>>,
    /// Not in OpenAI's schema; the de-facto field (DeepSeek, vLLM, LiteLLM) for thinking text.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallChunk<'a>>>,
    /// The legacy form of one tool call (requests with `functions`): `name` on the first
    /// fragment, then `arguments` fragments.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionChunk<'a>>,
    /// Not in OpenAI's schema: fragments of the message's `thinking_blocks`, as LiteLLM
    /// streams them (see [`ThinkingFragment`]).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingFragment<'a>>>,
    /// Extension: citations of documents ([`crate::translate::citations`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<serde_json::Value>>,
}

/// One streamed piece of a thinking block, LiteLLM's shape: `{"type": "thinking", "thinking":
/// <text fragment>}` for each piece of reasoning text, `{"type": "thinking", "thinking": "",
/// "signature"}` when the block's signature arrives (which closes the block), and
/// `{"type": "redacted_thinking", "data"}` for a whole redacted block. Concatenating the
/// fragments of one block, up to its signature, gives the block of the unary answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThinkingFragment<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub data: Option<Cow<'a, str>>,
}

impl<'a> ThinkingFragment<'a> {
    /// The pieces of one `reasoningContent` delta: text, signature, redacted data (Bedrock
    /// sends one member per delta; all three are kept if it ever sends more).
    pub fn from_bedrock(
        text: Option<Cow<'a, str>>,
        signature: Option<Cow<'a, str>>,
        redacted: Option<Cow<'a, str>>,
    ) -> Vec<Self> {
        let thinking = |text, signature| Self {
            kind: Cow::Borrowed("thinking"),
            thinking: Some(text),
            signature,
            data: None,
        };
        let mut out = Vec::new();
        if let Some(t) = text {
            out.push(thinking(t, None));
        }
        if let Some(s) = signature {
            out.push(thinking(Cow::Borrowed(""), Some(s)));
        }
        if let Some(d) = redacted {
            out.push(Self {
                kind: Cow::Borrowed("redacted_thinking"),
                data: Some(d),
                ..Self::default()
            });
        }
        out
    }
}

/// OpenAPI `ChatCompletionMessageToolCallChunk`: `id`, `type` and `function.name` only on the
/// first chunk of a call, then argument fragments keyed by `index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallChunk<'a> {
    pub index: u32,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    #[serde(
        rename = "type",
        default,
        borrow,
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub function: FunctionChunk<'a>,
}

/// The `function` object of a tool-call chunk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionChunk<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Cow<'a, str>>,
}

/// OpenAPI `CompletionUsage`, for both the last stream chunk and unary responses.
/// `prompt_tokens` counts every prompt token, cached or not, as OpenAI's does; the details say
/// how many of them came from, or went into, the prompt cache (see `docs/parameters.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Not in OpenAI's schema: calls of tools Bedrock ran itself (Nova's code interpreter),
    /// by tool name; absent when there were none (see `docs/parameters.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tool_use: Option<BTreeMap<String, u64>>,
}

/// OpenAPI `CompletionUsage.prompt_tokens_details`: parts of `prompt_tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Read from the prompt cache (Bedrock's `cacheReadInputTokens`).
    pub cached_tokens: u64,
    /// Written to the prompt cache (Bedrock's `cacheWriteInputTokens`): OpenAI's own name.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// The same count under the name Envoy AI Gateway and LiteLLM emit, which their users'
    /// dashboards read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_creation_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reason_and_logprobs_always_present_other_options_omitted() {
        let c = ChatCompletionChunk::new(
            "id1",
            7,
            "m",
            vec![ChunkChoice::first(Delta::default(), None)],
        );
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":"id1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":null,"logprobs":null}]}"#
        );
        let delta = Delta {
            tool_calls: Some(vec![ToolCallChunk {
                index: 1,
                function: FunctionChunk {
                    name: None,
                    arguments: Some("{}".into()),
                },
                ..ToolCallChunk::default()
            }]),
            ..Delta::default()
        };
        let mut c = ChatCompletionChunk::new(
            "id1",
            7,
            "m",
            vec![ChunkChoice::first(delta, Some("tool_calls"))],
        );
        c.usage = Some(Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            prompt_tokens_details: None,
            server_tool_use: None,
        });
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"finish_reason":"tool_calls""#), "{json}");
        assert!(
            json.ends_with(
                r#""usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
            ),
            "{json}"
        );
        // Round trip.
        let back: ChatCompletionChunk<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
