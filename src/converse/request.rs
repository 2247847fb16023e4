//! The Converse / ConverseStream request body (botocore `shapes.ConverseRequest`;
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>).
//! The model id is not in the body: it travels in the path.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use super::guardrail::{GuardContent, GuardrailConfig};
pub use super::text::Text;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest<'a> {
    pub messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// `Document`: model-specific fields (Anthropic `thinking`, Nova `reasoningConfig`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    /// `RequestMetadata`: at most 16 string pairs, for invocation-log filtering.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// `PerformanceConfiguration`: latency-optimized inference on the models that offer it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfig>,
    /// `GuardrailConfiguration` (Converse) / `GuardrailStreamConfiguration` (ConverseStream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<GuardrailConfig>,
}

impl ConverseRequest<'_> {
    /// The characters of every string under a `text` key of the serialised body, at any depth
    /// (what `accounting::usage::estimate_input_tokens` reads back from the bytes), counted
    /// on the request itself so the body is not parsed again.
    pub fn text_chars(&self) -> u64 {
        let blocks = self.messages.iter().flat_map(|m| &m.content);
        let system = self.system.iter().map(|b| match b {
            SystemContentBlock::Text(t) => text_chars(t),
            SystemContentBlock::GuardContent(g) => chars(&g.text.text),
            SystemContentBlock::CachePoint(_) => 0,
        });
        let tools = self.tool_config.iter().flat_map(|c| &c.tools);
        let schemas = tools.map(|t| match t {
            Tool::ToolSpec(spec) => value_text_chars(&spec.input_schema.json),
            Tool::CachePoint(_) => 0,
        });
        let metadata = self.request_metadata.get("text").map_or(0, |v| chars(v));
        blocks
            .map(block_text_chars)
            .chain(system)
            .chain(schemas)
            .chain(
                self.additional_model_request_fields
                    .iter()
                    .map(value_text_chars),
            )
            .fold(metadata, u64::saturating_add)
    }
}

fn block_text_chars(b: &ContentBlock<'_>) -> u64 {
    match b {
        ContentBlock::Text(t) => text_chars(t),
        ContentBlock::GuardContent(g) => chars(&g.text.text),
        ContentBlock::ToolUse(u) => value_text_chars(&u.input),
        ContentBlock::ToolResult(r) => r
            .content
            .iter()
            .map(|c| match c {
                ToolResultContentBlock::Text(t) => chars(t),
                ToolResultContentBlock::Json(v) => value_text_chars(v),
                ToolResultContentBlock::Image(_) => 0,
            })
            .fold(0, u64::saturating_add),
        ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => chars(&r.text),
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(_))
        | ContentBlock::Image(_)
        | ContentBlock::Document(_)
        | ContentBlock::CachePoint(_) => 0,
    }
}

fn chars(s: &str) -> u64 {
    s.chars().count() as u64
}

fn text_chars(t: &Text<'_>) -> u64 {
    chars(&t.as_str())
}

/// The characters of the strings directly under `text` keys in `v`, at any depth.
fn value_text_chars(v: &Value) -> u64 {
    match v {
        Value::Array(a) => a.iter().map(value_text_chars).fold(0, u64::saturating_add),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if k == "text" => chars(s),
                other => value_text_chars(other),
            })
            .fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// `Message`: role is `user` or `assistant`; roles must alternate, starting with `user`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message<'a> {
    pub role: ConversationRole,
    pub content: Vec<ContentBlock<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationRole {
    User,
    Assistant,
}

/// `ContentBlock` is a union; only the members we send are modelled
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html>).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock<'a> {
    Text(Text<'a>),
    Image(ImageBlock),
    Document(DocumentBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    /// Text a guardrail assesses (a content part the client marked `guard`).
    GuardContent(GuardContent),
    CachePoint(CachePointBlock),
    ReasoningContent(ReasoningContentBlock),
}

/// `ReasoningContentBlock` union
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ReasoningContentBlock.html>):
/// the model's earlier reasoning handed back, first in its assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlock {
    ReasoningText(ReasoningTextBlock),
    /// A `Blob`: base64 in the JSON body, as the model returned it.
    RedactedContent(String),
}

/// `ReasoningTextBlock`: the text and the signature the model gave it, both unmodified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasoningTextBlock {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `CachePointBlock`: everything before it (tools, then system, then messages) is a prefix
/// Bedrock may cache. `type` is always `default`; `ttl` is `5m` (the default, so never sent)
/// or `1h`, which only some models take
/// (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CachePointBlock {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<&'static str>,
}

impl CachePointBlock {
    /// A cache point with Bedrock's default lifetime (5 minutes).
    pub const DEFAULT: Self = Self {
        kind: "default",
        ttl: None,
    };
}

/// `ImageBlock` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html>):
/// `format` is one of `png`, `jpeg`, `gif`, `webp`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageBlock {
    pub format: &'static str,
    pub source: ImageSource,
}

