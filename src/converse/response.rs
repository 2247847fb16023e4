//! The unary Converse response (botocore `shapes.ConverseResponse`;
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>).
//! Unknown fields are ignored so new Bedrock additions never break parsing.

use serde::Deserialize;

pub use super::usage::TokenUsage;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConverseResponse {
    /// Optional here so that a 200 without `output` is reported as an error, not a panic.
    pub output: Option<ConverseOutput>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    /// The tier that served the request.
    #[serde(default)]
    pub service_tier: Option<ServiceTierOut>,
    #[serde(default)]
    pub performance_config: Option<PerformanceOut>,
    /// `ConverseTrace`: the guardrail's assessment, when its `trace` is on.
    #[serde(default)]
    pub trace: Option<serde_json::Value>,
}

/// `ServiceTier` as returned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ServiceTierOut {
    #[serde(rename = "type")]
    pub kind: String,
}

/// `PerformanceConfiguration` as returned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct PerformanceOut {
    #[serde(default)]
    pub latency: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConverseOutput {
    pub message: Option<OutputMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OutputMessage {
    #[serde(default)]
    pub content: Vec<OutputContentBlock>,
}

/// A `ContentBlock` as returned; members we do not translate are kept as absent (a server
/// tool's `toolResult`, say: Bedrock ran the tool and the model already read its result).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutputContentBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningContent>,
    #[serde(default)]
    pub tool_use: Option<ToolUse>,
    /// Text the model wrote from documents, with its citations.
    #[serde(default)]
    pub citations_content: Option<CitationsContent>,
}

/// `ToolUseBlock` as returned: `input` is the tool's arguments as a JSON document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default)]
    pub input: serde_json::Value,
    /// `ToolUseType`: `server_tool_use` for a tool Bedrock ran itself (Nova's code
    /// interpreter); absent (or `tool_use`) for the client's tools.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// The `ToolUseType` of a tool Bedrock ran itself: never a client tool call.
pub const SERVER_TOOL_USE: &str = "server_tool_use";

impl ToolUse {
    pub fn is_server_tool(&self) -> bool {
        self.kind.as_deref() == Some(SERVER_TOOL_USE)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReasoningContent {
    #[serde(default)]
    pub reasoning_text: Option<ReasoningText>,
    /// Reasoning the provider encrypted: a `Blob`, base64 in the JSON body, kept as sent so
    /// the client can hand it back unchanged.
    #[serde(default)]
    pub redacted_content: Option<String>,
}

/// `ReasoningTextBlock`: the signature proves the text came from the model; Anthropic wants
/// both back, unmodified, in the next turn of a tool-use conversation.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReasoningText {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub signature: Option<String>,
}

/// The JSON body of a Bedrock error response: `{"message": ...}` (some services use
/// `Message`), and the error's name when the `x-amzn-errortype` header is missing: `code` /
/// `Code`, else `__type` (botocore's rest-json parser reads them in that order). A member of
/// another JSON type is ignored rather than losing the message.
#[derive(Debug, Clone, Default)]
pub struct ErrorBody {
    pub message: Option<String>,
    /// `code`, `Code` or `__type`, as sent (see [`crate::error::bedrock_error_name`]).
    pub name: Option<String>,
}

impl ErrorBody {
    /// `None` when the body is not a JSON object.
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(|x| x.as_str()))
                .map(str::to_string)
        };
        Some(ErrorBody {
            message: text(&["message", "Message"]),
            name: text(&["code", "Code", "__type"]),
        })
    }
}

/// `CitationsContentBlock` as returned in a unary answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CitationsContent {
    #[serde(default)]
    pub content: Vec<TextMember>,
    #[serde(default)]
    pub citations: Vec<serde_json::Value>,
}

/// `CitationGeneratedContent` / `CitationSourceContent`: unions whose one member we read is
/// `text`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TextMember {
    #[serde(default)]
    pub text: Option<String>,
}
