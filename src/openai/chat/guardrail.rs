//! The request's guardrail extensions: `guardrailConfig` (a Bedrock guardrail chosen by the
//! caller, used only where the tenant allows it) and `guard` on a user text part (the text
//! the guardrail assesses, sent as a `guardContent` block).

use serde_json::{Map, Value};

use super::types::{ContentPart, Guarded, Role};
use crate::converse::guardrail::{
    valid_identifier, valid_version, GuardContent, GuardQualifier, GuardText, GuardrailConfig,
    GuardrailTrace, StreamProcessingMode,
};
use crate::converse::text::Text;
use crate::error::ApiError;

const FIELD: &str = "guardrailConfig";

impl Guarded {
    /// The Converse `guardContent` block.
    pub fn to_block(&self) -> GuardContent {
        GuardContent {
            text: GuardText {
                text: self.text.clone(),
                qualifiers: vec![self.qualifier],
            },
        }
    }
}

/// `guardrailConfig: {guardrailIdentifier, guardrailVersion, trace?, streamProcessingMode?}`
/// with Bedrock's member names and values; every wrong member is a 400 naming it.
pub(super) fn parse_guardrail_config(
    obj: &Map<String, Value>,
) -> Result<Option<GuardrailConfig>, ApiError> {
    let c = match obj.get(FIELD) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(ApiError::invalid_param(
                FIELD,
                "`guardrailConfig` must be an object {guardrailIdentifier, guardrailVersion, trace?, streamProcessingMode?}",
            ))
        }
    };
    if let Some(k) = c.keys().find(|k| {
        ![
            "guardrailIdentifier",
            "guardrailVersion",
            "trace",
            "streamProcessingMode",
        ]
        .contains(&k.as_str())
    }) {
        // The key is the client's: named only when it is a plain field name.
        let plain = k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return Err(ApiError::invalid_param(
            if plain {
                format!("{FIELD}.{k}")
            } else {
                FIELD.to_string()
            },
            "unknown member of `guardrailConfig`",
        ));
    }
    let member = |name: &str, ok: &dyn Fn(&str) -> bool, what: &str| match c.get(name) {
        Some(Value::String(s)) if ok(s) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        _ => Err(ApiError::invalid_param(
            format!("{FIELD}.{name}"),
            what.to_string(),
        )),
    };
    let id = member(
        "guardrailIdentifier",
        &valid_identifier,
        "`guardrailIdentifier` is a guardrail id ([a-z0-9]+) or its ARN",
    )?;
    let version = member(
        "guardrailVersion",
        &valid_version,
        "`guardrailVersion` is DRAFT or a version number",
    )?;
    let trace = member(
        "trace",
        &|s| GuardrailTrace::from_name(s).is_some(),
        "`trace` is enabled, disabled or enabled_full",
    )?;
    let mode = member(
        "streamProcessingMode",
        &|s| StreamProcessingMode::from_name(s).is_some(),
        "`streamProcessingMode` is sync or async",
    )?;
    let (Some(id), Some(version)) = (id, version) else {
        return Err(ApiError::invalid_param(
            FIELD,
            "`guardrailConfig` needs `guardrailIdentifier` and `guardrailVersion`",
        ));
    };
    Ok(Some(GuardrailConfig {
        guardrail_identifier: id,
        guardrail_version: version,
        trace: trace.as_deref().and_then(GuardrailTrace::from_name),
        stream_processing_mode: mode.as_deref().and_then(StreamProcessingMode::from_name),
    }))
}

