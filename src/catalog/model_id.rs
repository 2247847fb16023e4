//! Model names are untrusted input that ends up in a URL path, response headers, shared-data
//! keys, metric names and log lines. Everything about them is decided here: what a client's
//! `model` may look like, what a Bedrock model id may look like (botocore's `modelId`
//! constraints for Converse), and the one canonical id that authorisation, limits, usage and
//! metrics are keyed by.

use crate::catalog::strip_profile_prefix;
use crate::error::ApiError;

/// Longest `model` a client may send (OpenAI's own names are under 64 bytes).
pub(crate) const MAX_CLIENT_MODEL_BYTES: usize = 256;

/// botocore `ConversationalModelId`: `min 1`, `max 2048`.
pub(crate) const MAX_BEDROCK_ID_BYTES: usize = 2048;

/// A client's `model`: 1–256 bytes, no control characters. Echoed back in answers, so
/// it is checked before anything else uses it.
pub(crate) fn check_client_model(param: &str, model: &str) -> Result<(), ApiError> {
    if model.trim().is_empty() {
        return Err(ApiError::invalid_param(
            param,
            format!("`{param}` must not be empty"),
        ));
    }
    if model.len() > MAX_CLIENT_MODEL_BYTES {
        return Err(ApiError::invalid_param(
            param,
            format!("`{param}` is longer than {MAX_CLIENT_MODEL_BYTES} bytes"),
        ));
    }
    if model.chars().any(char::is_control) {
        return Err(ApiError::invalid_param(
            param,
            format!("`{param}` must not contain control characters"),
        ));
    }
    Ok(())
}

/// Whether `id` fits botocore's `ConversationalModelId`: 1–2048 bytes; an ARN
/// (`arn:aws…:bedrock:` or `arn:aws:sagemaker:`) of `[A-Za-z0-9._:/-]`, or a plain id of
/// `[A-Za-z0-9._:-]` (no `/`). Stricter than the pattern's loosest branch in one way only:
/// a `/` appears in ARNs alone, so a model id can never add a path segment.
pub fn is_bedrock_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_BEDROCK_ID_BYTES {
        return false;
    }
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"._:-".contains(&b);
    if id.starts_with("arn:aws") {
        let mut parts = id.splitn(4, ':');
        let (_, partition, service) = (parts.next(), parts.next(), parts.next());
        let partition_ok = partition.is_some_and(|p| p == "aws" || p.starts_with("aws-"));
        let service_ok = matches!(service, Some("bedrock" | "sagemaker"));
        return partition_ok
            && service_ok
            && !id.contains("//")
            && !id.ends_with('/')
            && id.bytes().all(|b| plain(b) || b == b'/');
    }
    id.bytes().all(plain) && id.bytes().any(|b| b.is_ascii_alphanumeric())
}

/// A Bedrock model id from any source, or 400 naming the field it came from.
pub(crate) fn check_bedrock_id(param: &str, id: &str) -> Result<(), ApiError> {
    if is_bedrock_id(id) {
        return Ok(());
    }
    // The id is not repeated: it may hold anything.
    Err(ApiError::invalid_param(
        param,
        format!(
            "`{param}` does not name a Bedrock model: a model id, inference-profile id or ARN is 1-{MAX_BEDROCK_ID_BYTES} characters of letters, digits and `._:-` (and `/` in an ARN)"
        ),
    ))
}

/// The one id a model is known by, whichever way it was named: the base model id of an
/// inference-profile id (`us.anthropic.x` → `anthropic.x`), of a foundation-model ARN and of a
/// system-defined inference-profile ARN. Other ARNs (application inference profiles,
/// provisioned and custom models) are their own canonical id.
pub fn canonical(id: &str) -> &str {
    if id.starts_with("arn:") {
        let tail = id
            .split_once(":foundation-model/")
            .or_else(|| id.split_once(":inference-profile/"))
            .map(|(_, t)| t);
        return match tail {
            Some(t) if !t.contains('/') => strip_profile_prefix(t),
            _ => id,
        };
    }
    strip_profile_prefix(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_models_are_bounded_and_printable() {
        assert!(check_client_model("model", "gpt-4o").is_ok());
        assert!(check_client_model("model", "mon modèle ✓").is_ok());
        assert!(check_client_model("model", &"m".repeat(256)).is_ok());
        for bad in [
            "",
            "  ",
            "gpt-4o\r\nx-injected: 1",
            "a\0b",
            "a\u{7f}",
            "a\u{85}",
            &"m".repeat(257),
        ] {
            let e = check_client_model("model", bad).unwrap_err();
            assert_eq!(
                (e.status, e.param.as_deref()),
                (400, Some("model")),
                "{bad:?}"
            );
            assert!(!e.message.contains(bad) || bad.trim().is_empty());
        }
    }

    #[test]
    fn bedrock_ids_follow_botocore() {
        for ok in [
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.amazon.nova-2-lite-v1:0",
            "gpt-4o",
            "my_model",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:custom-model/a.b/abcdefabcdef",
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
        ] {
            assert!(is_bedrock_id(ok), "{ok}");
        }
        for bad in [
            "",
            "gpt 4o",
            "a/b",
            "../../x",
            "model\r\n",
            "m%3A0",
            "---",
            "arn:aws:s3:::bucket/x",
            "arn:aws:bedrock:us-east-1:1:x//y",
            "arn:aws:bedrock:us-east-1:1:x/",
            "modèle",
            &"a".repeat(2049),
        ] {
            assert!(!is_bedrock_id(bad), "{bad:?}");
            let e = check_bedrock_id("bedrock_model", bad).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("bedrock_model"));
        }
        assert!(is_bedrock_id(&"a".repeat(2048)));
    }

    #[test]
    fn every_spelling_of_a_model_has_one_canonical_id() {
        let base = "anthropic.claude-3-5-sonnet-20241022-v2:0";
        for spelling in [
            base.to_string(),
            format!("us.{base}"),
            format!("eu.{base}"),
            format!("global.{base}"),
            format!("arn:aws:bedrock:us-east-1::foundation-model/{base}"),
            format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{base}"),
        ] {
            assert_eq!(canonical(&spelling), base, "{spelling}");
        }
        let app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
        assert_eq!(canonical(app), app);
        assert_eq!(canonical("gpt-4o"), "gpt-4o");
    }
}
