//! The wire types of `POST /v1/responses`: the request as [`super::ResponsesRequest::parse`]
//! leaves it, and the `response` object with its output items (OpenAPI `Response`,
//! `OutputMessage`, `FunctionToolCall`, `ReasoningItem`, `ResponseUsage`). The same items
//! serve the unary answer and the stream's events.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::openai::chat::{
    ContentPart, ReasoningEffort, ResponseFormat, Role, ThinkingBlock, Tool, ToolChoice,
};

/// One `input` item, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    /// A `message` item (or the short `{role, content}` form).
    Message {
        role: Role,
        content: Vec<ContentPart<'static>>,
    },
    /// A call the model made in an earlier turn.
    FunctionCall {
        call_id: String,
        /// The name Bedrock knows: `namespace__name` for a namespaced function.
        name: String,
        arguments: Value,
    },
    /// The client's answer to a call.
    FunctionCallOutput {
        call_id: String,
        output: Vec<ContentPart<'static>>,
    },
    /// A reasoning item from an earlier turn: the block its `encrypted_content` holds, which
    /// leads the next assistant turn; `None` without it (its summary alone Bedrock does not
    /// take back: the item is dropped and reported).
    Reasoning(Option<ThinkingBlock>),
}

/// The fields of a Responses request that the translation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub model: String,
    /// Extension, as for chat: the Bedrock model id to call, over `model` and its alias.
    pub bedrock_model: Option<String>,
    pub instructions: Option<String>,
    pub input: Vec<InputItem>,
    pub stream: bool,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `text.format`.
    pub format: ResponseFormat,
    /// `reasoning.effort`.
    pub reasoning_effort: Option<ReasoningEffort>,
    pub user: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub service_tier: Option<String>,
    /// Parameters accepted but not honoured (the `x-bedrock-ignored-params` header).
    pub ignored: Vec<String>,
    /// What the `response` object repeats of the request.
    pub echo: Echo,
    /// `include: ["reasoning.encrypted_content"]`: reasoning items carry `encrypted_content`.
    pub encrypted_reasoning: bool,
}

/// The request fields a `response` object repeats (`instructions`, `tools`, `tool_choice`,
/// `temperature`, …), built once from the checked request and carried to the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Echo(pub Map<String, Value>);

impl Echo {
    /// (`namespace`, `name`) of a tool name Bedrock used: see [`super::tools`].
    pub fn split_tool_name(&self, wire: &str) -> (Option<String>, String) {
        super::tools::split_tool_name(self.0.get("tools"), wire)
    }
}

/// `object` of a response.
pub const RESPONSE_OBJECT: &str = "response";

/// The `response` object, unary or inside a stream event.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseObject<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub model: &'a str,
    pub output: &'a [OutputItem],
    /// Absent until the answer is over (the document does not allow `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    #[serde(flatten)]
    pub echo: &'a Echo,
}

/// `incomplete_details`: why the answer stopped short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseError {
    pub code: &'static str,
    pub message: String,
}

/// An `output` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        role: &'static str,
        status: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        /// Set when the function came from a `namespace` tool.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        name: String,
        arguments: String,
        status: &'static str,
    },
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        /// What Bedrock needs back ([`super::reasoning`]), when `include` asked for it.
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
        status: &'static str,
    },
}

/// An `output_text` content part (no annotations or logprobs: Bedrock gives none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub annotations: [(); 0],
    pub logprobs: [(); 0],
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "output_text",
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

/// A `summary_text` part of a reasoning item: the model's reasoning text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryText {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
}

impl SummaryText {
    pub fn new(text: String) -> Self {
        Self {
            kind: "summary_text",
            text,
        }
    }
}

/// `ResponseUsage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResponseUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutputTokensDetails {
    /// Bedrock does not count reasoning tokens apart from the output: always 0.
    pub reasoning_tokens: u64,
}
