//! `messages[]`: roles, content parts, assistant tool calls and the tool messages answering
//! them, including the legacy `function_call` / `role: "function"` pair, which becomes an
//! ordinary call and result with a stable id.

use serde_json::{Map, Value};

use super::cache;
use super::file::parse_file_part;
use super::image::parse_image_url;
use super::raw::{Content, Item, Messages, Part, RawMessage};
use super::thinking;
use super::types::{CacheMark, ContentPart, Message, Role, ToolCall};
use crate::error::ApiError;

/// `messages`: a non-empty array, each message checked against the ones before it (a legacy
/// `function` message answers the call just before).
pub(super) fn parse_messages<'a>(
    messages: Option<Messages<'a>>,
) -> Result<Vec<Message<'a>>, ApiError> {
    match messages {
        Some(Messages::Items(items)) if !items.is_empty() => {
            let mut messages = Vec::with_capacity(items.len());
            for (i, m) in items.into_iter().enumerate() {
                let message = parse_message(i, m, &messages)?;
                messages.push(message);
            }
            Ok(messages)
        }
        Some(Messages::Items(_)) => Err(ApiError::invalid_param(
            "messages",
            "`messages` must not be empty",
        )),
        None | Some(Messages::Other(Value::Null)) => Err(ApiError::invalid_param(
            "messages",
            "missing required parameter: `messages`",
        )),
        Some(Messages::Other(_)) => Err(ApiError::invalid_param(
            "messages",
            "`messages` must be an array",
        )),
    }
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
fn answered_call_id(i: usize, name: &str, prior: &[Message<'_>]) -> Result<String, ApiError> {
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

fn parse_message<'a>(
    i: usize,
    item: Item<'a>,
    prior: &[Message<'_>],
) -> Result<Message<'a>, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let Item::Object(RawMessage {
        fields: m,
        role,
        content,
    }) = item
    else {
        return Err(ApiError::invalid_param(
            format!("messages[{i}]"),
            "each message must be an object",
        ));
    };
    let m = &m;
    let role = match role.as_deref() {
        // Legacy function result: a tool message answering the legacy call (same
        // representation), see `answered_call_id`.
        Some("function") => return parse_function_message(i, m, content, prior),
        role => parse_role(i, role)?,
    };
    let (tool_calls, legacy) = parse_calls(i, role, m)?;
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
    // Read before the parts are taken, reported after their errors.
    let cache = cache_marks(i, m, content.as_ref());
    let content = match content {
        Some(Content::Text(t)) => vec![ContentPart::Text(t)],
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| parse_part(&at(&format!("content[{j}]")), role, p))
            .collect::<Result<Vec<_>, _>>()?,
        None | Some(Content::Other(Value::Null)) if role == Role::Assistant => Vec::new(),
        None | Some(Content::Other(Value::Null)) => {
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
        cache: cache?,
        thinking: thinking::parse_blocks(i, role == Role::Assistant, m)?,
    })
}

/// The cache points of message `i`: after its content parts that ask for one, then after the
/// whole message.
fn cache_marks(
    i: usize,
    m: &Map<String, Value>,
    content: Option<&Content<'_>>,
) -> Result<Vec<CacheMark>, ApiError> {
    let mut marks = Vec::new();
    if let Some(Content::Parts(parts)) = content {
        for (j, p) in parts.iter().enumerate() {
            if let Value::Object(p) = &p.obj {
                if cache::asks(p) {
                    let at = format!("messages[{i}].content[{j}]");
                    marks.extend(cache::mark(&at, p, Some(j))?);
                }
            }
        }
    }
    if cache::asks(m) {
        marks.extend(cache::mark(&format!("messages[{i}]"), m, None)?);
    }
    Ok(marks)
}

/// The `role` of message `i`, other than the legacy `function`.
fn parse_role(i: usize, role: Option<&str>) -> Result<Role, ApiError> {
    let param = || format!("messages[{i}].role");
    match role {
        Some("system") => Ok(Role::System),
        Some("developer") => Ok(Role::Developer),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some("tool") => Ok(Role::Tool),
        Some(other) => Err(ApiError::invalid_param(
            param(),
            format!(
                "unsupported role `{other}`: expected system, developer, user, assistant, tool or function"
            ),
        )),
        None => Err(ApiError::invalid_param(
            param(),
            "each message needs a string `role`",
        )),
    }
}

/// The calls of message `i`: its `tool_calls`, or its one legacy `function_call` (then the
/// flag is true). Only assistant messages carry either, and never both.
fn parse_calls(
    i: usize,
    role: Role,
    m: &Map<String, Value>,
) -> Result<(Vec<ToolCall>, bool), ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
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
    Ok((tool_calls, legacy))
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
fn parse_function_message<'a>(
    i: usize,
    m: &Map<String, Value>,
    content: Option<Content<'a>>,
    prior: &[Message<'_>],
) -> Result<Message<'a>, ApiError> {
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
    let cache = cache_marks(i, m, content.as_ref());
    let content = match content {
        None | Some(Content::Other(Value::Null)) => Vec::new(),
        Some(Content::Text(t)) => vec![ContentPart::Text(t)],
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
        cache: cache?,
        thinking: thinking::parse_blocks(i, false, m)?,
    })
}

fn parse_part<'a>(param: &str, role: Role, part: Part<'a>) -> Result<ContentPart<'a>, ApiError> {
    let p = &part.obj;
    let kind = p.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => match part.text {
            Some(t) => super::guardrail::text_part(param, role, p, t),
            _ => Err(ApiError::invalid_param(
                format!("{param}.text"),
                "a text part needs a string `text`",
            )),
        },
        Some("refusal") if role == Role::Assistant => match p.get("refusal") {
            Some(Value::String(t)) => Ok(ContentPart::Text(t.clone().into())),
            _ => Err(ApiError::invalid_param(
                format!("{param}.refusal"),
                "a refusal part needs a string `refusal`",
            )),
        },
        // Images in tool results are an extension (OpenAI takes text only there); whether the
        // model takes them is decided at translation.
        Some("image_url") if matches!(role, Role::User | Role::Tool) => {
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
            parse_image_url(url)
                .map(ContentPart::Image)
                .map_err(|e| ApiError::invalid_param(format!("{param}.image_url"), e.to_string()))
        }
        Some("file") if role == Role::User => parse_file_part(param, p).map(ContentPart::Document),
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
