//! Bedrock guardrails: which guardrail a request runs under (the tenant's, the model's, or
//! the request's own `guardrailConfig` where the tenant allows it), and what an answer's
//! guardrail trace and stop reason tell the client (`bedrock_guardrail`,
//! `x-bedrock-guardrail-action`).

pub use crate::openai::guardrail::{Assessment, GuardrailSummary};
use std::collections::BTreeMap;

use serde_json::Value;

use crate::converse::request::{
    ContentBlock, ConverseRequest, GuardrailConfig, SystemContentBlock,
};
use crate::error::ApiError;

/// A tenant's guardrails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardrailPolicy {
    /// Applied to every request of the tenant.
    pub default: Option<GuardrailConfig>,
    /// Replaces `default` for one model, by canonical id.
    pub per_model: BTreeMap<String, GuardrailConfig>,
    /// The request's `guardrailConfig` extension may replace the configured guardrail.
    pub allow_request: bool,
}

impl GuardrailPolicy {
    /// The guardrail for a request to `canonical_model` that asked for `asked`. Asking
    /// without the tenant's leave is a 403: silently dropping a guardrail the client wanted
    /// would let through what it meant to block.
    pub fn choose(
        &self,
        asked: Option<&GuardrailConfig>,
        canonical_model: &str,
    ) -> Result<Option<GuardrailConfig>, ApiError> {
        match asked {
            Some(_) if !self.allow_request => Err(ApiError::forbidden(
                "This key may not choose a guardrail with `guardrailConfig`; its guardrails are configured in the gateway.",
            )
            .with_param("guardrailConfig")
            .with_code("guardrail_not_allowed")),
            Some(g) => Ok(Some(g.clone())),
            None => Ok(self
                .per_model
                .get(canonical_model)
                .or(self.default.as_ref())
                .cloned()),
        }
    }
}

/// Puts `guardrail` into the body for the operation. Without a guardrail, guarded parts
/// are sent as plain text (nothing would assess them) and `guard` is reported ignored.
pub fn apply(
    body: &mut ConverseRequest,
    guardrail: Option<GuardrailConfig>,
    stream: bool,
    ignored: &mut Vec<String>,
) {
    if let Some(g) = guardrail {
        body.guardrail_config = Some(g.for_operation(stream));
        return;
    }
    let mut unguarded = false;
    for block in body.messages.iter_mut().flat_map(|m| m.content.iter_mut()) {
        if let ContentBlock::GuardContent(g) = block {
            *block = ContentBlock::Text(std::mem::take(&mut g.text.text).into());
            unguarded = true;
        }
    }
    for block in &mut body.system {
        if let SystemContentBlock::GuardContent(g) = block {
            *block = SystemContentBlock::Text(std::mem::take(&mut g.text.text).into());
            unguarded = true;
        }
    }
    if unguarded && !ignored.iter().any(|n| n == "guard") {
        ignored.push("guard".into());
    }
}

/// Longest `action_reason` and assessment name passed on.
const MAX_TEXT: usize = 256;
/// Most assessment entries passed on.
const MAX_ASSESSMENTS: usize = 16;

/// The summary for an answer that stopped with `stop_reason` and carried `trace` (the
/// `trace` member of a Converse answer or of the stream's `metadata` event); `None` when
/// no guardrail was traced and none intervened.
pub fn summarise(stop_reason: Option<&str>, trace: Option<&Value>) -> Option<GuardrailSummary> {
    let stop_reason = match stop_reason {
        Some("guardrail_intervened") => Some("guardrail_intervened"),
        Some("content_filtered") => Some("content_filtered"),
        _ => None,
    };
    let guardrail = trace
        .and_then(|t| t.get("guardrail"))
        .filter(|g| g.is_object());
    if stop_reason.is_none() && guardrail.is_none() {
        return None;
    }
    let mut assessments = Vec::new();
    if let Some(g) = guardrail {
        if let Some(input) = g.get("inputAssessment").and_then(Value::as_object) {
            for a in input.values() {
                collect("input", a, &mut assessments);
            }
        }
        if let Some(output) = g.get("outputAssessments").and_then(Value::as_object) {
            for a in output.values().filter_map(Value::as_array).flatten() {
                collect("output", a, &mut assessments);
            }
        }
    }
    assessments.truncate(MAX_ASSESSMENTS);
    let action_reason = guardrail
        .and_then(|g| g.get("actionReason"))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(MAX_TEXT).collect());
    let acted = !assessments.is_empty();
    Some(GuardrailSummary {
        action: if stop_reason.is_some() || acted {
            "INTERVENED"
        } else {
            "NONE"
        },
        stop_reason,
        action_reason,
        assessments,
    })
}

