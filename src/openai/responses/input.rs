//! `input`: a string (one user message) or an array of items: messages with `input_text`,
//! `input_image` and `input_file` parts (and `output_text` / `refusal` in assistant
//! messages), `function_call`, `function_call_output` and `reasoning` (its
//! `encrypted_content` read by [`super::reasoning`]). Images and files are
//! read by the chat parsers, so they follow the same rules (data and `s3://` URLs, formats,
//! sizes). Items that point at server-side state (`item_reference`) or at built-in tools are
//! 400s naming the item.

use serde_json::{Map, Value};

use super::types::InputItem;
use crate::error::ApiError;
use crate::openai::chat::{parse_file_part, parse_image_url, ContentPart, Role};

/// `input`, required: a non-empty string or a non-empty array of items.
pub(super) fn parse_input(obj: &Map<String, Value>) -> Result<Vec<InputItem>, ApiError> {
    match obj.get("input") {
        Some(Value::String(s)) => Ok(vec![InputItem::Message {
            role: Role::User,
            content: vec![ContentPart::Text(s.clone().into())],
        }]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_item(&format!("input[{i}]"), item))
            .collect(),
        Some(Value::Array(_)) => Err(ApiError::invalid_param(
            "input",
            "`input` must not be empty",
        )),
        None | Some(Value::Null) => Err(ApiError::invalid_param(
            "input",
            "missing required parameter: `input` (this gateway keeps no state: send the whole conversation)",
        )),
        Some(_) => Err(ApiError::invalid_param(
            "input",
            "`input` must be a string or an array of items",
        )),
    }
}

fn parse_item(at: &str, item: &Value) -> Result<InputItem, ApiError> {
    let Value::Object(m) = item else {
        return Err(ApiError::invalid_param(
            at,
            "each input item must be an object",
        ));
    };
    let kind = match m.get("type") {
        None | Some(Value::Null) if m.contains_key("role") => "message",
        Some(Value::String(t)) => t.as_str(),
        _ => {
            return Err(ApiError::invalid_param(
                format!("{at}.type"),
                "each input item needs a string `type`",
            ))
        }
    };
    match kind {
        "message" => parse_message(at, m),
        "function_call" => Ok(InputItem::FunctionCall {
            call_id: required_str(at, m, "call_id")?,
            name: call_name(at, m)?,
            arguments: parse_arguments(at, m)?,
        }),
        "function_call_output" => Ok(InputItem::FunctionCallOutput {
            call_id: required_str(at, m, "call_id")?,
            output: parse_output(at, m)?,
        }),
        "reasoning" => Ok(InputItem::Reasoning(match m.get("encrypted_content") {
            None | Some(Value::Null) => None,
            Some(v) => Some(super::reasoning::open(
                &format!("{at}.encrypted_content"),
                v,
            )?),
        })),
        "item_reference" => Err(ApiError::invalid_param(
            format!("{at}.type"),
            "`item_reference` is not supported: this gateway stores no responses; send the item itself",
        )),
        other => Err(ApiError::invalid_param(
            format!("{at}.type"),
            format!("input item type `{other}` is not supported: only message, function_call, function_call_output and reasoning items"),
        )),
    }
}

/// A call's `name`, joined with its `namespace` the way the request's tools were.
fn call_name(at: &str, m: &Map<String, Value>) -> Result<String, ApiError> {
    let name = required_str(at, m, "name")?;
    match m.get("namespace") {
        None | Some(Value::Null) => Ok(name),
        Some(Value::String(ns)) if crate::openai::chat::valid_tool_name(ns) => {
            Ok(super::tools::wire_name(ns, &name))
        }
        Some(_) => Err(ApiError::invalid_param(
            format!("{at}.namespace"),
            "`namespace` must be a tool namespace name (a-z, A-Z, 0-9, _ and -)",
        )),
    }
}

fn required_str(at: &str, m: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::invalid_param(
            format!("{at}.{key}"),
            format!("`{key}` must be a non-empty string"),
        )),
    }
}

