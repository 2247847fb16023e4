//! `POST /v1/chat/completions`: the request as we accept it and the unary response
//! (OpenAPI `CreateChatCompletionRequest` / `CreateChatCompletionResponse`).
//!
//! The request is read from a `serde_json::Value` by hand rather than derived, so that every
//! rejection names the exact field (`messages[2].content`) in the OpenAI error's `param`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::chunk::Usage;

/// Who wrote a message. `developer` is OpenAI's newer name for `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
}

/// One chat message, its content flattened to text parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<String>,
}

/// The fields of a chat request that the translation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    /// `max_completion_tokens` wins over the deprecated `max_tokens`.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// Parses and validates a request body; every failure is a 400 naming its field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid_request(format!("request body is not valid JSON: {e}"))
        })?;
        let Value::Object(obj) = value else {
            return Err(ApiError::invalid_request(
                "request body must be a JSON object",
            ));
        };
        let model = match obj.get("model") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(ApiError::invalid_param(
                    "model",
                    "`model` must not be empty",
                ))
            }
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_param(
                    "model",
                    "you must provide a model parameter",
                ))
            }
            Some(_) => return Err(ApiError::invalid_param("model", "`model` must be a string")),
        };
        let messages = match obj.get("messages") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, m)| parse_message(i, m))
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::Array(_)) => {
                return Err(ApiError::invalid_param(
                    "messages",
                    "`messages` must not be empty",
                ))
            }
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_param(
                    "messages",
                    "missing required parameter: `messages`",
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "messages",
                    "`messages` must be an array",
                ))
            }
        };
        let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
        let include_usage = match obj.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => opt_bool(o, "include_usage")
                .map_err(|e| e.with_param("stream_options.include_usage"))?
                .unwrap_or(false),
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "stream_options",
                    "`stream_options` must be an object",
                ))
            }
        };
        let max_tokens = match opt_u32(&obj, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => opt_u32(&obj, "max_tokens")?,
        };
        let temperature = opt_number(&obj, "temperature", 0.0, 2.0)?;
        let top_p = opt_number(&obj, "top_p", 0.0, 1.0)?;
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
        Ok(Self {
            model,
            messages,
            stream,
            include_usage,
            max_tokens,
            temperature,
            top_p,
            stop,
        })
    }
}

fn parse_message(i: usize, m: &Value) -> Result<Message, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let Value::Object(m) = m else {
        return Err(ApiError::invalid_param(
            format!("messages[{i}]"),
            "each message must be an object",
        ));
    };
    let role = match m.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("developer") => Role::Developer,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(ApiError::invalid_param(
                at("role"),
                format!(
                    "unsupported role `{other}`: expected system, developer, user or assistant"
                ),
            ))
        }
        None => {
            return Err(ApiError::invalid_param(
                at("role"),
                "each message needs a string `role`",
            ))
        }
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| parse_text_part(&at(&format!("content[{j}]")), p))
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) if role == Role::Assistant => Vec::new(),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_param(
                at("content"),
                "message content is required",
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid_param(
                at("content"),
                "content must be a string or an array of content parts",
            ))
        }
    };
    Ok(Message { role, content })
}

fn parse_text_part(param: &str, p: &Value) -> Result<String, ApiError> {
    let kind = p.get("type").and_then(Value::as_str);
    match (kind, p.get("text")) {
        (Some("text"), Some(Value::String(t))) => Ok(t.clone()),
        (Some("text"), _) => Err(ApiError::invalid_param(
            format!("{param}.text"),
            "a text part needs a string `text`",
        )),
        (Some(other), _) => Err(ApiError::invalid_param(
            format!("{param}.type"),
            format!("content part type `{other}` is not supported"),
        )),
        (None, _) => Err(ApiError::invalid_param(
            format!("{param}.type"),
            "each content part needs a `type`",
        )),
    }
}

pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_param(
            key,
            format!("`{key}` must be a boolean"),
        )),
    }
}

pub(crate) fn opt_u32(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid_param(
                key,
                format!("`{key}` must be a positive integer"),
            )),
        },
    }
}

pub(crate) fn opt_number(
    obj: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid_param(
                key,
                format!("`{key}` must be a number between {min} and {max}"),
            )),
        },
    }
}

/// A unary `chat.completion` object.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: &'static str,
    pub logprobs: Option<()>,
}

/// `ChatCompletionResponseMessage`: `content` and `refusal` are required, possibly null.
#[derive(Debug, Serialize)]
pub struct ResponseMessage {
    pub role: &'static str,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        ChatRequest::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_the_common_request() {
        let r = ChatRequest::parse(
            br#"{"model":"m","messages":[{"role":"system","content":"s"},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                "stream":true,"stream_options":{"include_usage":true},"max_tokens":5,
                "max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"stop":"END"}"#,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(
            r.messages[0],
            Message {
                role: Role::System,
                content: vec!["s".into()]
            }
        );
        assert_eq!(r.messages[1].content, vec!["a", "b"]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(7));
        assert_eq!((r.temperature, r.top_p), (Some(0.5), Some(0.9)));
        assert_eq!(r.stop, vec!["END"]);
    }

    #[test]
    fn rejections_name_their_field() {
        let cases = [
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#,
                Some("model"),
            ),
            (r#"{"model":5,"messages":[]}"#, Some("model")),
            (r#"{"model":"m"}"#, Some("messages")),
            (r#"{"model":"m","messages":"hi"}"#, Some("messages")),
            (r#"{"model":"m","messages":[]}"#, Some("messages")),
            (
                r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
                Some("messages[0].role"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":7}]}"#,
                Some("messages[0].content"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user"}]}"#,
                Some("messages[0].content"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}"#,
                Some("messages[0].content[0].text"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
                Some("stream"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
                Some("max_tokens"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                Some("temperature"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}"#,
                Some("stop[0]"),
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}}"#,
                Some("stream_options.include_usage"),
            ),
            ("not json", None),
            ("[1]", None),
        ];
        for (body, param) in cases {
            let e = err(body);
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.param.as_deref(), param, "{body}");
        }
    }
}
