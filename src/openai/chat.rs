//! `POST /v1/chat/completions`: the request as we accept it and the unary response
//! (OpenAPI `CreateChatCompletionRequest` / `CreateChatCompletionResponse`).
//!
//! The request is read from a `serde_json::Value` by hand rather than derived, so that every
//! rejection names the exact field (`messages[2].content`) in the OpenAI error's `param`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog::models::Provider;
use crate::error::ApiError;
use crate::openai::chunk::Usage;

/// Who wrote a message. `developer` is OpenAI's newer name for `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One content part (`ChatCompletionRequestMessageContentPart*`).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `text` parts, and the `refusal` parts of assistant messages.
    Text(String),
    Image(Image),
}

/// An `image_url` part whose URL was a `data:` URL: the format Bedrock names and the
/// (validated) base64 payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub format: &'static str,
    pub base64: String,
}

/// An assistant `tool_calls[]` entry, `function.arguments` parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentPart>,
    /// Assistant messages only.
    pub tool_calls: Vec<ToolCall>,
    /// Tool messages only.
    pub tool_call_id: Option<String>,
    /// Written in the legacy form: an assistant `function_call` (its one entry in
    /// `tool_calls`) or a `role: "function"` message (a tool message). Only error messages
    /// care: they name the field the client sent.
    pub legacy: bool,
}

/// A `tools[]` entry of type `function`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema; `{"type":"object","properties":{}}` when absent.
    pub parameters: Value,
    pub strict: bool,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    None,
    Auto,
    Required,
    Function(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: bool,
    },
}

/// `reasoning_effort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningEffort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
}

/// The fields of a chat request that the translation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// Extension: the Bedrock model id to call, over `model` and its alias.
    pub bedrock_model: Option<String>,
    /// Extension: the provider family, over the one inferred from the model id.
    pub model_provider: Option<Provider>,
    pub messages: Vec<Message>,
    pub stream: bool,
    pub include_usage: bool,
    /// `max_completion_tokens` wins over the deprecated `max_tokens`.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    /// `tools`, or the legacy `functions` (same representation).
    pub tools: Vec<Tool>,
    /// `tool_choice`, or the legacy `function_call` (`none` / `auto` / `{"name": …}`).
    pub tool_choice: Option<ToolChoice>,
    /// The request used legacy function calling (`functions` / `function_call`): the answer
    /// is given in the legacy `function_call` form.
    pub legacy_functions: bool,
    pub response_format: ResponseFormat,
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Anthropic-style `thinking` object, passed through.
    pub thinking: Option<Value>,
    pub user: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub service_tier: Option<String>,
    /// Parameters accepted but not honoured, in request order (the
    /// `x-bedrock-ignored-params` response header).
    pub ignored: Vec<String>,
}

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

impl ChatRequest {
    /// Parses and validates a request body; every failure is a 400 naming its field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = json_object(body)?;
        let model = required_model(&obj)?;
        let bedrock_model = opt_string(&obj, "bedrock_model")?.filter(|s| !s.trim().is_empty());
        if let Some(id) = &bedrock_model {
            crate::catalog::model_id::check_bedrock_id("bedrock_model", id)?;
        }
        let model_provider = match opt_string(&obj, "model_provider")? {
            None => None,
            Some(p) => Some(Provider::from_name(&p).ok_or_else(|| {
                ApiError::invalid_param(
                    "model_provider",
                    format!("unknown model_provider `{p}`: expected anthropic, amazon, meta, mistral, cohere, deepseek, openai or other"),
                )
            })?),
        };
        let messages = match obj.get("messages") {
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut messages = Vec::with_capacity(items.len());
                for (i, m) in items.iter().enumerate() {
                    let message = parse_message(i, m, &messages)?;
                    messages.push(message);
                }
                messages
            }
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
        let include_usage = include_usage(&obj)?;
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
        let legacy_functions = ["functions", "function_call"]
            .iter()
            .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()));
        let (tools, tool_choice) = if legacy_functions {
            for current in ["tools", "tool_choice"] {
                if obj.get(current).is_some_and(|v| !v.is_null()) {
                    let named = if obj.get("functions").is_some_and(|v| !v.is_null()) {
                        "functions"
                    } else {
                        "function_call"
                    };
                    return Err(ApiError::invalid_param(
                        named,
                        format!("`{named}` (legacy function calling) cannot be combined with `{current}`: send either `functions`/`function_call` or `tools`/`tool_choice`"),
                    ));
                }
            }
            let functions = parse_functions(&obj)?;
            let choice = parse_function_call(&obj, &functions)?;
            (functions, choice)
        } else {
            let tools = parse_tools(&obj)?;
            let choice = parse_tool_choice(&obj, &tools)?;
            (tools, choice)
        };
        let response_format = parse_response_format(&obj)?;
        let reasoning_effort = match opt_string(&obj, "reasoning_effort")?.as_deref() {
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
        };
        let thinking = match obj.get("thinking") {
            None | Some(Value::Null) => None,
            Some(Value::Object(t)) if t.get("type").is_some_and(Value::is_string) => {
                Some(Value::Object(t.clone()))
            }
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "thinking",
                    "`thinking` must be an object with a string `type` (Anthropic's format, e.g. {\"type\":\"enabled\",\"budget_tokens\":2048})",
                ))
            }
        };
        let user = opt_string(&obj, "user")?;
        let metadata = match obj.get("metadata") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ApiError::invalid_param(
                        format!("metadata.{k}"),
                        "`metadata` values must be strings",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(ApiError::invalid_param(
                    "metadata",
                    "`metadata` must be an object of strings",
                ))
            }
        };
        let service_tier = opt_string(&obj, "service_tier")?;
        match obj.get("n") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) if v.as_u64().is_some_and(|n| n > 1) => {
                return Err(ApiError::invalid_param(
                    "n",
                    "`n` > 1 is not supported: Bedrock returns one choice per call; send separate requests",
                ))
            }
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
        let ignored = ignored_params(&obj);
        Ok(Self {
            model,
            bedrock_model,
            model_provider,
            messages,
            stream,
            include_usage,
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            legacy_functions,
            response_format,
            reasoning_effort,
            thinking,
            user,
            metadata,
            service_tier,
            ignored,
        })
    }
}