/// The findings of one `GuardrailAssessment` whose action is not `NONE`: each policy member
/// holds lists of entries with an `action` (topics, filters, custom words, PII entities, …).
fn collect(source: &'static str, assessment: &Value, out: &mut Vec<Assessment>) {
    let Some(policies) = assessment.as_object() else {
        return;
    };
    for (policy, body) in policies {
        let Some(lists) = body.as_object() else {
            continue;
        };
        for entry in lists.values().filter_map(Value::as_array).flatten() {
            let action = entry.get("action").and_then(Value::as_str);
            let Some(action) = action.filter(|a| *a != "NONE") else {
                continue;
            };
            let name = ["name", "type"]
                .iter()
                .find_map(|k| entry.get(*k).and_then(Value::as_str))
                .map(|s| s.chars().take(MAX_TEXT).collect());
            out.push(Assessment {
                source,
                policy: policy.chars().take(64).collect(),
                name,
                action: action.chars().take(64).collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::converse::guardrail::{GuardContent, GuardQualifier, GuardText};
    use crate::converse::request::{ConversationRole, Message};
    use serde_json::json;

    fn g(id: &str) -> GuardrailConfig {
        GuardrailConfig {
            guardrail_identifier: id.into(),
            guardrail_version: "1".into(),
            trace: None,
            stream_processing_mode: None,
        }
    }

    #[test]
    fn the_model_guardrail_wins_over_the_tenant_one_and_requests_need_leave() {
        let mut p = GuardrailPolicy {
            default: Some(g("tenant")),
            per_model: [("m1".to_string(), g("model"))].into_iter().collect(),
            allow_request: false,
        };
        assert_eq!(p.choose(None, "m1").unwrap(), Some(g("model")));
        assert_eq!(p.choose(None, "m2").unwrap(), Some(g("tenant")));
        let e = p.choose(Some(&g("mine")), "m1").unwrap_err();
        assert_eq!(
            (e.status, e.param.as_deref(), e.code.as_deref()),
            (403, Some("guardrailConfig"), Some("guardrail_not_allowed"))
        );
        p.allow_request = true;
        assert_eq!(p.choose(Some(&g("mine")), "m1").unwrap(), Some(g("mine")));
        assert_eq!(GuardrailPolicy::default().choose(None, "m1").unwrap(), None);
    }

    #[test]
    fn guarded_text_without_a_guardrail_is_plain_text_and_reported() {
        let guarded = ContentBlock::GuardContent(GuardContent {
            text: GuardText {
                text: "check me".into(),
                qualifiers: vec![GuardQualifier::GuardContent],
            },
        });
        let mut body = ConverseRequest {
            messages: vec![Message {
                role: ConversationRole::User,
                content: vec![guarded.clone()],
            }],
            system: vec![SystemContentBlock::GuardContent(GuardContent {
                text: GuardText {
                    text: "rules".into(),
                    qualifiers: vec![GuardQualifier::GuardContent],
                },
            })],
            inference_config: None,
            tool_config: None,
            additional_model_request_fields: None,
            request_metadata: Default::default(),
            output_config: None,
            service_tier: None,
            performance_config: None,
            guardrail_config: None,
        };
        let mut ignored = Vec::new();
        let mut with = body.clone();
        apply(&mut with, Some(g("x")), false, &mut ignored);
        assert_eq!(with.messages[0].content[0], guarded);
        assert!(ignored.is_empty());
        apply(&mut body, None, false, &mut ignored);
        assert_eq!(
            body.messages[0].content[0],
            ContentBlock::Text("check me".into())
        );
        assert_eq!(body.system, [SystemContentBlock::Text("rules".into())]);
        assert_eq!(ignored, ["guard"]);
    }

    #[test]
    fn an_intervention_is_summarised_without_the_matched_text() {
        let trace = json!({"guardrail": {
            "actionReason": "Guardrail blocked.",
            "inputAssessment": {"g1": {
                "topicPolicy": {"topics": [{"name": "Finance", "type": "DENY", "action": "BLOCKED", "detected": true}]},
                "wordPolicy": {"customWords": [{"match": "secret-word", "action": "BLOCKED"}]},
                "contentPolicy": {"filters": [{"type": "VIOLENCE", "confidence": "NONE", "action": "NONE"}]},
                "invocationMetrics": {"guardrailProcessingLatency": 3}
            }},
            "outputAssessments": {"g1": [{"sensitiveInformationPolicy": {"piEntities": [
                {"type": "EMAIL", "match": "a@b.c", "action": "ANONYMIZED"}]}}]}
        }});
        let s = summarise(Some("guardrail_intervened"), Some(&trace)).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            json!({"action": "INTERVENED", "stop_reason": "guardrail_intervened",
                   "action_reason": "Guardrail blocked.", "assessments": [
                {"source": "input", "policy": "topicPolicy", "name": "Finance", "action": "BLOCKED"},
                {"source": "input", "policy": "wordPolicy", "action": "BLOCKED"},
                {"source": "output", "policy": "sensitiveInformationPolicy", "name": "EMAIL", "action": "ANONYMIZED"}]})
        );
        assert!(!v.to_string().contains("secret-word") && !v.to_string().contains("a@b.c"));
    }

    #[test]
    fn a_trace_without_action_says_none_and_no_trace_says_nothing() {
        // The recorded `u_guardrail_trace` answer's trace, abridged: nothing acted.
        let trace = json!({"guardrail": {"actionReason": "No action.", "modelOutput": [],
            "inputAssessment": {"xbgw7g293v7o": {"invocationMetrics": {"guardrailProcessingLatency": 397}}},
            "outputAssessments": {"xbgw7g293v7o": [{"invocationMetrics": {}}]}}});
        let s = summarise(Some("end_turn"), Some(&trace)).unwrap();
        assert_eq!((s.action, s.stop_reason), ("NONE", None));
        assert_eq!(s.action_reason.as_deref(), Some("No action."));
        assert_eq!(summarise(Some("end_turn"), None), None);
        assert_eq!(
            summarise(Some("end_turn"), Some(&json!({"promptRouter": {}}))),
            None
        );
        let filtered = summarise(Some("content_filtered"), None).unwrap();
        assert_eq!(
            (filtered.action, filtered.stop_reason),
            ("INTERVENED", Some("content_filtered"))
        );
    }
}
