//! Which models take Bedrock prompt-cache points, and where: a cache point sent to a model
//! without prompt caching (or to Nova's tools) is a Bedrock `ValidationException` ("You
//! invoked an unsupported model or your request did not allow prompt caching"), so the
//! translation only sends what the model takes.
//!
//! Figures from AWS's "Supported models, Regions, and limits" table for prompt caching
//! (late 2025): every model takes at most 4 cache points; Claude 3.7 Sonnet and later Claude
//! models cache `system`, `messages` and `tools`; Claude 4.5 and later also take the 1-hour
//! TTL; Amazon Nova Micro, Lite, Pro and Premier cache `system` and `messages` only. Claude
//! 3.5 Sonnet v2 had caching as a preview only (no new accounts), so it counts as without.

use super::models::claude_version;

/// Most cache points Bedrock takes in one request (tools, system and messages together).
pub const MAX_CACHE_POINTS: usize = 4;

/// A model's prompt caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptCaching {
    /// The fewest tokens a cached prefix needs; shorter prefixes are not cached.
    pub min_tokens: u32,
    /// Cache points may follow tool definitions (`toolConfig.tools`).
    pub tools: bool,
    /// Cache points may carry `ttl: "1h"`.
    pub ttl_1h: bool,
}

/// The prompt caching of a Bedrock model id (base id, inference-profile id or an ARN ending
/// in one), read from the id; `None` for models without it and ids that do not say (custom
/// and provisioned-model ARNs: a `models` entry in the configuration can say).
pub fn infer(model_id: &str) -> Option<PromptCaching> {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let base = super::strip_profile_prefix(tail);
    let (provider, name) = base.split_once('.')?;
    match provider {
        "anthropic" => {
            let v = claude_version(name)?;
            let haiku = name.contains("haiku");
            let opus = name.contains("opus");
            if v < (3, 7) && !(haiku && v == (3, 5)) {
                return None;
            }
            let min_tokens = match () {
                _ if (haiku || opus) && v >= (4, 5) => 4096,
                _ if haiku => 2048,
                _ => 1024,
            };
            Some(PromptCaching {
                min_tokens,
                tools: true,
                ttl_1h: v >= (4, 5),
            })
        }
        "amazon"
            if ["nova-micro", "nova-lite", "nova-pro", "nova-premier"]
                .iter()
                .any(|m| name.starts_with(m)) =>
        {
            Some(PromptCaching {
                min_tokens: 1000,
                tools: false,
                ttl_1h: false,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caching_is_read_from_the_model_id() {
        let claude = |min_tokens, ttl_1h| {
            Some(PromptCaching {
                min_tokens,
                tools: true,
                ttl_1h,
            })
        };
        let nova = Some(PromptCaching {
            min_tokens: 1000,
            tools: false,
            ttl_1h: false,
        });
        let cases = [
            ("anthropic.claude-3-7-sonnet-20250219-v1:0", claude(1024, false)),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", claude(1024, false)),
            ("anthropic.claude-opus-4-1-20250805-v1:0", claude(1024, false)),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", claude(1024, true)),
            ("anthropic.claude-haiku-4-5-20251001-v1:0", claude(4096, true)),
            ("anthropic.claude-opus-4-5-20251101-v1:0", claude(4096, true)),
            ("us.anthropic.claude-3-5-haiku-20241022-v1:0", claude(2048, false)),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                claude(1024, false),
            ),
            ("amazon.nova-pro-v1:0", nova),
            ("eu.amazon.nova-micro-v1:0", nova),
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", None),
            ("anthropic.claude-3-haiku-20240307-v1:0", None),
            ("us.meta.llama3-3-70b-instruct-v1:0", None),
            ("amazon.titan-text-express-v1", None),
            ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc", None),
            ("gpt-4o", None),
        ];
        for (id, want) in cases {
            assert_eq!(infer(id), want, "{id}");
        }
    }
}