/// Parameters present with a value Bedrock cannot honour (defaults such as `seed: null`,
/// `presence_penalty: 0`, `logprobs: false` are not reported), then unknown fields.
fn ignored_params(obj: &Map<String, Value>) -> Vec<String> {
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
const MAX_IGNORED_REPORTED: usize = 16;

/// The names fit for the header: field names of up to 64 characters of `[A-Za-z0-9_.-]`,
/// at most [`MAX_IGNORED_REPORTED`]; the rest are counted as `(N more)`. Unknown keys are
/// the client's to choose, so they are never echoed as they came.
fn reportable(names: Vec<String>) -> Vec<String> {
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

/// The tool-call id given to a legacy assistant `function_call` (message `turn` of the
/// request, function `name`): the `function` message that answers it gets the same id, so the
/// pair becomes a matching Bedrock `toolUse` / `toolResult` (ids mapped by
/// [`crate::translate::tools::bedrock_tool_id`]).
pub fn legacy_call_id(turn: usize, name: &str) -> String {
    format!("call_{turn}_{name}")
}

/// The id of the legacy call a `role: "function"` message at `i` named `name` answers: the
/// `function_call` of the assistant message just before (tool messages in between are
/// allowed), not answered yet.
fn answered_call_id(i: usize, name: &str, prior: &[Message]) -> Result<String, ApiError> {
    let at_name = format!("messages[{i}].name");
    for (k, m) in prior.iter().enumerate().rev() {
        match m.role {
            Role::Tool => continue,
            Role::Assistant => {
                let id = legacy_call_id(k, name);
                if !m.tool_calls.iter().any(|c| c.id == id) {
                    break;
                }
                if prior[k + 1..]
                    .iter()
                    .any(|r| r.tool_call_id.as_deref() == Some(id.as_str()))
                {
                    return Err(ApiError::invalid_param(
                        at_name,
                        format!("the function_call `{name}` of messages[{k}] is already answered"),
                    ));
                }
                return Ok(id);
            }
            _ => break,
        }
    }
    Err(ApiError::invalid_param(
        at_name,
        format!("a `function` message must answer the `function_call` of the assistant message just before it, and none calls `{name}`"),
    ))
}

fn parse_message(i: usize, m: &Value, prior: &[Message]) -> Result<Message, ApiError> {
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
        Some("tool") => Role::Tool,
        // Legacy function result: a tool message answering the legacy call (same
        // representation), see `answered_call_id`.
        Some("function") => return parse_function_message(i, m, prior),
        Some(other) => {
            return Err(ApiError::invalid_param(
                at("role"),
                format!(
                "unsupported role `{other}`: expected system, developer, user, assistant, tool or function"
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
    let mut tool_calls = match (role, m.get("tool_calls")) {
        (_, None | Some(Value::Null)) => Vec::new(),
        (Role::Assistant, Some(Value::Array(calls))) => calls
            .iter()
            .enumerate()
            .map(|(k, c)| parse_tool_call(&at(&format!("tool_calls[{k}]")), c))
            .collect::<Result<Vec<_>, _>>()?,
        (Role::Assistant, Some(_)) => {
            return Err(ApiError::invalid_param(
                at("tool_calls"),
                "`tool_calls` must be an array",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_param(
                at("tool_calls"),
                "only assistant messages carry `tool_calls`",
            ))
        }
    };
    let mut legacy = false;
    match (role, m.get("function_call")) {
        (_, None | Some(Value::Null)) => {}
        (Role::Assistant, Some(_)) if !tool_calls.is_empty() => {
            return Err(ApiError::invalid_param(
                at("function_call"),
                "an assistant message carries `tool_calls` or the legacy `function_call`, not both",
            ))
        }
        (Role::Assistant, Some(Value::Object(f))) => {
            legacy = true;
            let (name, arguments) = parse_function(&at("function_call"), f)?;
            tool_calls.push(ToolCall {
                id: legacy_call_id(i, &name),
                name,
                arguments,
            });
        }
        (Role::Assistant, Some(_)) => {
            return Err(ApiError::invalid_param(
                at("function_call"),
                "`function_call` must be an object with `name` and `arguments`",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_param(
                at("function_call"),
                "only assistant messages carry `function_call`",
            ))
        }
    }
    let tool_call_id = match role {
        Role::Tool => match m.get("tool_call_id") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => {
                return Err(ApiError::invalid_param(
                    at("tool_call_id"),
                    "a tool message needs the string `tool_call_id` of the call it answers",
                ))
            }
        },
        _ => None,
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => vec![ContentPart::Text(s.clone())],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| parse_part(&at(&format!("content[{j}]")), role, p))
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
    Ok(Message {
        role,
        content,
        tool_calls,
        tool_call_id,
        legacy,
    })
}

fn parse_tool_call(param: &str, c: &Value) -> Result<ToolCall, ApiError> {
    let bad = |field: &str, msg: &str| ApiError::invalid_param(format!("{param}{field}"), msg);
    let Value::Object(c) = c else {
        return Err(bad("", "each tool call must be an object"));
    };
    if c.get("type")
        .is_some_and(|t| t.as_str() != Some("function"))
    {
        return Err(bad(".type", "only `function` tool calls are supported"));
    }
    let id = match c.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad(".id", "a tool call needs a string `id`")),
    };
    let Some(Value::Object(f)) = c.get("function") else {
        return Err(bad(".function", "a tool call needs a `function` object"));
    };
    let (name, arguments) = parse_function(&format!("{param}.function"), f)?;
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

/// The `{name, arguments}` of a tool call's `function` or of a legacy `function_call`
/// (`param` names it): `arguments` must encode a JSON object (empty means `{}`).
fn parse_function(param: &str, f: &Map<String, Value>) -> Result<(String, Value), ApiError> {
    let bad = |field: &str, msg: &str| ApiError::invalid_param(format!("{param}{field}"), msg);
    let name = match f.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad(".name", "a function call needs a string `name`")),
    };
    let arguments = match f.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Err(bad(".arguments", "`arguments` must encode a JSON object")),
            Err(e) => {
                return Err(bad(
                    ".arguments",
                    &format!("`arguments` is not valid JSON: {e}"),
                ))
            }
        },
        Some(_) => return Err(bad(".arguments", "`arguments` must be a JSON string")),
    };
    Ok((name, arguments))
}

/// A legacy `{"role": "function", "name": …, "content": …}` message: the result of the
/// `function_call` just before, as a tool message (`content` may be null: an empty result).
fn parse_function_message(
    i: usize,
    m: &Map<String, Value>,
    prior: &[Message],
) -> Result<Message, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let name = match m.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ApiError::invalid_param(
                at("name"),
                "a function message needs the string `name` of the function it answers",
            ))
        }
    };
    let content = match m.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![ContentPart::Text(s.clone())],
        Some(_) => {
            return Err(ApiError::invalid_param(
                at("content"),
                "a function message's content must be a string",
            ))
        }
    };
    for key in ["tool_calls", "function_call"] {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::invalid_param(
                at(key),
                format!("only assistant messages carry `{key}`"),
            ));
        }
    }
    Ok(Message {
        role: Role::Tool,
        content,
        tool_calls: Vec::new(),
        tool_call_id: Some(answered_call_id(i, &name, prior)?),
        legacy: true,
    })
}