/// `arguments`: a JSON object in a string; empty means no arguments.
fn parse_arguments(at: &str, m: &Map<String, Value>) -> Result<Value, ApiError> {
    let bad = || {
        ApiError::invalid_param(
            format!("{at}.arguments"),
            "`arguments` must be a string holding a JSON object",
        )
    };
    match m.get("arguments") {
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Value::Object(Map::new())),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// `output` of a `function_call_output`: a string, or parts (text, images, files).
fn parse_output(at: &str, m: &Map<String, Value>) -> Result<Vec<ContentPart<'static>>, ApiError> {
    match m.get("output") {
        Some(Value::String(s)) => Ok(vec![ContentPart::Text(s.clone().into())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| parse_part(&format!("{at}.output[{j}]"), Role::Tool, p))
            .collect(),
        _ => Err(ApiError::invalid_param(
            format!("{at}.output"),
            "`output` must be a string or an array of content parts",
        )),
    }
}

fn parse_message(at: &str, m: &Map<String, Value>) -> Result<InputItem, ApiError> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") => Role::System,
        Some("developer") => Role::Developer,
        _ => {
            return Err(ApiError::invalid_param(
                format!("{at}.role"),
                "`role` must be user, assistant, system or developer",
            ))
        }
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => vec![ContentPart::Text(s.clone().into())],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| parse_part(&format!("{at}.content[{j}]"), role, p))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::invalid_param(
                format!("{at}.content"),
                "`content` must be a string or an array of content parts",
            ))
        }
    };
    Ok(InputItem::Message { role, content })
}

fn text_field(param: &str, p: &Value, key: &str) -> Result<ContentPart<'static>, ApiError> {
    match p.get(key) {
        Some(Value::String(t)) => Ok(ContentPart::Text(t.clone().into())),
        _ => Err(ApiError::invalid_param(
            format!("{param}.{key}"),
            format!("this part needs a string `{key}`"),
        )),
    }
}

fn parse_part(param: &str, role: Role, p: &Value) -> Result<ContentPart<'static>, ApiError> {
    let kind = p.get("type").and_then(Value::as_str);
    let takes_media = matches!(role, Role::User | Role::Tool);
    match kind {
        Some("input_text") => text_field(param, p, "text"),
        Some("output_text") if role == Role::Assistant => text_field(param, p, "text"),
        Some("refusal") if role == Role::Assistant => text_field(param, p, "refusal"),
        Some("input_image") if takes_media => parse_image(param, p),
        Some("input_file") if role == Role::User => parse_file(param, p),
        Some(other @ ("output_text" | "refusal" | "input_image" | "input_file")) => {
            Err(ApiError::invalid_param(
                format!("{param}.type"),
                format!("content part type `{other}` is not supported in this item"),
            ))
        }
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

/// `input_image`: `image_url` (a data or `s3://` URL); `file_id` needs a Files API.
fn parse_image(param: &str, p: &Value) -> Result<ContentPart<'static>, ApiError> {
    if p.get("file_id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid_param(
            format!("{param}.file_id"),
            "`file_id` is not supported: this gateway has no Files API; send `image_url` as a base64 `data:` URL",
        ));
    }
    let Some(Value::String(url)) = p.get("image_url") else {
        return Err(ApiError::invalid_param(
            format!("{param}.image_url"),
            "an input_image part needs `image_url`",
        ));
    };
    parse_image_url(url)
        .map(ContentPart::Image)
        .map_err(|e| ApiError::invalid_param(format!("{param}.image_url"), e.to_string()))
}

/// `input_file`: the fields of chat's `file` object, flat on the part; read by the chat
/// parser, with the error's `param` named as the client wrote it.
fn parse_file(param: &str, p: &Value) -> Result<ContentPart<'static>, ApiError> {
    if p.get("file_url").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::invalid_param(
            format!("{param}.file_url"),
            "file URLs are not fetched: send the document as `file_data` (a base64 `data:` URL) or an `s3://` URL",
        ));
    }
    let mut file = Map::new();
    for key in ["file_data", "filename", "file_id"] {
        if let Some(v) = p.get(key) {
            file.insert(key.into(), v.clone());
        }
    }
    let mut part = Map::new();
    part.insert("file".into(), Value::Object(file));
    if let Some(c) = p.get("citations") {
        part.insert("citations".into(), c.clone());
    }
    let chat_prefix = format!("{param}.file.");
    parse_file_part(param, &Value::Object(part))
        .map(ContentPart::Document)
        .map_err(|e| {
            match e
                .param
                .as_deref()
                .and_then(|q| q.strip_prefix(&chat_prefix))
            {
                Some(field) => {
                    let renamed = format!("{param}.{field}");
                    e.with_param(renamed)
                }
                None => e,
            }
        })
}
