//! Model names: OpenAI-side aliases → Bedrock model ids, Bedrock ids → custom-gateway
//! aliases, and the one place the id is percent-encoded for the request path.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved characters stay; everything else (`:` and `/` in ARNs and
/// inference-profile ids) is encoded. SigV4's canonical URI then encodes the `%` a second
/// time, which is what Bedrock verifies against.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Bedrock model id for a requested model: an alias from config, else the name itself
/// (a Bedrock id or inference-profile id given directly).
pub(crate) fn resolve<'a>(aliases: &'a BTreeMap<String, String>, requested: &'a str) -> &'a str {
    aliases
        .get(requested)
        .map(String::as_str)
        .unwrap_or(requested)
}

/// The model family a Bedrock model id belongs to: decides the reasoning config, the
/// temperature/top_p policy and whether native structured output is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    Amazon,
    Meta,
    Mistral,
    Cohere,
    DeepSeek,
    OpenAi,
    Other,
}

impl Provider {
    /// The `model_provider` request extension: a provider name as in Bedrock model ids.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "anthropic" => Self::Anthropic,
            "amazon" | "nova" => Self::Amazon,
            "meta" => Self::Meta,
            "mistral" => Self::Mistral,
            "cohere" => Self::Cohere,
            "deepseek" => Self::DeepSeek,
            "openai" => Self::OpenAi,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// Inferred from the id: `anthropic.claude-…`, an inference profile `us.anthropic.…`,
    /// or the last path segment of an ARN. Provisioned or custom-model ARNs carry no
    /// provider: [`Provider::Other`] (the `model_provider` extension can say).
    pub(crate) fn infer(model_id: &str) -> Self {
        crate::catalog::provider_of(model_id)
            .and_then(Self::from_name)
            .unwrap_or(Self::Other)
    }
}

/// `(major, minor)` of an Anthropic Claude model id: `claude-3-5-sonnet-…` → (3, 5),
/// `claude-sonnet-4-5-2025…` → (4, 5), `claude-opus-4-2025…` → (4, 0). Dates and
/// version suffixes (`-v1:0`) are not read as a minor version.
pub(crate) fn claude_version(model_id: &str) -> Option<(u32, u32)> {
    let rest = &model_id[model_id.find("claude-")? + "claude-".len()..];
    let small = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.len() <= 2 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let mut tokens = rest.split(['-', ':', '.']).peekable();
    if matches!(
        tokens.peek(),
        Some(&("sonnet" | "opus" | "haiku" | "instant"))
    ) {
        tokens.next();
    }
    let major = small(tokens.next()?)?;
    let minor = tokens.next().and_then(small).unwrap_or(0);
    Some((major, minor))
}

/// `converse` or `converse-stream`.
pub(crate) fn operation(stream: bool) -> &'static str {
    if stream {
        "converse-stream"
    } else {
        "converse"
    }
}

/// One path segment, percent-encoded once.
pub(crate) fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// `/model/{id}/converse` or `/model/{id}/converse-stream`, the id encoded exactly once.
pub fn converse_path(model_id: &str, stream: bool) -> String {
    model_path(model_id, operation(stream))
}

/// `/model/{id}/{operation}`, the id encoded exactly once.
pub fn model_path(model_id: &str, operation: &str) -> String {
    format!("/model/{}/{operation}", encode_segment(model_id))
}