fn parse_part(param: &str, role: Role, p: &Value) -> Result<ContentPart, ApiError> {
    let kind = p.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => match p.get("text") {
            Some(Value::String(t)) => Ok(ContentPart::Text(t.clone())),
            _ => Err(ApiError::invalid_param(
                format!("{param}.text"),
                "a text part needs a string `text`",
            )),
        },
        Some("refusal") if role == Role::Assistant => match p.get("refusal") {
            Some(Value::String(t)) => Ok(ContentPart::Text(t.clone())),
            _ => Err(ApiError::invalid_param(
                format!("{param}.refusal"),
                "a refusal part needs a string `refusal`",
            )),
        },
        Some("image_url") if role == Role::User => {
            let url = match p.get("image_url") {
                Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                Some(Value::String(s)) => Some(s.as_str()),
                _ => None,
            };
            let Some(url) = url else {
                return Err(ApiError::invalid_param(
                    format!("{param}.image_url.url"),
                    "an image_url part needs `image_url.url`",
                ));
            };
            parse_data_url(url)
                .map(ContentPart::Image)
                .map_err(|msg| ApiError::invalid_param(format!("{param}.image_url"), msg))
        }
        Some(other @ ("image_url" | "input_audio" | "file")) => Err(ApiError::invalid_param(
            format!("{param}.type"),
            format!(
                "content part type `{other}` is not supported in {} messages",
                match role {
                    Role::System => "system",
                    Role::Developer => "developer",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Tool => "tool",
                }
            ),
        )),
        Some(other) => Err(ApiError::invalid_param(
            format!("{param}.type"),
            format!("content part type `{other}` is not supported"),
        )),
        None => Err(ApiError::invalid_param(
            format!("{param}.type"),
            "each content part needs a `type`",
        )),
    }
}

