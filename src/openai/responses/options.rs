//! The options of a Responses request: `tool_choice`, `text.format`, `reasoning`, and the [`Echo`] the answer
//! repeats. The function, format, effort and metadata rules are chat's.

use serde_json::{json, Map, Value};

use super::types::{Echo, ResponsesRequest};
use crate::error::ApiError;
use crate::openai::chat::{
    parse_reasoning_effort, parse_response_format, ReasoningEffort, ResponseFormat, Tool,
    ToolChoice,
};

/// `tool_choice`: `none`, `auto`, `required`, or `{type: "function", name}` naming a tool.
pub(super) fn parse_tool_choice(
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
                    format!("unsupported tool_choice `{other}`: expected none, auto, required or a function"),
                ))
            }
        },
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function") => match o.get("name").and_then(Value::as_str) {
                Some(name) if tools.iter().any(|t| t.name == name) => {
                    ToolChoice::Function(name.to_string())
                }
                _ => {
                    return Err(ApiError::invalid_param(
                        "tool_choice.name",
                        "`tool_choice.name` must name one of the `tools`",
                    ))
                }
            },
            Some(other) => {
                return Err(ApiError::invalid_param(
                    "tool_choice.type",
                    format!("tool_choice type `{other}` is not supported: only `function`"),
                ))
            }
            None => {
                return Err(ApiError::invalid_param(
                    "tool_choice.type",
                    "`tool_choice` needs a `type`",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "`tool_choice` must be a string or an object",
            ))
        }
    };
    Ok(Some(choice))
}

/// `text.format`: `text`, `json_object` or `json_schema` (its fields flat on the format),
/// read by chat's `response_format` parser; the error names the field as written here.
pub(super) fn parse_text_format(obj: &Map<String, Value>) -> Result<ResponseFormat, ApiError> {
    let text = match obj.get("text") {
        None | Some(Value::Null) => return Ok(ResponseFormat::Text),
        Some(Value::Object(t)) => t,
        Some(_) => return Err(ApiError::invalid_param("text", "`text` must be an object")),
    };
    let format = match text.get("format") {
        None | Some(Value::Null) => return Ok(ResponseFormat::Text),
        Some(Value::Object(f)) => f,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "text.format",
                "`text.format` must be an object",
            ))
        }
    };
    let mut chat = Map::new();
    chat.insert(
        "type".into(),
        format.get("type").cloned().unwrap_or(Value::Null),
    );
    if format.get("type").and_then(Value::as_str) == Some("json_schema") {
        let mut js = format.clone();
        js.remove("type");
        chat.insert("json_schema".into(), Value::Object(js));
    }
    let mut shim = Map::new();
    shim.insert("response_format".into(), Value::Object(chat));
    parse_response_format(&shim).map_err(|e| {
        let field = e.param.as_deref().unwrap_or_default();
        let field = field
            .strip_prefix("response_format.json_schema")
            .or_else(|| field.strip_prefix("response_format"))
            .unwrap_or_default()
            .to_string();
        e.with_param(format!("text.format{field}"))
    })
}

/// `reasoning.effort` (chat's levels); `reasoning.summary` is accepted: the model's reasoning
/// text is always given as the summary.
pub(super) fn parse_reasoning(
    obj: &Map<String, Value>,
) -> Result<Option<ReasoningEffort>, ApiError> {
    let r = match obj.get("reasoning") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(r)) => r,
        Some(_) => {
            return Err(ApiError::invalid_param(
                "reasoning",
                "`reasoning` must be an object",
            ))
        }
    };
    let mut shim = Map::new();
    if let Some(e) = r.get("effort") {
        shim.insert("reasoning_effort".into(), e.clone());
    }
    parse_reasoning_effort(&shim).map_err(|e| e.with_param("reasoning.effort"))
}

/// What the `response` object repeats, from the checked request: the defaults OpenAI
/// reports when a field was not sent, and `store: false` always.
pub(super) fn echo(obj: &Map<String, Value>, req: &ResponsesRequest, tools: Vec<Value>) -> Echo {
    let tool_choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => json!("auto"),
        Some(ToolChoice::None) => json!("none"),
        Some(ToolChoice::Required) => json!("required"),
        Some(ToolChoice::Function(name)) => json!({"type": "function", "name": name}),
    };
    let format = match obj.get("text").and_then(|t| t.get("format")) {
        Some(f @ Value::Object(_)) => f.clone(),
        _ => json!({"type": "text"}),
    };
    let metadata: Map<String, Value> = req
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let reasoning = obj.get("reasoning").filter(|r| r.is_object()).map(|r| {
        json!({"effort": r.get("effort").cloned().unwrap_or(Value::Null),
               "summary": r.get("summary").cloned().unwrap_or(Value::Null)})
    });
    let service_tier = req
        .service_tier
        .as_deref()
        .filter(|t| ["auto", "default", "flex", "scale", "priority"].contains(t))
        .unwrap_or("default");
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("instructions", json!(req.instructions));
    put("tools", Value::Array(tools));
    put("tool_choice", tool_choice);
    put(
        "parallel_tool_calls",
        json!(obj
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true)),
    );
    put("temperature", json!(req.temperature.unwrap_or(1.0)));
    put("top_p", json!(req.top_p.unwrap_or(1.0)));
    put("max_output_tokens", json!(req.max_output_tokens));
    put("metadata", Value::Object(metadata));
    put("text", json!({"format": format}));
    put(
        "reasoning",
        reasoning.unwrap_or(json!({"effort": null, "summary": null})),
    );
    put("store", json!(false));
    put("service_tier", json!(service_tier));
    put(
        "truncation",
        json!(obj
            .get("truncation")
            .and_then(Value::as_str)
            .filter(|t| *t == "auto")
            .unwrap_or("disabled")),
    );
    put("previous_response_id", Value::Null);
    put("background", json!(false));
    if let Some(user) = &req.user {
        put("user", json!(user));
    }
    Echo(m)
}
