//! Tool definitions and the choice among them: `tools` / `tool_choice`, or the legacy
//! `functions` / `function_call` (same representation, never both forms in one request).

use serde_json::{Map, Value};

use super::types::{Tool, ToolChoice};
use crate::error::ApiError;

/// `tools` and `tool_choice`, or the legacy `functions` and `function_call` (then the flag is
/// true: the answer is given in the legacy form). Mixing the two forms is a 400.
pub(super) fn parse_tools_and_choice(
    obj: &Map<String, Value>,
) -> Result<(Vec<Tool>, Option<ToolChoice>, bool), ApiError> {
    let legacy_functions = ["functions", "function_call"]
        .iter()
        .any(|k| obj.get(*k).is_some_and(|v| !v.is_null()));
    if !legacy_functions {
        let tools = parse_tools(obj)?;
        let choice = parse_tool_choice(obj, &tools)?;
        return Ok((tools, choice, false));
    }
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
    let functions = parse_functions(obj)?;
    let choice = parse_function_call(obj, &functions)?;
    Ok((functions, choice, true))
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
        let mut tool = parse_function_def(&at(".function"), f, &tools)?;
        // LiteLLM and Anthropic put `cache_control` on the tool; accept it on the function too.
        if let Value::Object(t) = t {
            tool.cache = super::cache::mark(&at(""), t, None)?.or(tool.cache);
        }
        tools.push(tool);
    }
    Ok(tools)
}

/// A function definition (`tools[i].function`, or a legacy `functions[i]`; `param` names it),
/// checked against the ones before it for duplicate names.
pub(crate) fn parse_function_def(
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
    let cache = super::cache::mark(param, f, None)?;
    Ok(Tool {
        name,
        description,
        parameters,
        strict,
        cache,
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