/// Accepts standard base64 with or without padding (some clients strip it).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `data:image/png;base64,…` → a Bedrock image. Remote `http(s)` URLs are refused: the filter
/// does not fetch (Bedrock takes bytes or S3 locations only).
fn parse_data_url(url: &str) -> Result<Image, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err("image URLs are not fetched: send the image inline as a base64 `data:` URL (png, jpeg, gif or webp)".into());
        }
        return Err("`image_url.url` must be a base64 `data:` URL".into());
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err("malformed data URL: no `,`".into());
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err("the data URL must be base64-encoded (`;base64,`)".into());
    };
    let declared = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(format!(
                "unsupported image type `{other}`: Bedrock takes png, jpeg, gif or webp"
            ))
        }
    };
    let bytes = BASE64_LENIENT
        .decode(data.trim())
        .map_err(|e| format!("the data URL is not valid base64: {e}"))?;
    if bytes.is_empty() {
        return Err("the image is empty".into());
    }
    // The bytes decide when they are recognisable: a mislabelled data URL still works.
    let format = sniff_image(&bytes).unwrap_or(declared);
    Ok(Image {
        format,
        base64: STANDARD.encode(&bytes),
    })
}

fn sniff_image(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Tool names Bedrock accepts (`ToolName`: `[a-zA-Z0-9_-]+`, 1 to 64 characters).
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_tools(obj: &Map<String, Value>) -> Result<Vec<Tool>, ApiError> {
    let items = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_param("tools", "`tools` must be an array")),
    };
    let mut tools: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, t) in items.iter().enumerate() {
        let at = |f: &str| format!("tools[{i}]{f}");
        match t.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => {
                return Err(ApiError::invalid_param(
                    at(".type"),
                    format!("tool type `{other}` is not supported: only `function` tools"),
                ))
            }
            None => {
                return Err(ApiError::invalid_param(
                    at(".type"),
                    "each tool needs `type: \"function\"`",
                ))
            }
        }
        let Some(Value::Object(f)) = t.get("function") else {
            return Err(ApiError::invalid_param(
                at(".function"),
                "each tool needs a `function` object",
            ));
        };
        let tool = parse_function_def(&at(".function"), f, &tools)?;
        tools.push(tool);
    }
    Ok(tools)
}

/// A function definition (`tools[i].function`, or a legacy `functions[i]`; `param` names it),
/// checked against the ones before it for duplicate names.
fn parse_function_def(
    param: &str,
    f: &Map<String, Value>,
    before: &[Tool],
) -> Result<Tool, ApiError> {
    let name = match f.get("name") {
        Some(Value::String(n)) if valid_tool_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(ApiError::invalid_param(
                format!("{param}.name"),
                format!("invalid tool name `{n}`: 1 to 64 characters of a-z, A-Z, 0-9, _ and -"),
            ))
        }
        _ => {
            return Err(ApiError::invalid_param(
                format!("{param}.name"),
                "each tool needs a string `name`",
            ))
        }
    };
    if before.iter().any(|t| t.name == name) {
        return Err(ApiError::invalid_param(
            format!("{param}.name"),
            format!("duplicate tool name `{name}`"),
        ));
    }
    let description = match f.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) if d.trim().is_empty() => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => {
            return Err(ApiError::invalid_param(
                format!("{param}.description"),
                "`description` must be a string",
            ))
        }
    };
    let parameters = match f.get("parameters") {
        None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(ApiError::invalid_param(
                format!("{param}.parameters"),
                "`parameters` must be a JSON Schema object",
            ))
        }
    };
    let strict = f.get("strict").and_then(Value::as_bool).unwrap_or(false);
    Ok(Tool {
        name,
        description,
        parameters,
        strict,
    })
}