/// The custom gateway's short name for a Bedrock model id, by the seed's rule
/// (`us.anthropic.claude-3-5-sonnet-20241022-v2:0` → `claude-35-sonnet`), generalised:
/// the last segment of an ARN; the inference-profile prefix (`us.`, `eu.`, …) and the provider
/// (`anthropic.`) dropped; the version suffix (`-v2:0`, `:0`) and an 8-digit date dropped;
/// runs of one-digit version numbers joined (`3-5` → `35`, `opus-4-1` → `opus-41`). A name
/// that is not a Bedrock id (no `.`) is taken as an alias already and kept.
pub fn gateway_alias(bedrock_id: &str) -> String {
    let tail = bedrock_id.rsplit('/').next().unwrap_or(bedrock_id);
    let base = crate::catalog::strip_profile_prefix(tail);
    let Some((_, name)) = base.split_once('.') else {
        return base.to_string();
    };
    // `-v2:0`, `-v1`, `:0`
    let mut name = name;
    if let Some((head, _)) = name.rsplit_once(':') {
        name = head;
    }
    if let Some((head, v)) = name.rsplit_once("-v") {
        if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
            name = head;
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut joining = false;
    for part in name.split('-') {
        let digits = !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
        if digits && part.len() == 8 {
            continue; // a release date
        }
        let single = digits && part.len() == 1;
        match out.last_mut() {
            Some(last) if single && joining => last.push_str(part),
            _ => out.push(part.to_string()),
        }
        joining = single;
    }
    out.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_model_ids_once() {
        let cases = [
            ("anthropic.claude-3-haiku-20240307-v1:0", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse",
            ),
            ("amazon.nova-pro-v1:0", "/model/amazon.nova-pro-v1%3A0/converse"),
            ("weird id?#%", "/model/weird%20id%3F%23%25/converse"),
        ];
        for (id, path) in cases {
            assert_eq!(converse_path(id, false), path);
        }
        assert!(converse_path("m", true).ends_with("/m/converse-stream"));
    }

    #[test]
    fn gateway_aliases_follow_the_seed_rule() {
        let cases = [
            // The seed's two examples.
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-35-sonnet"),
            ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-35-sonnet"),
            ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-37-sonnet"),
            ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-35-haiku"),
            ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
            ("global.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
            ("anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-41"),
            ("amazon.nova-pro-v1:0", "nova-pro"),
            ("meta.llama3-3-70b-instruct-v1:0", "llama3-3-70b-instruct"),
            ("mistral.mistral-large-2407-v1:0", "mistral-large-2407"),
            ("deepseek.r1-v1:0", "r1"),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "claude-35-sonnet",
            ),
            ("claude-35-sonnet", "claude-35-sonnet"),
        ];
        for (id, alias) in cases {
            assert_eq!(gateway_alias(id), alias, "{id}");
        }
    }

    #[test]
    fn providers_and_claude_versions_are_read_from_ids() {
        let cases = [
            ("anthropic.claude-3-haiku-20240307-v1:0", Provider::Anthropic, Some((3, 0))),
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", Provider::Anthropic, Some((3, 5))),
            ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", Provider::Anthropic, Some((3, 7))),
            ("anthropic.claude-sonnet-4-20250514-v1:0", Provider::Anthropic, Some((4, 0))),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", Provider::Anthropic, Some((4, 5))),
            ("anthropic.claude-opus-4-1-20250805-v1:0", Provider::Anthropic, Some((4, 1))),
            ("anthropic.claude-opus-4-6-v1", Provider::Anthropic, Some((4, 6))),
            ("amazon.nova-pro-v1:0", Provider::Amazon, None),
            ("us.meta.llama3-2-1b-instruct-v1:0", Provider::Meta, None),
            ("openai.gpt-oss-120b-1:0", Provider::OpenAi, None),
            ("us.deepseek.r1-v1:0", Provider::DeepSeek, None),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
                Provider::Anthropic,
                Some((3, 0)),
            ),
            ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456", Provider::Other, None),
            ("gpt-4o", Provider::Other, None),
        ];
        for (id, provider, version) in cases {
            assert_eq!(Provider::infer(id), provider, "{id}");
            assert_eq!(claude_version(id), version, "{id}");
        }
        assert_eq!(Provider::from_name("Nova"), Some(Provider::Amazon));
        assert_eq!(Provider::from_name("acme"), None);
    }

    #[test]
    fn aliases_resolve_and_unknown_names_pass_through() {
        let mut aliases = BTreeMap::new();
        aliases.insert(
            "gpt-4o".to_string(),
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0".to_string(),
        );
        assert_eq!(
            resolve(&aliases, "gpt-4o"),
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert_eq!(
            resolve(&aliases, "amazon.nova-pro-v1:0"),
            "amazon.nova-pro-v1:0"
        );
    }
}
