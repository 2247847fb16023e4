//! Reasoning that survives a stateless conversation: with `include:
//! ["reasoning.encrypted_content"]`, each reasoning item carries in `encrypted_content` what
//! Bedrock needs back to continue (Anthropic checks it with extended thinking and tools): the
//! reasoning text and its signature, or the redacted bytes. The value is opaque to clients:
//! base64 of the block's JSON in chat's `thinking_blocks` shape (`{"type": "thinking",
//! "thinking", "signature"}` / `{"type": "redacted_thinking", "data"}`). It is not encrypted:
//! the signature already makes Bedrock refuse a changed text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::chat::{parse_thinking_block, ThinkingBlock};

/// The `include` value that asks for `encrypted_content`.
pub const ENCRYPTED_CONTENT: &str = "reasoning.encrypted_content";

/// Longest `encrypted_content` taken back (a signed block is a few kilobytes; the body limit
/// bounds the total anyway).
const MAX_SEALED_LEN: usize = 4 << 20;

/// `encrypted_content` for one reasoning block.
pub fn seal(block: &ThinkingBlock) -> String {
    // A `ThinkingBlock` is strings only: serializing it cannot fail.
    STANDARD.encode(serde_json::to_vec(block).unwrap_or_default())
}

/// The block an input item's `encrypted_content` (at `at`) holds; anything not made by
/// [`seal`] (bad base64, JSON, block) is a 400 naming `at`.
pub(super) fn open(at: &str, content: &Value) -> Result<ThinkingBlock, ApiError> {
    let bad = |why: &str| {
        ApiError::invalid_param(
            at,
            format!("`encrypted_content` must be the value a reasoning item of this gateway carried, unchanged ({why})"),
        )
    };
    let Value::String(s) = content else {
        return Err(bad("not a string"));
    };
    if s.is_empty() || s.len() > MAX_SEALED_LEN {
        return Err(bad("empty or too long"));
    }
    let bytes = STANDARD.decode(s).map_err(|_| bad("not base64"))?;
    let block: Value = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))?;
    parse_thinking_block(at, &block).map_err(|e| bad(&e.message))
}

/// `include`: an array of strings; whether it asks for [`ENCRYPTED_CONTENT`]. Other values
/// (`message.output_text.logprobs`, …) have nothing to add here and are accepted.
pub(super) fn parse_include(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    match obj.get("include") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(items.iter().any(|v| v.as_str() == Some(ENCRYPTED_CONTENT)))
        }
        Some(_) => Err(ApiError::invalid_param(
            "include",
            "`include` must be an array of strings",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_blocks_open_to_themselves() {
        for block in [
            ThinkingBlock::Thinking {
                thinking: "Hm, «x»\n".into(),
                signature: Some("c2ln".into()),
            },
            ThinkingBlock::Thinking {
                thinking: String::new(),
                signature: None,
            },
            ThinkingBlock::RedactedThinking {
                data: "AAAA".into(),
            },
        ] {
            let sealed = seal(&block);
            assert_eq!(open("p", &json!(sealed)).unwrap(), block);
        }
    }

    #[test]
    fn anything_else_is_a_400_naming_the_field() {
        let b64 = |v: Value| json!(STANDARD.encode(v.to_string()));
        for v in [
            json!(5),
            json!(""),
            json!("not base64!"),
            json!(STANDARD.encode("not json")),
            b64(json!([])),
            b64(json!({"type": "reasoning"})),
            b64(json!({"type": "thinking", "thinking": "a", "signature": ""})),
            b64(json!({"type": "redacted_thinking", "data": "not base64!"})),
        ] {
            let e = open("input[2].encrypted_content", &v).unwrap_err();
            assert_eq!(
                e.param.as_deref(),
                Some("input[2].encrypted_content"),
                "{v}"
            );
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn include_is_an_array_of_strings() {
        let inc = |v: Value| {
            let Value::Object(m) = json!({ "include": v }) else {
                panic!()
            };
            parse_include(&m)
        };
        assert!(inc(json!(["reasoning.encrypted_content"])).unwrap());
        assert!(!inc(json!(["message.output_text.logprobs"])).unwrap());
        assert!(!inc(json!(null)).unwrap());
        for bad in [json!("reasoning.encrypted_content"), json!([1])] {
            assert_eq!(inc(bad).unwrap_err().param.as_deref(), Some("include"));
        }
    }
}
