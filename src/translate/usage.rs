//! Bedrock `TokenUsage` → OpenAI `usage`: the one mapping for unary answers
//! ([`crate::translate::response`]) and streamed ones ([`crate::stream`]), so the two cannot
//! drift.

use crate::openai::chunk::Usage;

/// `prompt_tokens` and `completion_tokens` as Bedrock counted them; `total_tokens` is
/// Bedrock's `totalTokens`, or the sum when it sent none (saturating: the counts come from
/// upstream and must not overflow).
pub fn to_openai_usage(input_tokens: u64, output_tokens: u64, total_tokens: u64) -> Usage {
    Usage {
        prompt_tokens: input_tokens,
        completion_tokens: output_tokens,
        total_tokens: if total_tokens > 0 {
            total_tokens
        } else {
            input_tokens.saturating_add(output_tokens)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_bedrocks_else_the_saturating_sum() {
        let u = to_openai_usage(3, 7, 12);
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (3, 7, 12)
        );
        assert_eq!(to_openai_usage(3, 7, 0).total_tokens, 10);
        assert_eq!(to_openai_usage(u64::MAX, 1, 0).total_tokens, u64::MAX);
    }
}
