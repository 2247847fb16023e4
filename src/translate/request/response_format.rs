//! JSON mode: `response_format` (`json_object` / `json_schema`) in the strongest form the
//! model supports: Bedrock's native structured output, else a forced tool whose input is the
//! answer ([`JSON_TOOL`], turned back into `content` by the response side), else an
//! instruction in the system prompt (best effort).

use serde_json::{json, Value};

use super::capabilities::{forced_tool_choice, native_structured_output};
use super::tool_config::ToolPlan;
use super::Target;
use crate::converse::request::{
    Empty, JsonSchemaDefinition, OutputConfig, OutputFormat, OutputFormatStructure,
    SystemContentBlock, Tool, ToolChoice as BedrockChoice, ToolInputSchema, ToolSpec,
};
use crate::error::ApiError;
use crate::openai::chat::{ChatRequest, ResponseFormat};
use crate::translate::tools::{OutputMode, JSON_TOOL};

/// Applies `response_format`: returns the native `outputConfig`, or adds the JSON tool to
/// `tools` (and notes it in `output`), or adds an instruction to `system`.
pub(super) fn json_output(
    req: &ChatRequest,
    target: Target<'_>,
    tools: &mut ToolPlan,
    system: &mut Vec<SystemContentBlock>,
    output: &mut OutputMode,
) -> Result<Option<OutputConfig>, ApiError> {
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            ..
        } if native_structured_output(target) => {
            return Ok(Some(OutputConfig {
                text_format: OutputFormat {
                    kind: "json_schema",
                    structure: OutputFormatStructure {
                        json_schema: JsonSchemaDefinition {
                            schema: schema.to_string(),
                            name: Some(name.clone()),
                            description: description.clone(),
                        },
                    },
                },
            }));
        }
        format if forced_tool_choice(target) => {
            json_tool(req, format, tools, system, output)?;
        }
        format => {
            // No structured output and no forced tools: ask in words (best effort).
            let text = match format {
                ResponseFormat::JsonSchema { schema, .. } => format!(
                    "Respond only with one JSON value that validates against this JSON Schema, with no prose and no code fences: {schema}"
                ),
                _ => "Respond only with one valid JSON object, with no prose and no code fences."
                    .to_string(),
            };
            system.push(SystemContentBlock::Text(text.into()));
        }
    }
    Ok(None)
}

/// The forced-tool fallback: [`JSON_TOOL`] takes the schema, the choice forces it (or any
/// tool, when the client's tools may be called instead), and the system prompt says so.
fn json_tool(
    req: &ChatRequest,
    format: &ResponseFormat,
    tools: &mut ToolPlan,
    system: &mut Vec<SystemContentBlock>,
    output: &mut OutputMode,
) -> Result<(), ApiError> {
    if req.tools.iter().any(|t| t.name == JSON_TOOL) {
        return Err(ApiError::invalid_param(
            "response_format",
            format!("a tool named `{JSON_TOOL}` cannot be combined with response_format: the name is reserved for the JSON answer"),
        ));
    }
    let (schema, description): (Value, String) = match format {
        ResponseFormat::JsonSchema {
            schema,
            description,
            name,
            ..
        } => (
            schema.clone(),
            description
                .clone()
                .unwrap_or_else(|| format!("Give the answer ({name}) as this tool's input.")),
        ),
        _ => (
            json!({"type": "object"}),
            "Give the answer as a JSON object: this tool's input.".to_string(),
        ),
    };
    tools.specs.push(Tool::ToolSpec(ToolSpec {
        name: JSON_TOOL.into(),
        description: Some(description),
        input_schema: ToolInputSchema { json: schema },
        strict: None,
    }));
    tools.choice = match tools.choice.take() {
        named @ Some(BedrockChoice::Tool { .. }) => named,
        _ if output.drop_tool_calls || req.tools.is_empty() => Some(BedrockChoice::Tool {
            name: JSON_TOOL.into(),
        }),
        _ => Some(BedrockChoice::Any(Empty {})),
    };
    system.push(SystemContentBlock::Text(
        format!(
            "Give your final answer by calling the `{JSON_TOOL}` tool with the answer as its input."
        )
        .into(),
    ));
    output.json_tool = Some(JSON_TOOL.into());
    Ok(())
}
