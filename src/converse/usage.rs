//! `TokenUsage` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html>):
//! one type for the unary answer's `usage` and the stream's `metadata.usage`, so both read
//! the cache counters the same way. Every member defaults to 0: the counts are upstream's,
//! untrusted, and a missing one must not make a good answer unreadable.

use serde::{Deserialize, Serialize};

/// Bedrock's counts. `input_tokens` excludes the prompt tokens read from or written to the
/// cache, which Bedrock reports apart; `cacheDetails` (writes by TTL) is ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_input_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_input_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cache_counters_and_defaults_the_rest() {
        let u: TokenUsage = serde_json::from_str(
            r#"{"cacheDetails":[{"inputTokens":236,"ttl":"5m"}],"cacheReadInputTokens":1712,
                "cacheWriteInputTokens":236,"inputTokens":3,"outputTokens":121,"totalTokens":2072}"#,
        )
        .unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.total_tokens),
            (3, 121, 2072)
        );
        assert_eq!(
            (u.cache_read_input_tokens, u.cache_write_input_tokens),
            (1712, 236)
        );
        let empty: TokenUsage = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, TokenUsage::default());
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"inputTokens":0,"outputTokens":0,"totalTokens":0}"#
        );
        // A negative or fractional count is not a count.
        assert!(serde_json::from_str::<TokenUsage>(r#"{"inputTokens":-1}"#).is_err());
    }
}
