//! Which models reason (answer `reasoningContent` when asked), read from the model id: what
//! `/v1/models` reports as `bedrock.reasoning`, and what the translation's reasoning switches
//! rest on.

use super::models::claude_version;

/// Amazon Nova's first generation: no reasoning config.
const NOVA_WITHOUT_REASONING: [&str; 4] = ["nova-micro", "nova-lite", "nova-pro", "nova-premier"];

/// Whether an Amazon Nova model id is one with reasoning (Nova 2 and later).
pub fn nova_reasons(model_id: &str) -> bool {
    !NOVA_WITHOUT_REASONING.iter().any(|m| model_id.contains(m))
}

/// Whether a Claude model id has extended thinking (Claude 3.7 and later; an id whose version
/// cannot be read is taken as a newer model).
pub fn claude_thinks(model_id: &str) -> bool {
    claude_version(model_id).is_none_or(|v| v >= (3, 7))
}

/// Whether the model (a Bedrock base id, inference profile or ARN ending in one) reasons:
/// Claude 3.7 and later, Nova 2, DeepSeek R1, OpenAI gpt-oss, and models named `…thinking…`
/// (Kimi K2 Thinking, Qwen3 thinking variants).
pub fn reasons(model_id: &str) -> bool {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let base = super::strip_profile_prefix(tail);
    let Some((provider, name)) = base.split_once('.') else {
        return false;
    };
    match provider {
        "anthropic" => name.starts_with("claude") && claude_thinks(name),
        "amazon" => name.starts_with("nova") && nova_reasons(name),
        "deepseek" => name.starts_with("r1"),
        "openai" => name.starts_with("gpt-oss"),
        _ => name.contains("thinking"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_are_read_from_ids() {
        for (id, want) in [
            ("anthropic.claude-3-5-sonnet-20241022-v2:0", false),
            ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", true),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", true),
            ("anthropic.claude-3-haiku-20240307-v1:0", false),
            ("amazon.nova-pro-v1:0", false),
            ("us.amazon.nova-2-lite-v1:0", true),
            ("amazon.titan-embed-text-v2:0", false),
            ("us.deepseek.r1-v1:0", true),
            ("openai.gpt-oss-120b-1:0", true),
            ("moonshot.kimi-k2-thinking", true),
            ("meta.llama3-3-70b-instruct-v1:0", false),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
                true,
            ),
            ("gpt-4o", false),
        ] {
            assert_eq!(reasons(id), want, "{id}");
        }
    }
}
