//! The wire types of `POST /v1/chat/completions`: the request as [`ChatRequest::parse`]
//! leaves it (every field checked) and the unary `chat.completion` answer. Kept apart from the
//! parsing so that the translation reads plain data, never JSON.

use serde::Serialize;
use serde_json::Value;

use crate::catalog::models::Provider;
use crate::converse::text::Text;
use crate::openai::chunk::Usage;

pub use super::thinking::ThinkingBlock;

/// Who wrote a message. `developer` is OpenAI's newer name for `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One content part (`ChatCompletionRequestMessageContentPart*`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart<'a> {
    /// `text` parts, and the `refusal` parts of assistant messages: a `text` as the client's
    /// JSON token ([`Text`]), borrowed from the body.
    Text(Text<'a>),
    Image(Image),
    /// A `file` part (user messages only).
    Document(Document),
    /// A user, system or developer text part marked `guard`: a Converse `guardContent` block.
    Guarded(Guarded),
}

/// A text the guardrail assesses, and what it is to the guardrail.
#[derive(Debug, Clone, PartialEq)]
pub struct Guarded {
    pub text: String,
    pub qualifier: crate::converse::guardrail::GuardQualifier,
}

/// An `image_url` part: the format Bedrock names and where the bytes are.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub format: &'static str,
    pub source: MediaSource,
}

/// Where an image's or a document's bytes are: inline (validated base64, re-encoded
/// canonically), or an S3 object Bedrock reads itself (the filter never fetches).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    Base64(String),
    S3(S3Object),
}

/// An `s3://bucket/key` URL, checked against botocore's `S3Uri` pattern. Whether the tenant
/// may name the bucket is decided at translation, where the tenant is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    /// The whole `s3://bucket/key`, as Bedrock takes it.
    pub uri: String,
}

/// A `file` content part: a document of one of Bedrock's formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`, `html`, `txt` or `md`.
    pub format: &'static str,
    /// `file.filename` as sent; the translation makes Bedrock's `name` from it.
    pub filename: Option<String>,
    pub source: MediaSource,
    /// Extension `citations: {"enabled": true}` on the part: ask the model to cite it.
    pub citations: bool,
}

/// The lifetime a client asked for a cache point: Bedrock's two (`cache_control.ttl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CacheTtl {
    FiveMinutes,
    OneHour,
}

/// A cache point the client placed with `cache_control: {"type": "ephemeral"}` (Anthropic's
/// form, as LiteLLM and Anthropic-style clients send it) or OpenAI's
/// `prompt_cache_breakpoint`: after content part `after_part` of its message, or after the
/// whole message (or tool) when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheMark {
    pub after_part: Option<usize>,
    pub ttl: Option<CacheTtl>,
}

/// The request-wide prompt-caching parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheRequest {
    /// The parameter asking that cache points without a `ttl` live longer than Bedrock's
    /// 5 minutes: `prompt_cache_retention: "24h"` or `prompt_cache_options.ttl`.
    pub longer_ttl: Option<&'static str>,
    /// `prompt_cache_options.mode: "explicit"`: no automatic cache points.
    pub explicit_only: bool,
}

/// An assistant `tool_calls[]` entry, `function.arguments` parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub role: Role,
    pub content: Vec<ContentPart<'a>>,
    /// Assistant messages only.
    pub tool_calls: Vec<ToolCall>,
    /// Tool messages only.
    pub tool_call_id: Option<String>,
    /// Written in the legacy form: an assistant `function_call` (its one entry in
    /// `tool_calls`) or a `role: "function"` message (a tool message). Only error messages
    /// care: they name the field the client sent.
    pub legacy: bool,
    /// Cache points the client placed in or after this message.
    pub cache: Vec<CacheMark>,
    /// Assistant messages only: the reasoning handed back (`thinking_blocks`).
    pub thinking: Vec<ThinkingBlock>,
}

/// A `tools[]` entry of type `function`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema; `{"type":"object","properties":{}}` when absent.
    pub parameters: Value,
    pub strict: bool,
    /// A cache point after this tool (`cache_control` on the tool or its function).
    pub cache: Option<CacheMark>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: bool,
    },
}

/// `reasoning_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
}

