//! Bedrock `TokenUsage` → OpenAI `usage` and the filter's own accounting: the one mapping for
//! unary answers ([`crate::translate::response`]), streamed ones ([`crate::stream`]), the
//! usage headers, `/v1/usage`, metrics and the limiter, so none of them can drift.
//!
//! Bedrock counts the prompt in three parts: `inputTokens` (not cached), `cacheReadInputTokens`
//! and `cacheWriteInputTokens`. OpenAI's `prompt_tokens` is the whole prompt, with the cached
//! part in `prompt_tokens_details`; so `prompt_tokens` is the sum of the three and
//! `total_tokens` is `prompt_tokens + completion_tokens`, always, whatever Bedrock's
//! `totalTokens` says. The counts are upstream's: every sum saturates.

use std::collections::BTreeMap;

use crate::converse::usage::TokenUsage;
use crate::openai::chunk::{PromptTokensDetails, Usage};
use crate::openai::responses::{InputTokensDetails, OutputTokensDetails, ResponseUsage};

/// One answer's token counts, as Bedrock reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Prompt tokens neither read from nor written to the cache (Bedrock's `inputTokens`).
    pub uncached_input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl TokenCounts {
    pub fn from_bedrock(u: &TokenUsage) -> Self {
        Self {
            uncached_input: u.input_tokens,
            output: u.output_tokens,
            cache_read: u.cache_read_input_tokens,
            cache_write: u.cache_write_input_tokens,
        }
    }

    /// Every prompt token, cached or not: OpenAI's `prompt_tokens`.
    pub fn prompt(&self) -> u64 {
        self.uncached_input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }

    /// `prompt + output`: OpenAI's `total_tokens`.
    pub fn total(&self) -> u64 {
        self.prompt().saturating_add(self.output)
    }

    /// OpenAI's `usage` object.
    pub fn to_openai(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt(),
            completion_tokens: self.output,
            total_tokens: self.total(),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: self.cache_read,
                cache_write_tokens: self.cache_write,
                cache_creation_tokens: self.cache_write,
            }),
            server_tool_use: None,
        }
    }

    /// The Responses API's `usage`: the same totals under its names.
    pub fn to_responses(&self) -> ResponseUsage {
        ResponseUsage {
            input_tokens: self.prompt(),
            input_tokens_details: InputTokensDetails {
                cached_tokens: self.cache_read,
                cache_write_tokens: self.cache_write,
            },
            output_tokens: self.output,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: 0,
            },
            total_tokens: self.total(),
        }
    }

    /// The usage headers (and stream trailers): `x-token-usage-input` is the whole prompt,
    /// like `prompt_tokens`; the cache parts of it follow.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            ("x-token-usage-input", self.prompt().to_string()),
            ("x-token-usage-output", self.output.to_string()),
            ("x-token-usage-cache-read", self.cache_read.to_string()),
            ("x-token-usage-cache-write", self.cache_write.to_string()),
        ]
    }
}

/// Most distinct server tools counted by name; any further one counts as `other`, so a
/// stream's state stays a few words whatever the model does.
const MAX_SERVER_TOOLS: usize = 8;

/// Calls of tools Bedrock ran itself (`toolUse` of type `server_tool_use`), by tool name:
/// `usage.server_tool_use`. Names outside Bedrock's tool-name pattern count as `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerToolUse(Vec<(String, u64)>);

impl ServerToolUse {
    pub fn add(&mut self, name: &str) {
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let full = self.0.iter().filter(|(n, _)| n != "other").count() >= MAX_SERVER_TOOLS;
        let name = if plain && (!full || self.0.iter().any(|(n, _)| n == name)) {
            name
        } else {
            "other"
        };
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count = count.saturating_add(1),
            None => self.0.push((name.to_string(), 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `usage.server_tool_use`, `None` when no server tool ran.
    pub fn to_openai(&self) -> Option<BTreeMap<String, u64>> {
        // Inserted one by one: `collect` into a map sorts first, which costs the wasm module
        // a copy of the standard stable sort for this one tiny list.
        let mut counts = BTreeMap::new();
        for (name, count) in &self.0 {
            counts.insert(name.clone(), *count);
        }
        (!counts.is_empty()).then_some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bedrock(i: u64, o: u64, t: u64, r: u64, w: u64) -> TokenCounts {
        TokenCounts::from_bedrock(&TokenUsage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: t,
            cache_read_input_tokens: r,
            cache_write_input_tokens: w,
        })
    }

    #[test]
    fn openai_usage_adds_up() {
        // (Bedrock: input, output, total, cache read, cache write) → OpenAI usage.
        let cases = [
            // No cache: as before.
            (
                bedrock(3, 7, 10, 0, 0),
                json!({"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10,
                       "prompt_tokens_details": {"cached_tokens": 0}}),
            ),
            // The recorded answer that came out as 2 + 5 = 1329.
            (
                bedrock(2, 5, 1329, 1322, 0),
                json!({"prompt_tokens": 1324, "completion_tokens": 5, "total_tokens": 1329,
                       "prompt_tokens_details": {"cached_tokens": 1322}}),
            ),
            // Read and write together.
            (
                bedrock(3, 121, 2072, 1712, 236),
                json!({"prompt_tokens": 1951, "completion_tokens": 121, "total_tokens": 2072,
                       "prompt_tokens_details": {"cached_tokens": 1712,
                           "cache_write_tokens": 236, "cache_creation_tokens": 236}}),
            ),
            // Bedrock's total is not trusted: ours is the sum.
            (
                bedrock(1, 1, 999, 0, 4),
                json!({"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                       "prompt_tokens_details": {"cached_tokens": 0,
                           "cache_write_tokens": 4, "cache_creation_tokens": 4}}),
            ),
            // Overflow saturates; cached never exceeds prompt.
            (
                bedrock(u64::MAX, 1, 0, 5, 0),
                json!({"prompt_tokens": u64::MAX, "completion_tokens": 1, "total_tokens": u64::MAX,
                       "prompt_tokens_details": {"cached_tokens": 5}}),
            ),
        ];
        for (counts, want) in cases {
            let u = counts.to_openai();
            assert_eq!(serde_json::to_value(&u).unwrap(), want, "{counts:?}");
            let d = u.prompt_tokens_details.unwrap();
            assert!(d.cached_tokens.saturating_add(d.cache_write_tokens) <= u.prompt_tokens);
        }
    }

    #[test]
    fn server_tools_are_counted_by_name_within_bounds() {
        let mut s = ServerToolUse::default();
        assert_eq!(s.to_openai(), None);
        s.add("nova_code_interpreter");
        s.add("nova_code_interpreter");
        s.add("bad name\r\n");
        for n in 0..20 {
            s.add(&format!("tool{n}"));
        }
        let got = s.to_openai().unwrap();
        assert_eq!(got["nova_code_interpreter"], 2);
        assert_eq!(got.len(), MAX_SERVER_TOOLS + 1, "{got:?}");
        assert_eq!(got["other"], 1 + 20 - (MAX_SERVER_TOOLS as u64 - 1));
        assert!(got.keys().all(|k| k.bytes().all(|b| b.is_ascii_graphic())));
    }

    #[test]
    fn headers_carry_the_whole_prompt_and_its_cache_parts() {
        let h = bedrock(2, 5, 0, 1322, 7).headers();
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            h,
            [
                ("x-token-usage-input", "1331"),
                ("x-token-usage-output", "5"),
                ("x-token-usage-cache-read", "1322"),
                ("x-token-usage-cache-write", "7"),
            ]
        );
    }
}