/// Legacy `functions`: an array of function definitions (no `type` wrapper).
fn parse_functions(obj: &Map<String, Value>) -> Result<Vec<Tool>, ApiError> {
    let items = match obj.get("functions") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "functions",
                "`functions` must be a non-empty array of function definitions",
            ))
        }
    };
    let mut functions: Vec<Tool> = Vec::with_capacity(items.len());
    for (i, f) in items.iter().enumerate() {
        let Value::Object(f) = f else {
            return Err(ApiError::invalid_param(
                format!("functions[{i}]"),
                "each function must be an object with a `name`",
            ));
        };
        let function = parse_function_def(&format!("functions[{i}]"), f, &functions)?;
        functions.push(function);
    }
    Ok(functions)
}

/// Legacy `function_call`: `none`, `auto` or `{"name": …}` (one of `functions`), mapped like
/// `tool_choice`.
fn parse_function_call(
    obj: &Map<String, Value>,
    functions: &[Tool],
) -> Result<Option<ToolChoice>, ApiError> {
    let choice = match obj.get("function_call") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            other => {
                return Err(ApiError::invalid_param(
                    "function_call",
                    format!(
                    "unsupported function_call `{other}`: expected none, auto or {{\"name\": …}}"
                ),
                ))
            }
        },
        Some(Value::Object(o)) => match o.get("name") {
            Some(Value::String(n)) => ToolChoice::Function(n.clone()),
            _ => {
                return Err(ApiError::invalid_param(
                    "function_call",
                    "a named function_call is {\"name\": …}",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::invalid_param(
                "function_call",
                "`function_call` must be a string or an object",
            ))
        }
    };
    match &choice {
        ToolChoice::Function(n) if !functions.iter().any(|f| &f.name == n) => {
            Err(ApiError::invalid_param(
                "function_call",
                format!("function_call names `{n}`, which is not in `functions`"),
            ))
        }
        _ => Ok(Some(choice)),
    }
}

fn parse_tool_choice(
    obj: &Map<String, Value>,
    tools: &[Tool],
) -> Result<Option<ToolChoice>, ApiError> {
    let choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid_param(
                    "tool_choice",
                    format!("unsupported tool_choice `{other}`: expected none, auto, required or a named function"),
                ))
            }
        },
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(n)) => ToolChoice::Function(n.to_string()),
                _ => {
                    return Err(ApiError::invalid_param(
                        "tool_choice",
                        "a named tool_choice is {\"type\":\"function\",\"function\":{\"name\":…}}",
                    ))
                }
            }
        }
        Some(_) => {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "`tool_choice` must be a string or an object",
            ))
        }
    };
    match &choice {
        ToolChoice::Required if tools.is_empty() => Err(ApiError::invalid_param(
            "tool_choice",
            "tool_choice `required` needs `tools`",
        )),
        ToolChoice::Function(n) if !tools.iter().any(|t| &t.name == n) => {
            Err(ApiError::invalid_param(
                "tool_choice",
                format!("tool_choice names `{n}`, which is not in `tools`"),
            ))
        }
        _ => Ok(Some(choice)),
    }
}

fn parse_response_format(obj: &Map<String, Value>) -> Result<ResponseFormat, ApiError> {
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

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_param(
            key,
            format!("`{key}` must be a string"),
        )),
    }
}

/// The request body as a JSON object; anything else is a 400.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::invalid_request(
            "request body must be a JSON object",
        )),
    }
}

/// The required `model` string, checked by [`crate::catalog::model_id::check_client_model`].
pub(crate) fn required_model(obj: &Map<String, Value>) -> Result<String, ApiError> {
    match obj.get("model") {
        Some(Value::String(s)) => {
            crate::catalog::model_id::check_client_model("model", s)?;
            Ok(s.clone())
        }
        None | Some(Value::Null) => Err(ApiError::invalid_param(
            "model",
            "you must provide a model parameter",
        )),
        Some(_) => Err(ApiError::invalid_param("model", "`model` must be a string")),
    }
}

