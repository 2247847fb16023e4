//! `tools` of a Responses request: `function` tools, `namespace` groups of them, and the
//! built-in web search that agent clients add by default.
//!
//! Bedrock has one flat list of tools whose names are `[a-zA-Z0-9_-]{1,64}`, so a function
//! `f` in namespace `ns` goes to Bedrock as `ns__f` ([`wire_name`]); the answer splits the
//! name back ([`super::Echo::split_tool_name`]) into the `namespace` and `name` of the
//! `function_call` item, as OpenAI does. Codex CLI groups its sub-agent tools this way.
//!
//! `web_search` and `web_search_preview` cannot run on Bedrock. A client that only offers
//! them to the model (Codex does on every turn) gets an answer without them, reported in
//! `x-bedrock-ignored-params` as `tools.<type>`; other built-in tools (file search, code
//! interpreter, computer use, MCP, image generation) stay a 400, as their results would be
//! silently missing from the conversation.

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::openai::chat::{parse_function_def, valid_tool_name, Tool};

/// Joins a namespace and a function name: what Bedrock sees.
pub const NAMESPACE_SEPARATOR: &str = "__";

/// Built-in tools dropped (and reported) rather than refused.
const DROPPED_BUILTINS: &[&str] = &["web_search", "web_search_preview"];

/// The checked `tools`: the flat list sent to Bedrock, what the answer echoes, and the
/// built-in tools dropped.
#[derive(Debug, Default)]
pub(super) struct ParsedTools {
    pub tools: Vec<Tool>,
    /// The request's tools as the `response` object repeats them (dropped ones left out).
    pub echo: Vec<Value>,
    /// `tools.web_search` and the like, for `x-bedrock-ignored-params`.
    pub ignored: Vec<String>,
}

/// The name Bedrock sees for function `name` in `namespace`.
pub fn wire_name(namespace: &str, name: &str) -> String {
    format!("{namespace}{NAMESPACE_SEPARATOR}{name}")
}

/// A namespace name: the characters of a tool name, short enough to leave room for one.
fn valid_namespace(ns: &str) -> bool {
    valid_tool_name(ns) && ns.len() <= 62
}

/// `tools`: each a `function`, a `namespace` of functions, or a dropped built-in; anything
/// else is a 400 naming its type.
pub(super) fn parse_tools(obj: &Map<String, Value>) -> Result<ParsedTools, ApiError> {
    let items = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(ParsedTools::default()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid_param("tools", "`tools` must be an array")),
    };
    let mut out = ParsedTools {
        tools: Vec::with_capacity(items.len()),
        ..ParsedTools::default()
    };
    for (i, t) in items.iter().enumerate() {
        let at = format!("tools[{i}]");
        match (t.get("type").and_then(Value::as_str), t) {
            (Some("function"), Value::Object(f)) => {
                let tool = parse_function_def(&at, f, &out.tools)?;
                out.echo.push(function_echo(&tool, &tool.name));
                out.tools.push(tool);
            }
            (Some("namespace"), Value::Object(n)) => parse_namespace(&at, n, &mut out)?,
            (Some(kind), _) if DROPPED_BUILTINS.contains(&kind) => {
                let name = format!("tools.{kind}");
                if !out.ignored.contains(&name) {
                    out.ignored.push(name);
                }
            }
            (Some(other), _) => {
                return Err(ApiError::invalid_param(
                    format!("{at}.type"),
                    format!("tool type `{other}` is not supported on Bedrock: only `function` and `namespace` tools (built-in tools such as file_search, code_interpreter, computer_use and mcp are not available; web_search is dropped)"),
                ))
            }
            (None, _) => {
                return Err(ApiError::invalid_param(
                    format!("{at}.type"),
                    "each tool needs `type: \"function\"`",
                ))
            }
        }
    }
    Ok(out)
}

/// A `namespace` tool: its functions join the flat list under [`wire_name`]s.
fn parse_namespace(
    at: &str,
    n: &Map<String, Value>,
    out: &mut ParsedTools,
) -> Result<(), ApiError> {
    let ns = match n.get("name") {
        Some(Value::String(s)) if valid_namespace(s) => s.as_str(),
        _ => {
            return Err(ApiError::invalid_param(
                format!("{at}.name"),
                "a namespace needs a `name` of 1 to 62 characters of a-z, A-Z, 0-9, _ and -",
            ))
        }
    };
    let inner = match n.get("tools") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(ApiError::invalid_param(
                format!("{at}.tools"),
                "a namespace needs a non-empty `tools` array",
            ))
        }
    };
    let mut echoed = Vec::with_capacity(inner.len());
    for (j, t) in inner.iter().enumerate() {
        let at = format!("{at}.tools[{j}]");
        let f = match (t.get("type").and_then(Value::as_str), t) {
            (Some("function"), Value::Object(f)) => f,
            _ => {
                return Err(ApiError::invalid_param(
                    format!("{at}.type"),
                    "only `function` tools are supported inside a namespace",
                ))
            }
        };
        let mut tool = parse_function_def(&at, f, &[])?;
        let name = std::mem::take(&mut tool.name);
        tool.name = wire_name(ns, &name);
        if !valid_tool_name(&tool.name) || out.tools.iter().any(|t| t.name == tool.name) {
            return Err(ApiError::invalid_param(
                format!("{at}.name"),
                format!("`{ns}` + `{name}` must make a unique tool name of at most 64 characters (Bedrock sees `{ns}{NAMESPACE_SEPARATOR}{name}`)"),
            ));
        }
        echoed.push(function_echo(&tool, &name));
        out.tools.push(tool);
    }
    out.echo.push(json!({"type": "namespace", "name": ns,
        "description": n.get("description").and_then(Value::as_str).unwrap_or_default(),
        "tools": echoed}));
    Ok(())
}

fn function_echo(t: &Tool, name: &str) -> Value {
    json!({"type": "function", "name": name, "description": t.description,
           "parameters": t.parameters, "strict": t.strict})
}

/// Splits a tool name from Bedrock into (`namespace`, `name`) by the echoed `namespace`
/// tools; a name no namespace produced is returned whole.
pub(super) fn split_tool_name(echo_tools: Option<&Value>, wire: &str) -> (Option<String>, String) {
    let namespaces = echo_tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("namespace"));
    for ns in namespaces {
        let Some(prefix) = ns.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(rest) = wire
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(NAMESPACE_SEPARATOR))
        else {
            continue;
        };
        let known = ns.get("tools").and_then(Value::as_array).is_some_and(|ts| {
            ts.iter()
                .any(|t| t.get("name").and_then(Value::as_str) == Some(rest))
        });
        if known {
            return (Some(prefix.to_string()), rest.to_string());
        }
    }
    (None, wire.to_string())
}