/// The fields of a chat request that the translation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest<'a> {
    pub model: String,
    /// Extension: the Bedrock model id to call, over `model` and its alias.
    pub bedrock_model: Option<String>,
    /// Extension: the provider family, over the one inferred from the model id.
    pub model_provider: Option<Provider>,
    pub messages: Vec<Message<'a>>,
    pub stream: bool,
    pub include_usage: bool,
    /// `max_completion_tokens` wins over the deprecated `max_tokens`.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// `tools`, or the legacy `functions` (same representation).
    pub tools: Vec<Tool>,
    /// `tool_choice`, or the legacy `function_call` (`none` / `auto` / `{"name": …}`).
    pub tool_choice: Option<ToolChoice>,
    /// The request used legacy function calling (`functions` / `function_call`): the answer
    /// is given in the legacy `function_call` form.
    pub legacy_functions: bool,
    pub response_format: ResponseFormat,
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Anthropic-style `thinking` object, passed through.
    pub thinking: Option<Value>,
    pub user: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub service_tier: Option<String>,
    /// The `guardrailConfig` extension: a guardrail the caller chose.
    pub guardrail_config: Option<crate::converse::request::GuardrailConfig>,
    /// `prompt_cache_retention`, `prompt_cache_options`.
    pub prompt_cache: CacheRequest,
    /// Parameters accepted but not honoured, in request order (the
    /// `x-bedrock-ignored-params` response header).
    pub ignored: Vec<String>,
}

impl ChatRequest<'_> {
    /// The same request owning its texts, for a caller the body does not outlive.
    pub fn into_owned(self) -> ChatRequest<'static> {
        ChatRequest {
            messages: self.messages.into_iter().map(Message::into_owned).collect(),
            model: self.model,
            bedrock_model: self.bedrock_model,
            model_provider: self.model_provider,
            stream: self.stream,
            include_usage: self.include_usage,
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            stop: self.stop,
            tools: self.tools,
            tool_choice: self.tool_choice,
            legacy_functions: self.legacy_functions,
            response_format: self.response_format,
            reasoning_effort: self.reasoning_effort,
            thinking: self.thinking,
            user: self.user,
            metadata: self.metadata,
            service_tier: self.service_tier,
            guardrail_config: self.guardrail_config,
            prompt_cache: self.prompt_cache,
            ignored: self.ignored,
        }
    }
}

impl Message<'_> {
    /// The same message owning its texts.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            role: self.role,
            content: self
                .content
                .into_iter()
                .map(ContentPart::into_owned)
                .collect(),
            tool_calls: self.tool_calls,
            tool_call_id: self.tool_call_id,
            legacy: self.legacy,
            cache: self.cache,
            thinking: self.thinking,
        }
    }
}

impl ContentPart<'_> {
    /// The same part owning its text.
    pub fn into_owned(self) -> ContentPart<'static> {
        match self {
            Self::Text(t) => ContentPart::Text(t.into_owned()),
            Self::Image(i) => ContentPart::Image(i),
            Self::Document(d) => ContentPart::Document(d),
            Self::Guarded(g) => ContentPart::Guarded(g),
        }
    }
}

/// A unary `chat.completion` object.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
    /// The tier Bedrock served the request in, when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<&'static str>,
    /// Extension: what a guardrail (or the model's filter) did, when one was traced or
    /// intervened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_guardrail: Option<crate::openai::guardrail::GuardrailSummary>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<()>,
}

/// `ChatCompletionResponseMessage`: `content` and `refusal` are required, possibly null.
#[derive(Debug, Serialize)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ResponseToolCall>,
    /// The legacy form of one tool call, when the request used `functions` (then
    /// `tool_calls` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<ResponseFunction>,
    /// Not in OpenAI's schema; the de-facto field (DeepSeek, vLLM, LiteLLM) for thinking text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Not in OpenAI's schema; LiteLLM's field: the reasoning blocks (with signatures, or
    /// redacted) a client hands back in the next turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thinking_blocks: Vec<ThinkingBlock>,
    /// Extension: the citations of a model answering from documents
    /// ([`crate::translate::citations`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<serde_json::Value>,
}

/// `ChatCompletionMessageToolCall`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: ResponseFunction,
}

/// The `function` of a tool call: `arguments` is a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseFunction {
    pub name: String,
    pub arguments: String,
}