/// `stream_options.include_usage`, false when absent.
pub(crate) fn include_usage(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    match obj.get("stream_options") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(o)) => Ok(opt_bool(o, "include_usage")
            .map_err(|e| e.with_param("stream_options.include_usage"))?
            .unwrap_or(false)),
        Some(_) => Err(ApiError::invalid_param(
            "stream_options",
            "`stream_options` must be an object",
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ResponseToolCall>,
    /// The legacy form of one tool call, when the request used `functions` (then
    /// `tool_calls` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<ResponseFunction>,
    /// Not in OpenAI's schema; the de-facto field (DeepSeek, vLLM, LiteLLM) for thinking text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// `ChatCompletionMessageToolCall`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: ResponseFunction,
}

/// The `function` of a tool call: `arguments` is a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseFunction {
    pub name: String,
    pub arguments: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: &str) -> ApiError {
        ChatRequest::parse(body.as_bytes()).unwrap_err()
    }

    fn parse(v: Value) -> ChatRequest {
        ChatRequest::parse(v.to_string().as_bytes()).unwrap()
    }

    fn text(s: &str) -> ContentPart {
        ContentPart::Text(s.into())
    }

    /// A 1×1 transparent PNG.
    pub const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

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
                content: vec![text("s")],
                tool_calls: vec![],
                tool_call_id: None,
                legacy: false,
            }
        );
        assert_eq!(r.messages[1].content, vec![text("a"), text("b")]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(7));
        assert_eq!((r.temperature, r.top_p), (Some(0.5), Some(0.9)));
        assert_eq!(r.stop, vec!["END"]);
        assert!(r.ignored.is_empty());
        assert_eq!(r.response_format, ResponseFormat::Text);
    }

    #[test]
    fn parses_tools_tool_calls_and_tool_messages() {
        let r = parse(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]}
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "get_time"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}}
        }));
        assert_eq!(r.tools.len(), 2);
        assert!(r.tools[0].strict);
        assert_eq!(
            r.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Function("get_time".into())));
        let calls = &r.messages[1].tool_calls;
        assert_eq!(calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(calls[1].arguments, json!({}));
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.messages[3].content, vec![text("noon")]);
    }

    #[test]
    fn parses_images_json_modes_reasoning_and_extensions() {
        let r = parse(json!({
            "model": "m",
            "bedrock_model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "model_provider": "anthropic",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                // Declared jpeg, bytes are PNG: the bytes win. Padding stripped: still accepted.
                {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{}", PNG_1X1.trim_end_matches('=')), "detail": "low"}}
            ]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
            "reasoning_effort": "high",
            "user": "u-1",
            "metadata": {"team": "a"},
            "service_tier": "flex"
        }));
        assert_eq!(
            r.bedrock_model.as_deref(),
            Some("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        );
        assert_eq!(r.model_provider, Some(Provider::Anthropic));
        let ContentPart::Image(img) = &r.messages[0].content[1] else {
            panic!("not an image")
        };
        assert_eq!((img.format, img.base64.as_str()), ("png", PNG_1X1));
        assert!(matches!(
            r.response_format,
            ResponseFormat::JsonSchema { strict: true, .. }
        ));
        assert_eq!(r.reasoning_effort, Some(ReasoningEffort::High));
        assert_eq!(r.user.as_deref(), Some("u-1"));
        assert_eq!(r.metadata, vec![("team".into(), "a".into())]);
        assert_eq!(r.service_tier.as_deref(), Some("flex"));
    }

    #[test]
    fn parameters_without_effect_are_reported_and_defaults_are_not() {
        let r = parse(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "seed": 7, "presence_penalty": 0.5, "frequency_penalty": 0, "logit_bias": {"50256": -100},
            "logprobs": true, "top_logprobs": 2, "store": false, "parallel_tool_calls": false,
            "n": 1, "prediction": {"type": "content", "content": "x"}, "verbosity": null
        }));
        assert_eq!(
            r.ignored,
            vec![
                "logit_bias",
                "logprobs",
                "parallel_tool_calls",
                "prediction",
                "presence_penalty",
                "seed",
                "top_logprobs"
            ]
        );
        let quiet = parse(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "seed": null, "presence_penalty": 0, "logprobs": false, "store": false,
            "parallel_tool_calls": true, "logit_bias": {}
        }));
        assert!(quiet.ignored.is_empty(), "{:?}", quiet.ignored);
    }

    #[test]
    fn rejections_name_their_field() {
        let user = r#"[{"role":"user","content":"x"}]"#;
        let with = |extra: &str| format!(r#"{{"model":"m","messages":{user},{extra}}}"#);
        let msgs = |m: &str| format!(r#"{{"model":"m","messages":{m}}}"#);
        let call = |args: &str| {
            msgs(&format!(
                r#"[{{"role":"user","content":"x"}},{{"role":"assistant","tool_calls":[{{"id":"c1","type":"function","function":{{"name":"f","arguments":{args}}}}}]}}]"#
            ))
        };
        let cases: Vec<(String, Option<&str>)> = vec![
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#.into(),
                Some("model"),
            ),
            (r#"{"model":5,"messages":[]}"#.into(), Some("model")),
            (r#"{"model":"m"}"#.into(), Some("messages")),
            (r#"{"model":"m","messages":"hi"}"#.into(), Some("messages")),
            (r#"{"model":"m","messages":[]}"#.into(), Some("messages")),
            (
                msgs(r#"[{"role":"wizard","content":"x"}]"#),
                Some("messages[0].role"),
            ),
            (
                msgs(r#"[{"role":"function","content":"x"}]"#),
                Some("messages[0].name"),
            ),
            (
                msgs(r#"[{"role":"user","content":7}]"#),
                Some("messages[0].content"),
            ),
            (msgs(r#"[{"role":"user"}]"#), Some("messages[0].content")),
            (
                msgs(r#"[{"role":"user","content":[{"type":"text"}]}]"#),
                Some("messages[0].content[0].text"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"text":"x"}]}]"#),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]"#),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(
                    r#"[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]"#,
                ),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]"#),
                Some("messages[0].content[0].image_url.url"),
            ),
            (
                call(r#""{not json""#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                call(r#""[1,2]""#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                call(r#"{"a":1}"#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                msgs(
                    r#"[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]"#,
                ),
                Some("messages[0].tool_calls[0].id"),
            ),
            (
                msgs(r#"[{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}]"#),
                Some("messages[0].tool_calls[0].function"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x","tool_calls":[]}]"#),
                Some("messages[0].tool_calls"),
            ),
            (
                msgs(r#"[{"role":"tool","content":"x"}]"#),
                Some("messages[0].tool_call_id"),
            ),
            (with(r#""stream":"yes""#), Some("stream")),
            (with(r#""max_tokens":0"#), Some("max_tokens")),
            (with(r#""temperature":3"#), Some("temperature")),
            (with(r#""stop":[1]"#), Some("stop[0]")),
            (
                with(r#""stream_options":{"include_usage":1}"#),
                Some("stream_options.include_usage"),
            ),
            (with(r#""tools":{}"#), Some("tools")),
            (
                with(r#""tools":[{"type":"web_search"}]"#),
                Some("tools[0].type"),
            ),
            (
                with(r#""tools":[{"type":"function","function":{"name":"bad name"}}]"#),
                Some("tools[0].function.name"),
            ),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]"#,
                ),
                Some("tools[1].function.name"),
            ),
            (
                with(r#""tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]"#),
                Some("tools[0].function.parameters"),
            ),
            (with(r#""tool_choice":"sometimes""#), Some("tool_choice")),
            (with(r#""tool_choice":"required""#), Some("tool_choice")),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}"#,
                ),
                Some("tool_choice"),
            ),
            (
                with(r#""response_format":{"type":"xml"}"#),
                Some("response_format.type"),
            ),
            (
                with(r#""response_format":{"type":"json_schema"}"#),
                Some("response_format.json_schema"),
            ),
            (
                with(r#""response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#),
                Some("response_format.json_schema.name"),
            ),
            (
                with(
                    r#""response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[]}}"#,
                ),
                Some("response_format.json_schema.schema"),
            ),
            (
                with(r#""reasoning_effort":"max""#),
                Some("reasoning_effort"),
            ),
            (with(r#""thinking":true"#), Some("thinking")),
            (with(r#""metadata":{"a":1}"#), Some("metadata.a")),
            (with(r#""user":5"#), Some("user")),
            (with(r#""n":2"#), Some("n")),
            (with(r#""n":0"#), Some("n")),
            (with(r#""functions":[]"#), Some("functions")),
            (with(r#""functions":{}"#), Some("functions")),
            (with(r#""functions":["f"]"#), Some("functions[0]")),
            (
                with(r#""functions":[{"name":"bad name"}]"#),
                Some("functions[0].name"),
            ),
            (
                with(r#""functions":[{"name":"f"},{"name":"f"}]"#),
                Some("functions[1].name"),
            ),
            (
                with(r#""functions":[{"name":"f","parameters":[]}]"#),
                Some("functions[0].parameters"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":"required""#),
                Some("function_call"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":{"name":"g"}"#),
                Some("function_call"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":{}"#),
                Some("function_call"),
            ),
            (
                with(r#""function_call":{"name":"f"}"#),
                Some("function_call"),
            ),
            (
                with(
                    r#""functions":[{"name":"f"}],"tools":[{"type":"function","function":{"name":"g"}}]"#,
                ),
                Some("functions"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"tool_choice":"auto""#),
                Some("functions"),
            ),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"g"}}],"function_call":"auto""#,
                ),
                Some("function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f","arguments":"{oops"}}]"#,
                ),
                Some("messages[1].function_call.arguments"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"arguments":"{}"}}]"#,
                ),
                Some("messages[1].function_call.name"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":"f"}]"#),
                Some("messages[1].function_call"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x","function_call":{"name":"f"}}]"#),
                Some("messages[0].function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f"}}],"function_call":{"name":"f"}}]"#,
                ),
                Some("messages[1].function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"g","content":"r"}]"#,
                ),
                Some("messages[2].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"f","content":"r"},{"role":"function","name":"f","content":"again"}]"#,
                ),
                Some("messages[3].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"user","content":"y"},{"role":"function","name":"f","content":"late"}]"#,
                ),
                Some("messages[3].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"f","content":{"a":1}}]"#,
                ),
                Some("messages[2].content"),
            ),
            (with(r#""audio":{"voice":"alloy"}"#), Some("audio")),
            (with(r#""modalities":["text","audio"]"#), Some("modalities")),
            (with(r#""model_provider":"acme""#), Some("model_provider")),
            ("not json".into(), None),
            ("[1]".into(), None),
        ];
        for (body, param) in cases {
            let e = err(&body);
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.param.as_deref(), param, "{body}: {}", e.message);
        }
    }

    #[test]
    fn legacy_functions_parse_into_tools() {
        let r = parse(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "functions": [
                {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "get_time"}
            ],
            "function_call": {"name": "get_time"}
        }));
        assert!(r.legacy_functions);
        assert_eq!(
            r.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["get_weather", "get_time"]
        );
        assert_eq!(r.tools[0].description.as_deref(), Some("Weather"));
        assert_eq!(
            r.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Function("get_time".into())));
        assert!(r.ignored.is_empty(), "{:?}", r.ignored);
        for (choice, want) in [("none", ToolChoice::None), ("auto", ToolChoice::Auto)] {
            let r = parse(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "functions": [{"name": "f"}], "function_call": choice}),
            );
            assert_eq!(r.tool_choice, Some(want));
        }
        // `function_call` alone is legacy too; `functions: null` is not.
        let r = parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "function_call": "none"}),
        );
        assert!(r.legacy_functions && r.tools.is_empty());
        let r = parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "functions": null, "function_call": null, "tools": [{"type": "function", "function": {"name": "f"}}]}),
        );
        assert!(!r.legacy_functions);
        assert_eq!(r.tools.len(), 1);
    }

    #[test]
    fn legacy_function_history_becomes_tool_calls_with_stable_ids() {
        let r = parse(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"role": "function", "name": "get_weather", "content": "{\"temp\":21}"},
                {"role": "assistant", "content": "Checking the time too.", "function_call": {"name": "get_time", "arguments": ""}},
                {"role": "function", "name": "get_time", "content": null},
                {"role": "user", "content": "thanks"}
            ],
            "functions": [{"name": "get_weather"}, {"name": "get_time"}]
        }));
        let m = &r.messages;
        assert_eq!(
            m[1].tool_calls,
            vec![ToolCall {
                id: "call_1_get_weather".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }]
        );
        assert_eq!(m[2].role, Role::Tool);
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1_get_weather"));
        assert_eq!(m[2].content, vec![text("{\"temp\":21}")]);
        assert_eq!(m[3].content, vec![text("Checking the time too.")]);
        assert_eq!(m[3].tool_calls[0].id, "call_3_get_time");
        assert_eq!(m[3].tool_calls[0].arguments, json!({}));
        assert_eq!(m[4].tool_call_id.as_deref(), Some("call_3_get_time"));
        assert!(m[4].content.is_empty());
        // Same history, same ids: the ids depend on the turn and the name only.
        assert_eq!(legacy_call_id(1, "get_weather"), m[1].tool_calls[0].id,);
    }

    #[test]
    fn n_above_one_is_refused_with_an_explanation() {
        let e = err(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":3}"#);
        assert!(e.message.contains("not supported"), "{}", e.message);
    }

    #[test]
    fn ignored_names_are_reported_only_when_plain_and_few() {
        let mut fields = vec![r#""seed":1"#.to_string(), r#""a\r\nb":1"#.to_string()];
        fields.extend((0..20).map(|i| format!(r#""x{i}":1"#)));
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],{}}}"#,
            fields.join(",")
        );
        let r = ChatRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(r.ignored.len(), MAX_IGNORED_REPORTED + 1);
        assert!(r.ignored.contains(&"seed".to_string()));
        assert_eq!(r.ignored.last().map(String::as_str), Some("(6 more)"));
        assert!(r.ignored.iter().all(|n| !n.contains('\r')));
    }
}