/// A text part, guarded when it carries `guard`: `true` or `"guard_content"` (assess this
/// text), `"grounding_source"` or `"query"` (contextual grounding); `false` or null is plain.
/// Converse guards user and system text only, so `guard` in assistant or tool messages is a 400.
pub(super) fn text_part<'a>(
    param: &str,
    role: Role,
    part: &Value,
    text: Text<'a>,
) -> Result<ContentPart<'a>, ApiError> {
    let qualifier = match part.get("guard") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(ContentPart::Text(text)),
        Some(Value::Bool(true)) => Some(GuardQualifier::GuardContent),
        Some(Value::String(s)) => GuardQualifier::from_name(s),
        Some(_) => None,
    };
    let at = || format!("{param}.guard");
    let Some(qualifier) = qualifier else {
        return Err(ApiError::invalid_param(
            at(),
            "`guard` is true, false, \"guard_content\", \"grounding_source\" or \"query\"",
        ));
    };
    if !matches!(role, Role::User | Role::System | Role::Developer) {
        return Err(ApiError::invalid_param(
            at(),
            "only text parts of user, system and developer messages can be guarded",
        ));
    }
    Ok(ContentPart::Guarded(Guarded {
        text: text.as_str().into_owned(),
        qualifier,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::ChatRequest;
    use super::*;
    use serde_json::json;

    fn parse(extra: Value) -> Result<ChatRequest<'static>, ApiError> {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        ChatRequest::parse(body.to_string().as_bytes()).map(ChatRequest::into_owned)
    }

    #[test]
    fn reads_a_guardrail_config() {
        let r = parse(json!({"guardrailConfig": {"guardrailIdentifier": "abc123",
            "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "async"}}))
        .unwrap();
        assert_eq!(
            r.guardrail_config,
            Some(GuardrailConfig {
                guardrail_identifier: "abc123".into(),
                guardrail_version: "DRAFT".into(),
                trace: Some(GuardrailTrace::Enabled),
                stream_processing_mode: Some(StreamProcessingMode::Async),
            })
        );
        assert!(r.ignored.is_empty());
        assert_eq!(
            parse(json!({"guardrailConfig": null}))
                .unwrap()
                .guardrail_config,
            None
        );
    }

    #[test]
    fn refuses_bad_guardrail_configs_naming_the_member() {
        for (config, param) in [
            (json!("abc"), "guardrailConfig"),
            (json!({"guardrailIdentifier": "abc"}), "guardrailConfig"),
            (
                json!({"guardrailIdentifier": "ABC", "guardrailVersion": "1"}),
                "guardrailConfig.guardrailIdentifier",
            ),
            (
                json!({"guardrailIdentifier": "abc", "guardrailVersion": "v1"}),
                "guardrailConfig.guardrailVersion",
            ),
            (
                json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "trace": "on"}),
                "guardrailConfig.trace",
            ),
            (
                json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "streamProcessingMode": 1}),
                "guardrailConfig.streamProcessingMode",
            ),
            (
                json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "extra": 1}),
                "guardrailConfig.extra",
            ),
            (
                json!({"guardrailIdentifier": "abc", "guardrailVersion": "1", "bad\nkey": 1}),
                "guardrailConfig",
            ),
        ] {
            let e = parse(json!({"guardrailConfig": config})).unwrap_err();
            assert_eq!(
                (e.status, e.param.as_deref()),
                (400, Some(param)),
                "{config}"
            );
        }
    }

    fn user_y() -> Value {
        json!({"role": "user", "content": "y"})
    }

    #[test]
    fn reads_guarded_user_and_system_text_parts() {
        let r = parse(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "plain", "guard": false},
            {"type": "text", "text": "check", "guard": true},
            {"type": "text", "text": "source", "guard": "grounding_source"},
            {"type": "text", "text": "q", "guard": "query"}]}]}))
        .unwrap();
        let guarded = |t: &str, q| {
            ContentPart::Guarded(Guarded {
                text: t.into(),
                qualifier: q,
            })
        };
        assert_eq!(
            r.messages[0].content,
            vec![
                ContentPart::Text("plain".into()),
                guarded("check", GuardQualifier::GuardContent),
                guarded("source", GuardQualifier::GroundingSource),
                guarded("q", GuardQualifier::Query),
            ]
        );
        // System and developer text too: Converse's `system` takes `guardContent` blocks.
        for role in ["system", "developer"] {
            let r = parse(json!({"messages": [
                {"role": role, "content": [{"type": "text", "text": "rules", "guard": "guard_content"}]},
                user_y()]}))
            .unwrap();
            assert_eq!(
                r.messages[0].content,
                vec![guarded("rules", GuardQualifier::GuardContent)]
            );
        }
        for (messages, param) in [
            (
                json!([{"role": "user", "content": [{"type": "text", "text": "x", "guard": "yes"}]}]),
                "messages[0].content[0].guard",
            ),
            (
                json!([user_y(), {"role": "assistant", "content": [{"type": "text", "text": "x", "guard": true}]}, user_y()]),
                "messages[1].content[0].guard",
            ),
        ] {
            let e = parse(json!({"messages": messages})).unwrap_err();
            assert_eq!(
                (e.status, e.param.as_deref()),
                (400, Some(param)),
                "{messages}"
            );
        }
    }
}
