//! `thinking_blocks`: the reasoning a model needs back to continue a conversation, in the shape
//! LiteLLM gives it (and Anthropic-style clients send): `{"type": "thinking", "thinking",
//! "signature"}` and `{"type": "redacted_thinking", "data"}`. Answers carry them on the
//! assistant message (and, streamed, as fragments in deltas); requests may hand them back on
//! assistant messages, unchanged, so the next turn of a tool-use conversation keeps its
//! signed reasoning.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// One block of reasoning, as the client sees and returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlock {
    /// Reasoning text and the signature that proves the model wrote it (absent when Bedrock
    /// sent none).
    Thinking {
        thinking: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Reasoning the provider encrypted: Bedrock's `redactedContent`, base64 as on the wire.
    RedactedThinking { data: String },
}

/// Longest signature or redacted data taken back (Anthropic's signatures are a few hundred
/// bytes; redacted blocks a few kilobytes). The body limit bounds the total anyway.
const MAX_OPAQUE_LEN: usize = 1 << 20;

/// `messages[i].thinking_blocks`: only on assistant messages (`assistant` says whether this is
/// one); absent or `null` is none.
pub(super) fn parse_blocks(
    i: usize,
    assistant: bool,
    m: &Map<String, Value>,
) -> Result<Vec<ThinkingBlock>, ApiError> {
    let at = || format!("messages[{i}].thinking_blocks");
    match m.get("thinking_blocks") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) if !assistant => Err(ApiError::invalid_param(
            at(),
            "only assistant messages carry `thinking_blocks`",
        )),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, b)| parse_block(&format!("{}[{j}]", at()), b))
            .collect(),
        Some(_) => Err(ApiError::invalid_param(
            at(),
            "`thinking_blocks` must be an array",
        )),
    }
}

/// One block, `at` naming it in errors (also what a Responses `encrypted_content` holds).
pub(crate) fn parse_block(at: &str, b: &Value) -> Result<ThinkingBlock, ApiError> {
    let bad = |field: &str, msg: &str| ApiError::invalid_param(format!("{at}{field}"), msg);
    let Value::Object(b) = b else {
        return Err(bad("", "each thinking block must be an object"));
    };
    match b.get("type").and_then(Value::as_str) {
        Some("thinking") => {
            let Some(Value::String(text)) = b.get("thinking") else {
                return Err(bad(
                    ".thinking",
                    "a `thinking` block needs its string `thinking`",
                ));
            };
            let signature = match b.get("signature") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_OPAQUE_LEN => {
                    Some(s.clone())
                }
                Some(_) => {
                    return Err(bad(
                        ".signature",
                        "`signature` must be the non-empty string the model returned",
                    ))
                }
            };
            Ok(ThinkingBlock::Thinking {
                thinking: text.clone(),
                signature,
            })
        }
        Some("redacted_thinking") => match b.get("data") {
            Some(Value::String(d)) if is_base64(d) => {
                Ok(ThinkingBlock::RedactedThinking { data: d.clone() })
            }
            _ => Err(bad(
                ".data",
                "a `redacted_thinking` block needs the base64 string `data` the model returned",
            )),
        },
        Some(other) => Err(bad(
            ".type",
            &format!(
                "unknown thinking block type `{other}`: expected thinking or redacted_thinking"
            ),
        )),
        None => Err(bad(".type", "each thinking block needs a string `type`")),
    }
}

/// Non-empty, bounded, canonical base64: what Bedrock's `Blob` takes, sent on as given.
fn is_base64(d: &str) -> bool {
    !d.is_empty() && d.len() <= MAX_OPAQUE_LEN && STANDARD.decode(d).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Vec<ThinkingBlock>, (String, String)> {
        let Value::Object(m) = v else { panic!() };
        parse_blocks(3, true, &m).map_err(|e| (e.param.unwrap_or_default(), e.message))
    }

    #[test]
    fn blocks_parse_and_serialize_in_litellm_shape() {
        let blocks = json!([
            {"type": "thinking", "thinking": "Hm.", "signature": "c2ln"},
            {"type": "thinking", "thinking": ""},
            {"type": "redacted_thinking", "data": "AAAA"}
        ]);
        let got = parse(json!({"thinking_blocks": blocks})).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(serde_json::to_value(&got).unwrap(), blocks);
        assert_eq!(parse(json!({"thinking_blocks": null})).unwrap(), vec![]);
        assert_eq!(parse(json!({})).unwrap(), vec![]);
    }

    #[test]
    fn bad_blocks_name_their_field() {
        for (v, param) in [
            (json!("x"), "messages[3].thinking_blocks"),
            (json!([1]), "messages[3].thinking_blocks[0]"),
            (json!([{}]), "messages[3].thinking_blocks[0].type"),
            (
                json!([{"type": "thinking", "thinking": "a"}, {"type": "reasoning"}]),
                "messages[3].thinking_blocks[1].type",
            ),
            (
                json!([{"type": "thinking"}]),
                "messages[3].thinking_blocks[0].thinking",
            ),
            (
                json!([{"type": "thinking", "thinking": "a", "signature": 5}]),
                "messages[3].thinking_blocks[0].signature",
            ),
            (
                json!([{"type": "thinking", "thinking": "a", "signature": ""}]),
                "messages[3].thinking_blocks[0].signature",
            ),
            (
                json!([{"type": "redacted_thinking", "data": "not base64!"}]),
                "messages[3].thinking_blocks[0].data",
            ),
            (
                json!([{"type": "redacted_thinking"}]),
                "messages[3].thinking_blocks[0].data",
            ),
        ] {
            let (p, _) = parse(json!({ "thinking_blocks": v })).unwrap_err();
            assert_eq!(p, param, "{v}");
        }
        let Value::Object(m) = json!({"thinking_blocks": []}) else {
            panic!()
        };
        let e = parse_blocks(0, false, &m).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[0].thinking_blocks"));
    }
}
