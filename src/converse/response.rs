//! The unary Converse response (botocore `shapes.ConverseResponse`;
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>).
//! Unknown fields are ignored so new Bedrock additions never break parsing.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
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
pub struct ConverseOutput {
    pub message: Option<OutputMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputMessage {
    #[serde(default)]
    pub content: Vec<OutputContentBlock>,
}

/// A `ContentBlock` as returned; members we do not translate yet are kept as absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputContentBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningContent>,
    #[serde(default)]
    pub tool_use: Option<ToolUse>,
}

/// `ToolUseBlock` as returned: `input` is the tool's arguments as a JSON document.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUse {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default)]
    pub input: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContent {
    #[serde(default)]
    pub reasoning_text: Option<ReasoningText>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReasoningText {
    #[serde(default)]
    pub text: String,
}

/// `TokenUsage`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

/// The JSON body of a Bedrock error response (`{"message": ...}`; some services use `Message`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}
