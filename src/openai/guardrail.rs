//! The `bedrock_guardrail` extension of an answer (unary `chat.completion` and the stream's
//! finish chunk): the OpenAI-side shape; `translate::guardrail` fills it from Bedrock's trace.

use serde::Serialize;

/// The `bedrock_guardrail` extension of a response: whether a guardrail (or the model's own
/// filter) stopped the answer, and, when Bedrock traced the guardrail, which policies acted.
/// Matched text (words, PII) is never copied: only policy, name or type, and action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardrailSummary {
    /// `INTERVENED` or `NONE`: also the `x-bedrock-guardrail-action` header (or trailer).
    pub action: &'static str,
    /// Bedrock's `stopReason` when it was `guardrail_intervened` or `content_filtered`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assessments: Vec<Assessment>,
}

/// One policy finding that acted (its `action` is not `NONE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// `input` or `output`.
    pub source: &'static str,
    /// The assessment member, e.g. `topicPolicy`, `contentPolicy`, `wordPolicy`.
    pub policy: String,
    /// The topic or regex `name`, else the filter or entity `type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
}
