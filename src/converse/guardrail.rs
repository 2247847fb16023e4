//! Bedrock guardrails on the wire: `guardrailConfig` (botocore `GuardrailConfiguration`, and
//! `GuardrailStreamConfiguration` for ConverseStream, which adds `streamProcessingMode`) and
//! the `guardContent` blocks that tell a guardrail which text to assess
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-use-converse-api.html>).

use serde::Serialize;

/// `GuardrailTrace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailTrace {
    Enabled,
    Disabled,
    EnabledFull,
}

impl GuardrailTrace {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            "enabled_full" => Some(Self::EnabledFull),
            _ => None,
        }
    }
}

/// `GuardrailStreamProcessingMode`: `sync` holds streamed text until the guardrail has
/// assessed it; `async` streams at once and assesses alongside (lower latency, may let a
/// chunk through before the intervention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamProcessingMode {
    Sync,
    Async,
}

impl StreamProcessingMode {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "sync" => Some(Self::Sync),
            "async" => Some(Self::Async),
            _ => None,
        }
    }
}

/// One guardrail to apply, as configured or asked for. Serializes as
/// `GuardrailStreamConfiguration`; [`GuardrailConfig::for_operation`] drops
/// `streamProcessingMode` for Converse, whose `GuardrailConfiguration` has no such member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailConfig {
    pub guardrail_identifier: String,
    pub guardrail_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<GuardrailTrace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_processing_mode: Option<StreamProcessingMode>,
}

impl GuardrailConfig {
    /// The configuration as the operation takes it.
    pub fn for_operation(&self, stream: bool) -> Self {
        let mut c = self.clone();
        if !stream {
            c.stream_processing_mode = None;
        }
        c
    }
}

/// `GuardrailIdentifier`: a guardrail id (`[a-z0-9]+`) or its ARN
/// (`arn:aws(-…)?:bedrock:<region>:<account>:guardrail/<id>`), at most 2048 characters.
/// Empty is refused although the pattern allows it: it would apply no guardrail.
pub fn valid_identifier(s: &str) -> bool {
    let id = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if s.len() > 2048 {
        return false;
    }
    let Some(rest) = s.strip_prefix("arn:aws") else {
        return id(s);
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let partition_ok = partition.is_empty()
        || partition
            .strip_prefix('-')
            .is_some_and(|p| !p.is_empty() && !p.contains(':'));
    partition_ok
        && service == "bedrock"
        && (1..=20).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("guardrail/").is_some_and(id)
}

/// `GuardrailVersion`: `DRAFT` or a version number `[1-9][0-9]{0,7}`.
pub fn valid_version(s: &str) -> bool {
    s == "DRAFT"
        || (!s.is_empty()
            && s.len() <= 8
            && !s.starts_with('0')
            && s.bytes().all(|b| b.is_ascii_digit()))
}

/// `GuardrailConverseContentQualifier`: what a guarded text is to the guardrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardQualifier {
    /// Assess this text (the other texts of the conversation are then not assessed).
    GuardContent,
    /// Contextual grounding: the source the answer must be grounded in.
    GroundingSource,
    /// Contextual grounding: the question.
    Query,
}

impl GuardQualifier {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "guard_content" => Some(Self::GuardContent),
            "grounding_source" => Some(Self::GroundingSource),
            "query" => Some(Self::Query),
            _ => None,
        }
    }
}

/// `GuardrailConverseContentBlock` union, `text` member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardContent {
    pub text: GuardText,
}

/// `GuardrailConverseTextBlock`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardText {
    pub text: String,
    pub qualifiers: Vec<GuardQualifier>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_versions_follow_botocore_patterns() {
        for ok in [
            "xbgw7g293v7o",
            "arn:aws:bedrock:us-east-1:353014496775:guardrail/xbgw7g293v7o",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:guardrail/abc",
        ] {
            assert!(valid_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "Upper",
            "a b",
            "a\r\nx",
            "arn:aws:bedrock:us-east-1:1234:guardrail/abc",
            "arn:aws:s3:us-east-1:123456789012:guardrail/abc",
            "arn:aws:bedrock:us-east-1:123456789012:guardrail/",
            "arn:aws:bedrock:us-east-1:123456789012:agent/abc",
        ] {
            assert!(!valid_identifier(bad), "{bad:?}");
        }
        assert!(!valid_identifier(&"a".repeat(2049)));
        for ok in ["DRAFT", "1", "12345678"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in ["", "0", "01", "123456789", "draft", "1.0"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }

    #[test]
    fn converse_drops_the_stream_processing_mode() {
        let c = GuardrailConfig {
            guardrail_identifier: "g1".into(),
            guardrail_version: "1".into(),
            trace: Some(GuardrailTrace::EnabledFull),
            stream_processing_mode: Some(StreamProcessingMode::Async),
        };
        assert_eq!(
            serde_json::to_value(c.for_operation(true)).unwrap(),
            serde_json::json!({"guardrailIdentifier": "g1", "guardrailVersion": "1",
                               "trace": "enabled_full", "streamProcessingMode": "async"})
        );
        assert!(serde_json::to_value(c.for_operation(false))
            .unwrap()
            .get("streamProcessingMode")
            .is_none());
    }
}
