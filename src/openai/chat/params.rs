//! The scalar parameters of a chat request (stop, reasoning, thinking, metadata,
//! response_format, unsupported outputs) and the ignored-parameter policy: which accepted
//! fields Bedrock cannot honour, and how they are reported.

use serde_json::{Map, Value};

use super::types::{ReasoningEffort, ResponseFormat};
use crate::error::ApiError;
use crate::openai::json::opt_string;

/// Top-level fields read by [`ChatRequest::parse`]; everything else is reported as ignored.
const HANDLED: &[&str] = &[
    "model",
    "bedrock_model",
    "model_provider",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "thinking",
    "user",
    "metadata",
    "service_tier",
    "guardrailConfig",
    "prompt_cache_retention",
    "prompt_cache_options",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "store",
    "modalities",
    "audio",
    "functions",
    "function_call",
];

/// Parameters present with a value Bedrock cannot honour (defaults such as `seed: null`,
/// `presence_penalty: 0`, `logprobs: false` are not reported), then unknown fields.
pub(super) fn ignored_params(obj: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, v) in obj {
        let ignored = match key.as_str() {
            "seed" | "top_logprobs" => !v.is_null(),
            "presence_penalty" | "frequency_penalty" => v.as_f64().is_some_and(|n| n != 0.0),
            "logit_bias" => v.as_object().is_some_and(|m| !m.is_empty()),
            "logprobs" | "store" => v.as_bool() == Some(true),
            "parallel_tool_calls" => v.as_bool() == Some(false),
            k if HANDLED.contains(&k) => false,
            _ => !v.is_null(),
        };
        if ignored {
            out.push(key.clone());
        }
    }
    reportable(out)
}

/// Most ignored names the `x-bedrock-ignored-params` header lists.
pub(super) const MAX_IGNORED_REPORTED: usize = 16;

/// The names fit for the header: field names of up to 64 characters of `[A-Za-z0-9_.-]`,
/// at most [`MAX_IGNORED_REPORTED`]; the rest are counted as `(N more)`. Unknown keys are
/// the client's to choose, so they are never echoed as they came.
pub(crate) fn reportable(names: Vec<String>) -> Vec<String> {
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    let total = names.len();
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| plain(n))
        .take(MAX_IGNORED_REPORTED)
        .collect();
    if out.len() < total {
        out.push(format!("({} more)", total - out.len()));
    }
    out
}

pub(crate) fn parse_response_format(obj: &Map<String, Value>) -> Result<ResponseFormat, ApiError> {
    let rf = match obj.get("response_format") {
        None | Some(Value::Null) => return Ok(ResponseFormat::Text),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "response_format",
                "`response_format` must be an object",
            ))
        }
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let Some(Value::Object(js)) = rf.get("json_schema") else {
                return Err(ApiError::invalid_param(
                    "response_format.json_schema",
                    "`json_schema` must be an object with `name` and `schema`",
                ));
            };
            let name = match js.get("name") {
                Some(Value::String(n)) if !n.is_empty() => n.clone(),
                _ => {
                    return Err(ApiError::invalid_param(
                        "response_format.json_schema.name",
                        "`json_schema.name` must be a non-empty string",
                    ))
                }
            };
            let schema = match js.get("schema") {
                Some(s @ Value::Object(_)) => s.clone(),
                None | Some(Value::Null) => serde_json::json!({"type": "object"}),
                Some(_) => {
                    return Err(ApiError::invalid_param(
                        "response_format.json_schema.schema",
                        "`json_schema.schema` must be a JSON Schema object",
                    ))
                }
            };
            Ok(ResponseFormat::JsonSchema {
                name,
                description: js
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_string),
                schema,
                strict: js.get("strict").and_then(Value::as_bool).unwrap_or(false),
            })
        }
        Some(other) => Err(ApiError::invalid_param(
            "response_format.type",
            format!("unsupported response_format type `{other}`: expected text, json_object or json_schema"),
        )),
        None => Err(ApiError::invalid_param(
            "response_format.type",
            "`response_format` needs a `type`",
        )),
    }
}

/// `stop`: a string or up to 4 strings.
pub(super) fn parse_stop(obj: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid_param(
                    format!("stop[{i}]"),
                    "`stop` entries must be strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "stop",
                "`stop` must be a string or an array of strings",
            ))
        }
    };
    if stop.len() > 4 {
        return Err(ApiError::invalid_param(
            "stop",
            "`stop` takes at most 4 sequences",
        ));
    }
    Ok(stop)
}

/// `reasoning_effort`, one of OpenAI's levels.
pub(crate) fn parse_reasoning_effort(
    obj: &Map<String, Value>,
) -> Result<Option<ReasoningEffort>, ApiError> {
    Ok(match opt_string(obj, "reasoning_effort")?.as_deref() {
        None => None,
        Some("none") => Some(ReasoningEffort::None),
        Some("minimal") => Some(ReasoningEffort::Minimal),
        Some("low") => Some(ReasoningEffort::Low),
        Some("medium") => Some(ReasoningEffort::Medium),
        Some("high") => Some(ReasoningEffort::High),
        Some("xhigh") => Some(ReasoningEffort::XHigh),
        Some(other) => {
            return Err(ApiError::invalid_param(
                "reasoning_effort",
                format!("unsupported reasoning_effort `{other}`: expected none, minimal, low, medium, high or xhigh"),
            ))
        }
    })
}

/// The Anthropic-style `thinking` object, passed through when it has a string `type`.
pub(super) fn parse_thinking(obj: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    match obj.get("thinking") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(t)) if t.get("type").is_some_and(Value::is_string) => {
            Ok(Some(Value::Object(t.clone())))
        }
        Some(_) => Err(ApiError::invalid_param(
            "thinking",
            "`thinking` must be an object with a string `type` (Anthropic's format, e.g. {\"type\":\"enabled\",\"budget_tokens\":2048})",
        )),
    }
}

/// `metadata`: an object of strings, as `(key, value)` pairs in request order.
pub(crate) fn parse_metadata(obj: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    match obj.get("metadata") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::invalid_param(
                    format!("metadata.{k}"),
                    "`metadata` values must be strings",
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid_param(
            "metadata",
            "`metadata` must be an object of strings",
        )),
    }
}

/// Outputs Bedrock cannot give are 400s, not ignored: `n` > 1, `audio`, non-text
/// `modalities`.
pub(super) fn refuse_unsupported_outputs(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64() == Some(1) => {}
        Some(v) if v.as_u64().is_some_and(|n| n > 1) => return Err(ApiError::invalid_param(
            "n",
            "`n` > 1 is not supported: Bedrock returns one choice per call; send separate requests",
        )),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "n",
                "`n` must be a positive integer",
            ))
        }
    }
    if obj.get("audio").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid_param(
            "audio",
            "audio output is not supported",
        ));
    }
    if let Some(Value::Array(m)) = obj.get("modalities") {
        if m.iter().any(|v| v.as_str() != Some("text")) {
            return Err(ApiError::invalid_param(
                "modalities",
                "only the `text` output modality is supported",
            ));
        }
    }
    Ok(())
}