/// `ImageSource` and `DocumentSource` unions, the members we send: `bytes` (a `Blob`,
/// base64 in the JSON body) or `s3Location`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageSource {
    Bytes(String),
    S3Location(S3Location),
}

/// `S3Location`: `uri` is `s3://bucket/key`; `bucketOwner` the 12-digit account owning the
/// bucket, when it is another account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

/// `DocumentBlock` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html>):
/// `name` is 1-200 characters of alphanumerics, single spaces, hyphens, parentheses and
/// square brackets, unique within the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentBlock {
    pub format: &'static str,
    pub name: String,
    pub source: ImageSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citations: Option<CitationsConfig>,
}

/// `CitationsConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CitationsConfig {
    pub enabled: bool,
}

/// `ToolUseBlock` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolUseBlock.html>).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

/// `ToolResultBlock` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultBlock.html>).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContentBlock>,
}

/// `ToolResultContentBlock` union, `text`, `json` and `image` members.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContentBlock {
    Text(String),
    Json(Value),
    Image(ImageBlock),
}

/// `SystemContentBlock` union: `text`, `guardContent` (system text the guardrail assesses)
/// and `cachePoint`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock<'a> {
    Text(Text<'a>),
    GuardContent(GuardContent),
    CachePoint(CachePointBlock),
}

/// `InferenceConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `ToolConfiguration` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolConfiguration.html>):
/// `tools` must not be empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// `Tool` union, `toolSpec` and `cachePoint` members.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpec),
    CachePoint(CachePointBlock),
}

/// `ToolSpecification`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: ToolInputSchema,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `ToolInputSchema` union, `json` member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolInputSchema {
    pub json: Value,
}

/// `ToolChoice` union (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html>):
/// `{"auto":{}}`, `{"any":{}}` or `{"tool":{"name":…}}`. There is no `none`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool { name: String },
}

/// Serializes as `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// `OutputConfig` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_OutputConfig.html>):
/// structured output for the models that support it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    pub text_format: OutputFormat,
}

/// `OutputFormat`: `type` is `json_schema`; the schema travels as a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFormat {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub structure: OutputFormatStructure,
}

/// `OutputFormatStructure` union, `jsonSchema` member.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFormatStructure {
    pub json_schema: JsonSchemaDefinition,
}

/// `JsonSchemaDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonSchemaDefinition {
    pub schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `ServiceTier`: `type` is `priority`, `default`, `flex` or `reserved`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTier {
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// `PerformanceConfiguration`: `latency` is `standard` or `optimized`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerformanceConfig {
    pub latency: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::guardrail::{GuardQualifier, GuardText};
    use serde_json::json;

    /// Counts as `estimate_input_tokens` reads a body: strings directly under `text` keys.
    fn counted(v: &Value) -> u64 {
        match v {
            Value::Array(a) => a.iter().map(counted).sum(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) if k == "text" => s.chars().count() as u64,
                    other => counted(other),
                })
                .sum(),
            _ => 0,
        }
    }

    #[test]
    fn text_chars_counts_what_the_serialised_body_has_under_text_keys() {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(r#""caf\u00e9 \"x\"\n""#).unwrap();
        let guard = || GuardContent {
            text: GuardText {
                text: "guarded é".into(),
                qualifiers: vec![GuardQualifier::Query],
            },
        };
        let text_in = json!({"text": "inner", "list": [{"text": "deep"}], "n": {"text": 5}});
        let body = ConverseRequest {
            messages: vec![Message {
                role: ConversationRole::User,
                content: vec![
                    ContentBlock::Text(Text::from_token(raw).unwrap().unwrap()),
                    ContentBlock::Text("plain".into()),
                    ContentBlock::GuardContent(guard()),
                    ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: "t".into(),
                        name: "text".into(),
                        input: text_in.clone(),
                    }),
                    ContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: "t".into(),
                        content: vec![
                            ToolResultContentBlock::Text("result".into()),
                            ToolResultContentBlock::Json(text_in.clone()),
                        ],
                    }),
                    ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(
                        ReasoningTextBlock {
                            text: "thought".into(),
                            signature: Some("sig".into()),
                        },
                    )),
                    ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(
                        "opaque".into(),
                    )),
                    ContentBlock::CachePoint(CachePointBlock::DEFAULT),
                ],
            }],
            system: vec![
                SystemContentBlock::Text("system".into()),
                SystemContentBlock::GuardContent(guard()),
            ],
            inference_config: None,
            tool_config: Some(ToolConfig {
                tools: vec![Tool::ToolSpec(ToolSpec {
                    name: "text".into(),
                    description: Some("text".into()),
                    input_schema: ToolInputSchema {
                        json: text_in.clone(),
                    },
                    strict: None,
                })],
                tool_choice: None,
            }),
            additional_model_request_fields: Some(text_in),
            request_metadata: [("text".to_string(), "meta".to_string())].into(),
            output_config: None,
            service_tier: None,
            performance_config: None,
            guardrail_config: None,
        };
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(body.text_chars(), counted(&v));
        assert!(body.text_chars() > 60, "{}", body.text_chars());
    }
}
