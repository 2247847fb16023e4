//! Model names: OpenAI-side aliases → Bedrock model ids, and the one place the id is
//! percent-encoded for the request path.

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
pub fn resolve<'a>(aliases: &'a BTreeMap<String, String>, requested: &'a str) -> &'a str {
    aliases
        .get(requested)
        .map(String::as_str)
        .unwrap_or(requested)
}

/// `/model/{id}/converse` or `/model/{id}/converse-stream`, the id encoded exactly once.
pub fn converse_path(model_id: &str, stream: bool) -> String {
    let op = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    format!(
        "/model/{}/{op}",
        utf8_percent_encode(model_id, PATH_SEGMENT)
    )
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
