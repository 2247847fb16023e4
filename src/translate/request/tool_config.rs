//! Tools: the client's `tools` and `tool_choice` (or legacy `functions` / `function_call`,
//! which arrive as tools already; only the answer's form differs) → `toolConfig`, including
//! the cases Bedrock has no direct form for: `tool_choice: "none"` with tool calls in the
//! history, and extended thinking, which only allows an automatic choice.

use serde_json::json;

use super::cache::point;
use super::capabilities::native_structured_output;
use super::{Ignored, Target};
use crate::converse::request::{
    ContentBlock, Empty, Message, SystemContentBlock, Tool, ToolChoice as BedrockChoice,
    ToolConfig, ToolInputSchema, ToolSpec,
};
use crate::openai::chat::{ChatRequest, ToolChoice};
use crate::translate::tools::OutputMode;

/// The tools and choice being built; the JSON answer (`response_format`) may add to them.
pub(super) struct ToolPlan {
    pub specs: Vec<Tool>,
    pub choice: Option<BedrockChoice>,
}

/// The client's tools and choice for `target`, given the translated conversation, and the
/// answer's form so far.
pub(super) fn plan(
    req: &ChatRequest,
    target: Target<'_>,
    messages: &[Message],
) -> (ToolPlan, OutputMode) {
    let mut output = OutputMode {
        legacy_functions: req.legacy_functions,
        ..OutputMode::default()
    };
    let mut specs: Vec<Tool> = Vec::with_capacity(req.tools.len());
    for t in &req.tools {
        specs.push(Tool::ToolSpec(ToolSpec {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: ToolInputSchema {
                json: t.parameters.clone(),
            },
            strict: (t.strict && native_structured_output(target)).then_some(true),
        }));
        if let Some(mark) = t.cache {
            specs.push(Tool::CachePoint(point(mark.ttl)));
        }
    }
    let mut choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) | Some(ToolChoice::None) => None,
        Some(ToolChoice::Required) => Some(BedrockChoice::Any(Empty {})),
        Some(ToolChoice::Function(n)) => Some(BedrockChoice::Tool { name: n.clone() }),
    };
    let no_tool_calls = req.tool_choice == Some(ToolChoice::None) || req.tools.is_empty();
    if no_tool_calls {
        if history_has_tools(messages) {
            // Bedrock needs a toolConfig whenever the history holds tool blocks, and has no
            // `none` choice: declare the tools (or stand-ins named after the history's
            // calls), ask for text, and drop any tool call that comes back anyway.
            if specs.is_empty() {
                specs = history_tool_names(messages)
                    .into_iter()
                    .map(stand_in_tool)
                    .collect();
            }
            output.drop_tool_calls = true;
        } else {
            specs.clear();
        }
        choice = None;
    }
    (ToolPlan { specs, choice }, output)
}

/// The `toolConfig` (none without tools), after the JSON answer had its say: the
/// instruction not to call dropped tools, and an automatic choice under Anthropic extended
/// thinking (a forced one the client asked for is then ignored).
pub(super) fn finish(
    plan: ToolPlan,
    req: &ChatRequest,
    anthropic_thinking: bool,
    output: &OutputMode,
    system: &mut Vec<SystemContentBlock>,
    ignored: &mut Ignored,
) -> Option<ToolConfig> {
    let ToolPlan { specs, mut choice } = plan;
    if output.drop_tool_calls {
        let text = match &output.json_tool {
            Some(json_tool) => {
                format!("Do not call any tool other than `{json_tool}` in this reply.")
            }
            None => "Do not call any tool in this reply; answer in text.".to_string(),
        };
        system.push(SystemContentBlock::Text(text.into()));
    }
    if anthropic_thinking
        && matches!(
            choice,
            Some(BedrockChoice::Any(_) | BedrockChoice::Tool { .. })
        )
    {
        // Extended thinking only allows an automatic tool choice.
        choice = None;
        if matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Function(_))
        ) {
            ignored.add(if req.legacy_functions {
                "function_call"
            } else {
                "tool_choice"
            });
        }
    }
    (!specs.is_empty()).then_some(ToolConfig {
        tools: specs,
        tool_choice: choice,
    })
}

/// Whether the conversation holds tool calls or results.
fn history_has_tools(messages: &[Message]) -> bool {
    messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
    })
}

/// A declaration for a tool the history calls but the request no longer offers.
fn stand_in_tool(name: String) -> Tool {
    Tool::ToolSpec(ToolSpec {
        name,
        description: Some("No longer available.".into()),
        input_schema: ToolInputSchema {
            json: json!({"type": "object", "properties": {}}),
        },
        strict: None,
    })
}

/// Names of the tools called in the history, first-seen order, deduplicated.
fn history_tool_names(messages: &[Message]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in messages {
        for b in &m.content {
            if let ContentBlock::ToolUse(t) = b {
                if !names.contains(&t.name) {
                    names.push(t.name.clone());
                }
            }
        }
    }
    names
}
