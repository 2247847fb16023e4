//! `POST /v1/completions`, the legacy endpoint: the request as we accept it and the
//! `text_completion` object (OpenAPI `CreateCompletionRequest` / `CreateCompletionResponse`;
//! streamed chunks have the same shape, with `finish_reason: null` until the last one).
//!
//! Bedrock has chat models only, so the prompt becomes one user turn. Options Converse cannot
//! honour are answered deliberately: `suffix` (fill-in-the-middle), `logprobs > 0`,
//! `best_of > 1`, `n > 1`, several prompts and token-id prompts are 400s naming the field;
//! `echo` is done here (the prompt is prepended to the text); `presence_penalty`,
//! `frequency_penalty`, `logit_bias`, `seed` and `user` are accepted and ignored.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::chunk::Usage;
use crate::openai::json::{
    include_usage, json_object, opt_bool, opt_number, opt_u32, required_model,
};

/// `object` of unary and streamed legacy completions alike.
pub(crate) const TEXT_COMPLETION_OBJECT: &str = "text_completion";

/// OpenAI's documented default for `max_tokens` on this endpoint.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 16;

/// The fields of a legacy completion request that the translation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: String,
    pub stream: bool,
    pub include_usage: bool,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub echo: bool,
}

fn reject(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_param(param, message)
}

impl CompletionRequest {
    /// Parses and validates a request body; every failure is a 400 naming its field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = json_object(body)?;
        let model = required_model(&obj)?;
        let prompt = parse_prompt(obj.get("prompt"))?;
        match obj.get("suffix") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(_) => {
                return Err(reject(
                    "suffix",
                    "`suffix` (fill-in-the-middle) is not supported: Bedrock Converse has no insertion mode",
                ))
            }
        }
        for (key, limit) in [("logprobs", 0u64), ("best_of", 1), ("n", 1)] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(v)
                    if v.as_u64()
                        .is_some_and(|n| n <= limit && (limit == 0 || n >= 1)) => {}
                Some(_) => {
                    let why = match key {
                        "logprobs" => "`logprobs` is not supported: Bedrock returns no token log probabilities (use null or 0)",
                        "best_of" => "`best_of` must be 1: Bedrock generates one completion per request",
                        _ => "`n` must be 1: Bedrock generates one completion per request",
                    };
                    return Err(reject(key, why));
                }
            }
        }
        let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
        let include_usage = include_usage(&obj)?;
        Ok(Self {
            model,
            prompt,
            stream,
            include_usage,
            max_tokens: opt_u32(&obj, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS),
            temperature: opt_number(&obj, "temperature", 0.0, 2.0)?,
            top_p: opt_number(&obj, "top_p", 0.0, 1.0)?,
            stop: parse_stop(&obj)?,
            echo: opt_bool(&obj, "echo")?.unwrap_or(false),
        })
    }
}

fn parse_prompt(v: Option<&Value>) -> Result<String, ApiError> {
    let prompt = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(s)] => s.clone(),
            [] => return Err(reject("prompt", "`prompt` must not be empty")),
            [Value::String(_), ..] => return Err(reject(
                "prompt",
                "only one prompt per request is supported: send the prompts as separate requests",
            )),
            _ => {
                return Err(reject(
                    "prompt",
                    "token-id prompts are not supported: Bedrock models take text",
                ))
            }
        },
        None | Some(Value::Null) => {
            return Err(reject("prompt", "missing required parameter: `prompt`"))
        }
        Some(_) => {
            return Err(reject(
                "prompt",
                "`prompt` must be a string or an array of one string",
            ))
        }
    };
    if prompt.trim().is_empty() {
        return Err(reject("prompt", "`prompt` must contain text"));
    }
    Ok(prompt)
}

fn parse_stop(obj: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| reject(&format!("stop[{i}]"), "`stop` entries must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(reject(
                "stop",
                "`stop` must be a string or an array of strings",
            ))
        }
    };
    if stop.len() > 4 {
        return Err(reject("stop", "`stop` takes at most 4 sequences"));
    }
    Ok(stop)
}

/// A `text_completion` object: the unary answer, and (with `usage` absent or `choices`
/// empty) each streamed chunk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextCompletion<'a> {
    pub id: Cow<'a, str>,
    pub object: &'static str,
    pub created: u64,
    pub model: Cow<'a, str>,
    pub choices: Vec<TextChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `choices[]` item: `finish_reason` and `logprobs` are always serialized (`null` in chunks
/// until the end; `logprobs` always `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextChoice<'a> {
    pub text: Cow<'a, str>,
    pub index: u32,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'a str>,
}

impl<'a> TextChoice<'a> {
    /// Choice 0 with `text`; a chat `finish_reason` is narrowed to the three this object
    /// allows (`tool_calls` cannot happen without tools and reads as `stop`).
    pub fn first(text: Cow<'a, str>, finish_reason: Option<&'a str>) -> Self {
        Self {
            text,
            index: 0,
            logprobs: None,
            finish_reason: finish_reason.map(|r| match r {
                "length" | "content_filter" => r,
                _ => "stop",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompts_and_defaults() {
        let r = CompletionRequest::parse(
            br#"{"model":"m","prompt":["Say hi"],"stream":true,"stream_options":{"include_usage":true},
                 "stop":"END","echo":true,"logprobs":0,"best_of":1,"n":1,"suffix":"","presence_penalty":1,"user":"u"}"#,
        )
        .unwrap();
        assert_eq!(r.prompt, "Say hi");
        assert!(r.stream && r.include_usage && r.echo);
        assert_eq!(r.max_tokens, DEFAULT_MAX_TOKENS);
        assert_eq!(r.stop, vec!["END"]);
        let r =
            CompletionRequest::parse(br#"{"model":"m","prompt":"x","max_tokens":100}"#).unwrap();
        assert_eq!((r.max_tokens, r.echo, r.stream), (100, false, false));
    }

    /// More rejections, with their messages, are cases of `tests/fixtures/openai/completions/`.
    #[test]
    fn unsupported_options_are_rejected_by_name() {
        let cases = [
            (r#"{"prompt":"x"}"#, "model"),
            (r#"{"model":"m","prompt":""}"#, "prompt"),
            (r#"{"model":"m","prompt":[]}"#, "prompt"),
            (r#"{"model":"m","prompt":[1,2,3]}"#, "prompt"),
            (r#"{"model":"m","prompt":[[1,2]]}"#, "prompt"),
            (r#"{"model":"m","prompt":7}"#, "prompt"),
            (r#"{"model":"m","prompt":"x","echo":"yes"}"#, "echo"),
            (r#"{"model":"m","prompt":"x","max_tokens":0}"#, "max_tokens"),
            (r#"{"model":"m","prompt":"x","stop":[1]}"#, "stop[0]"),
        ];
        for (body, param) in cases {
            let e = CompletionRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{body}");
        }
    }

    #[test]
    fn serializes_like_openai() {
        let c = TextCompletion {
            id: "cmpl-1".into(),
            object: TEXT_COMPLETION_OBJECT,
            created: 7,
            model: "m".into(),
            choices: vec![TextChoice::first("hi".into(), Some("tool_calls"))],
            usage: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":"cmpl-1","object":"text_completion","created":7,"model":"m","choices":[{"text":"hi","index":0,"logprobs":null,"finish_reason":"stop"}]}"#
        );
    }
}
