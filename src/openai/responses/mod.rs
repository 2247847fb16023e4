//! `POST /v1/responses`: the request as we accept it (OpenAPI `CreateResponse`) and the
//! `response` object we answer with.
//!
//! The gateway is stateless: `previous_response_id`, `conversation`, stored prompts and
//! `item_reference`s are 400s that say to send the whole input; `store` is accepted and the
//! answer says `store: false`. Only `function` tools exist on Bedrock: `namespace` groups
//! are flattened and `web_search` is dropped ([`tools`]); another built-in tool
//! (`file_search`, `code_interpreter`, `computer_use_preview`, `mcp`, …) is a 400 naming its
//! type. Content parts, tool definitions, `text.format`, `reasoning.effort`
//! and `metadata` are read by the chat parsers, so both endpoints check them alike.

mod input;
mod options;
mod reasoning;
mod tools;
mod types;

pub use reasoning::{seal as seal_reasoning, ENCRYPTED_CONTENT};
pub use tools::{wire_name as namespaced_tool_name, NAMESPACE_SEPARATOR};

pub use types::{
    Echo, IncompleteDetails, InputItem, InputTokensDetails, OutputItem, OutputText,
    OutputTokensDetails, ResponseError, ResponseObject, ResponseUsage, ResponsesRequest,
    SummaryText, RESPONSE_OBJECT,
};

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::json::{json_object, opt_bool, opt_number, opt_string, opt_u32, required_model};

/// Top-level fields read by [`ResponsesRequest::parse`]; any other is reported as ignored.
const HANDLED: &[&str] = &[
    "model",
    "bedrock_model",
    "input",
    "instructions",
    "stream",
    "stream_options",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "metadata",
    "user",
    "service_tier",
    "store",
    "include",
    "truncation",
    "background",
    "previous_response_id",
    "conversation",
    "prompt",
];

/// How reasoning items that cannot be sent back are reported in `x-bedrock-ignored-params`.
pub const DROPPED_REASONING: &str = "input.reasoning";

/// Fields that need state kept between calls: refused, as the gateway keeps none.
const STATEFUL: &[(&str, &str)] = &[
    ("previous_response_id", "`previous_response_id` is not supported: this gateway stores no responses; send the full conversation in `input`"),
    ("conversation", "`conversation` is not supported: this gateway stores no conversations; send the full conversation in `input`"),
    ("prompt", "stored prompts (`prompt`) are not supported: send `instructions` and the full `input`"),
];

impl ResponsesRequest {
    /// Parses and validates a request body; every failure is a 400 naming its field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = json_object(body)?;
        for (key, why) in STATEFUL {
            if obj.get(*key).is_some_and(|v| !v.is_null()) {
                return Err(ApiError::invalid_param(*key, *why));
            }
        }
        if opt_bool(&obj, "background")? == Some(true) {
            return Err(ApiError::invalid_param(
                "background",
                "background responses are not supported: this gateway stores no responses",
            ));
        }
        let model = required_model(&obj)?;
        let bedrock_model = opt_string(&obj, "bedrock_model")?.filter(|s| !s.trim().is_empty());
        if let Some(id) = &bedrock_model {
            crate::catalog::model_id::check_bedrock_id("bedrock_model", id)?;
        }
        let parsed = tools::parse_tools(&obj)?;
        let tool_choice = options::parse_tool_choice(&obj, &parsed.tools)?;
        let input = input::parse_input(&obj)?;
        let req = Self {
            model,
            bedrock_model,
            instructions: opt_string(&obj, "instructions")?,
            stream: opt_bool(&obj, "stream")?.unwrap_or(false),
            max_output_tokens: opt_u32(&obj, "max_output_tokens")?,
            temperature: opt_number(&obj, "temperature", 0.0, 2.0)?,
            top_p: opt_number(&obj, "top_p", 0.0, 1.0)?,
            tools: parsed.tools,
            tool_choice,
            format: options::parse_text_format(&obj)?,
            reasoning_effort: options::parse_reasoning(&obj)?,
            user: opt_string(&obj, "user")?,
            metadata: crate::openai::chat::parse_metadata(&obj)?,
            service_tier: opt_string(&obj, "service_tier")?,
            ignored: ignored_params(&obj, &input, parsed.ignored)?,
            echo: Echo::default(),
            encrypted_reasoning: reasoning::parse_include(&obj)?,
            input,
        };
        let echo = options::echo(&obj, &req, parsed.echo);
        Ok(Self { echo, ..req })
    }
}

/// Parameters present with a value Bedrock cannot honour, then unknown fields, then
/// `input.reasoning` when a reasoning item came without `encrypted_content` (dropped).
fn ignored_params(
    obj: &Map<String, Value>,
    input: &[InputItem],
    dropped_tools: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    // `store` is checked for its type only: nothing is stored either way.
    opt_bool(obj, "store")?;
    let mut out = Vec::new();
    for (key, v) in obj {
        let ignored = match key.as_str() {
            "parallel_tool_calls" => v.as_bool() == Some(false),
            "truncation" => v.as_str() == Some("auto"),
            "store" => v.as_bool() == Some(true),
            k if HANDLED.contains(&k) => false,
            _ => !v.is_null(),
        };
        if ignored {
            out.push(key.clone());
        }
    }
    out.extend(dropped_tools);
    if input.contains(&InputItem::Reasoning(None)) {
        out.push(DROPPED_REASONING.into());
    }
    Ok(crate::openai::chat::reportable_ignored(out))
}

#[cfg(test)]
mod tests;
