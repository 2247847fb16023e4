//! OpenAI chat request → Converse request body.
//!
//! Bedrock is stricter than OpenAI about conversation shape (user first, roles alternating,
//! no blank text, tool results right after the tool calls), so the OpenAI message list is
//! normalised here rather than rejected upstream. Every parameter Bedrock cannot honour is
//! either mapped, reported in [`Translation::ignored`], or was refused with a 400 while
//! parsing (see the README's parameter table).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::catalog::models::{claude_version, Provider};
use crate::converse::request::{
    ContentBlock, ConversationRole, ConverseRequest, Empty, ImageBlock, ImageSource,
    InferenceConfig, JsonSchemaDefinition, Message, OutputConfig, OutputFormat,
    OutputFormatStructure, ServiceTier, SystemContentBlock, Tool, ToolChoice as BedrockChoice,
    ToolConfig, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpec, ToolUseBlock,
};
use crate::error::ApiError;
use crate::openai::chat::{
    ChatRequest, ContentPart, ReasoningEffort, ResponseFormat, Role, ToolChoice,
};
use crate::openai::completion::CompletionRequest;
use crate::translate::tools::{bedrock_tool_id, OutputMode, JSON_TOOL};

/// The user turn put in front of a conversation that starts with the assistant: Bedrock
/// requires the first message to come from the user.
pub const LEADING_USER_PLACEHOLDER: &str = "(continue)";

/// What a tool result with no content is sent as (Bedrock refuses blank text).
pub const EMPTY_TOOL_RESULT: &str = "(empty)";

/// Extended-thinking budgets for `reasoning_effort` on Anthropic models.
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal | ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(4096),
        ReasoningEffort::High => Some(16384),
        ReasoningEffort::XHigh => Some(32768),
    }
}

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;
/// `maxTokens` room left for the visible answer when the client set no limit but thinking
/// is on (Anthropic requires `max_tokens` > `budget_tokens`).
const ANSWER_ROOM: u32 = 8192;

/// The model a request goes to, as far as translation cares.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub model_id: &'a str,
    pub provider: Provider,
}

/// The translated request and what the response phase needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub body: ConverseRequest,
    /// Parameters accepted but not honoured (sorted names, parse-time ones first).
    pub ignored: Vec<String>,
    pub output: OutputMode,
}

/// Whether Bedrock's native structured output (`outputConfig.textFormat`) is used for
/// `json_schema`: Anthropic Claude 4.5 and later. Other models get the forced-tool fallback.
pub fn native_structured_output(t: Target<'_>) -> bool {
    t.provider == Provider::Anthropic && claude_version(t.model_id).is_some_and(|v| v >= (4, 5))
}

/// Whether the model takes a forced `toolChoice` (`any` / `tool`): Anthropic and Amazon Nova.
fn forced_tool_choice(t: Target<'_>) -> bool {
    matches!(t.provider, Provider::Anthropic | Provider::Amazon)
}

/// Newer Anthropic models (Claude 4 and later) reject `temperature` together with `top_p`.
fn rejects_temperature_with_top_p(t: Target<'_>) -> bool {
    t.provider == Provider::Anthropic && claude_version(t.model_id).is_none_or(|v| v >= (4, 0))
}

/// Whether `reasoning_effort` maps onto Anthropic extended thinking (Claude 3.7 and later).
fn anthropic_thinks(t: Target<'_>) -> bool {
    claude_version(t.model_id).is_none_or(|v| v >= (3, 7))
}

/// Amazon Nova first-generation models have no reasoning config.
fn nova_reasons(t: Target<'_>) -> bool {
    !["nova-micro", "nova-lite", "nova-pro", "nova-premier"]
        .iter()
        .any(|m| t.model_id.contains(m))
}

/// Builds the Converse body for `req` sent to `target`.
pub fn to_converse_request(req: &ChatRequest, target: Target<'_>) -> Result<Translation, ApiError> {
    let mut ignored = req.ignored.clone();
    let mut ignore = |name: &str| {
        if !ignored.iter().any(|n| n == name) {
            ignored.push(name.to_string());
        }
    };
    let (mut system, mut messages) = to_messages(req)?;
    let history_has_tools = messages.iter().any(|m| {
        m.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)))
    });

    // Reasoning: `thinking` passthrough wins over `reasoning_effort`.
    let mut additional = Map::new();
    let mut thinking_budget_tokens: Option<u32> = None;
    if let Some(t) = &req.thinking {
        if t.get("type").and_then(Value::as_str) == Some("enabled") {
            thinking_budget_tokens = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .and_then(|b| u32::try_from(b).ok());
        }
        additional.insert("thinking".into(), t.clone());
        if req.reasoning_effort.is_some() {
            ignore("reasoning_effort");
        }
    } else if let Some(effort) = req.reasoning_effort.filter(|e| *e != ReasoningEffort::None) {
        let level = match effort {
            ReasoningEffort::Minimal | ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            _ => "high",
        };
        match target.provider {
            Provider::Anthropic if anthropic_thinks(target) => {
                let mut budget = thinking_budget(effort).unwrap_or(MIN_THINKING_BUDGET);
                if let Some(max) = req.max_tokens {
                    // OpenAI's max_completion_tokens covers reasoning too: keep half for it.
                    budget = budget.min((max / 2).max(MIN_THINKING_BUDGET));
                }
                thinking_budget_tokens = Some(budget);
                additional.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
            Provider::Amazon if nova_reasons(target) => {
                additional.insert(
                    "reasoningConfig".into(),
                    json!({"type": "enabled", "maxReasoningEffort": level}),
                );
            }
            Provider::OpenAi => {
                additional.insert("reasoning_effort".into(), json!(level));
            }
            _ => ignore("reasoning_effort"),
        }
    }
    let anthropic_thinking =
        thinking_budget_tokens.is_some() && target.provider == Provider::Anthropic;

    // Sampling.
    let mut temperature = req.temperature.map(|t| t.min(1.0));
    let mut top_p = req.top_p;
    let mut max_tokens = req.max_tokens;
    if anthropic_thinking {
        // Thinking requires the default temperature and top_p.
        if temperature.take().is_some() {
            ignore("temperature");
        }
        if top_p.take().is_some() {
            ignore("top_p");
        }
    } else if temperature.is_some() && top_p.is_some() && rejects_temperature_with_top_p(target) {
        top_p = None;
        ignore("top_p");
    }
    if let Some(budget) = thinking_budget_tokens {
        max_tokens = match max_tokens {
            Some(m) if m <= budget => Some(m.saturating_add(budget)),
            Some(m) => Some(m),
            None => Some(budget.saturating_add(ANSWER_ROOM)),
        };
    }

    // Tools.
    // Legacy `functions` arrive as `tools` already; only the answer's form differs.
    let mut output = OutputMode {
        legacy_functions: req.legacy_functions,
        ..OutputMode::default()
    };
    let mut specs: Vec<Tool> = req
        .tools
        .iter()
        .map(|t| Tool {
            tool_spec: ToolSpec {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: ToolInputSchema {
                    json: t.parameters.clone(),
                },
                strict: (t.strict && native_structured_output(target)).then_some(true),
            },
        })
        .collect();
    let mut choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) | Some(ToolChoice::None) => None,
        Some(ToolChoice::Required) => Some(BedrockChoice::Any(Empty {})),
        Some(ToolChoice::Function(n)) => Some(BedrockChoice::Tool { name: n.clone() }),
    };
    let no_tool_calls = req.tool_choice == Some(ToolChoice::None) || req.tools.is_empty();
    if no_tool_calls {
        if history_has_tools {
            // Bedrock needs a toolConfig whenever the history holds tool blocks, and has no
            // `none` choice: declare the tools (or stand-ins named after the history's
            // calls), ask for text, and drop any tool call that comes back anyway.
            if specs.is_empty() {
                specs = history_tool_names(&messages)
                    .into_iter()
                    .map(|name| Tool {
                        tool_spec: ToolSpec {
                            name,
                            description: Some("No longer available.".into()),
                            input_schema: ToolInputSchema {
                                json: json!({"type": "object", "properties": {}}),
                            },
                            strict: None,
                        },
                    })
                    .collect();
            }
            output.drop_tool_calls = true;
        } else {
            specs.clear();
        }
        choice = None;
    }

    // JSON output.
    let mut output_config = None;
    match &req.response_format {
        ResponseFormat::Text => {}
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            ..
        } if native_structured_output(target) => {
            output_config = Some(OutputConfig {
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
            });
        }
        format if forced_tool_choice(target) => {
            if req.tools.iter().any(|t| t.name == JSON_TOOL) {
                return Err(ApiError::invalid_param(
                    "response_format",
                    format!("a tool named `{JSON_TOOL}` cannot be combined with response_format: the name is reserved for the JSON answer"),
                ));
            }
            let (schema, description) = match format {
                ResponseFormat::JsonSchema {
                    schema,
                    description,
                    name,
                    ..
                } => (
                    schema.clone(),
                    description.clone().unwrap_or_else(|| {
                        format!("Give the answer ({name}) as this tool's input.")
                    }),
                ),
                _ => (
                    json!({"type": "object"}),
                    "Give the answer as a JSON object: this tool's input.".to_string(),
                ),
            };
            specs.push(Tool {
                tool_spec: ToolSpec {
                    name: JSON_TOOL.into(),
                    description: Some(description),
                    input_schema: ToolInputSchema { json: schema },
                    strict: None,
                },
            });
            choice = match choice {
                named @ Some(BedrockChoice::Tool { .. }) => named,
                _ if output.drop_tool_calls || req.tools.is_empty() => Some(BedrockChoice::Tool {
                    name: JSON_TOOL.into(),
                }),
                _ => Some(BedrockChoice::Any(Empty {})),
            };
            system.push(SystemContentBlock {
                text: format!(
                    "Give your final answer by calling the `{JSON_TOOL}` tool with the answer as its input."
                ),
            });
            output.json_tool = Some(JSON_TOOL.into());
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
            system.push(SystemContentBlock { text });
        }
    }
    if output.drop_tool_calls {
        let text = match &output.json_tool {
            Some(json_tool) => {
                format!("Do not call any tool other than `{json_tool}` in this reply.")
            }
            None => "Do not call any tool in this reply; answer in text.".to_string(),
        };
        system.push(SystemContentBlock { text });
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
            ignore(if req.legacy_functions {
                "function_call"
            } else {
                "tool_choice"
            });
        }
    }
    let tool_config = (!specs.is_empty()).then_some(ToolConfig {
        tools: specs,
        tool_choice: choice,
    });

    // Metadata and tier.
    let mut request_metadata = BTreeMap::new();
    if let Some(user) = &req.user {
        if metadata_ok(user, 0) {
            request_metadata.insert("user".to_string(), user.clone());
        } else {
            ignore("user");
        }
    }
    for (k, v) in &req.metadata {
        if metadata_ok(k, 1) && metadata_ok(v, 0) && request_metadata.len() < 16 {
            request_metadata
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        } else {
            ignore("metadata");
        }
    }
    let service_tier = match req.service_tier.as_deref() {
        None | Some("auto") => None,
        Some(t @ ("default" | "flex" | "priority")) => Some(ServiceTier {
            kind: match t {
                "default" => "default",
                "flex" => "flex",
                _ => "priority",
            },
        }),
        Some(_) => {
            ignore("service_tier");
            None
        }
    };

    if let Some(first) = messages.first() {
        if first.role == ConversationRole::Assistant {
            messages.insert(
                0,
                Message {
                    role: ConversationRole::User,
                    content: vec![ContentBlock::Text(LEADING_USER_PLACEHOLDER.into())],
                },
            );
        }
    }
    let inference = InferenceConfig {
        max_tokens,
        temperature,
        top_p,
        stop_sequences: req.stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
    };
    Ok(Translation {
        body: ConverseRequest {
            messages,
            system,
            inference_config: (!inference.is_empty()).then_some(inference),
            tool_config,
            additional_model_request_fields: (!additional.is_empty())
                .then_some(Value::Object(additional)),
            request_metadata,
            output_config,
            service_tier,
        },
        ignored,
        output,
    })
}

/// `RequestMetadata` keys and values: `[a-zA-Z0-9\s:_@$#=/+,-.]`, up to 256 characters.
fn metadata_ok(s: &str, min: usize) -> bool {
    (min..=256).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c))
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

/// The conversation: system and developer messages (anywhere) become `system` blocks in
/// order; tool messages become `toolResult` blocks of a user turn; consecutive same-role
/// turns merge; blank text and empty assistant turns are dropped. Tool calls and their results
/// must pair up as OpenAI requires: each tool message answers a call of the assistant message
/// before it, and each call is answered before the conversation moves on.
fn to_messages(req: &ChatRequest) -> Result<(Vec<SystemContentBlock>, Vec<Message>), ApiError> {
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    // Calls of the latest assistant message still waiting for a result: (message index, id).
    let mut pending: Vec<(usize, String)> = Vec::new();
    let unanswered = |at: usize, id: &str| {
        if req.messages[at].legacy {
            ApiError::invalid_param(
                format!("messages[{at}].function_call"),
                "an assistant message with a function_call must be followed by the `function` message answering it",
            )
        } else {
            ApiError::invalid_param(
                format!("messages[{at}].tool_calls"),
                format!("an assistant message with tool_calls must be followed by tool messages answering each call; `{id}` has no answer"),
            )
        }
    };
    for (i, m) in req.messages.iter().enumerate() {
        if m.role != Role::Tool {
            if let Some((at, id)) = pending.first() {
                return Err(unanswered(*at, id));
            }
        }
        let texts = || {
            m.content.iter().filter_map(|p| match p {
                ContentPart::Text(t) if !is_blank(t) => Some(t.clone()),
                _ => None,
            })
        };
        let (role, blocks): (ConversationRole, Vec<ContentBlock>) = match m.role {
            Role::System | Role::Developer => {
                system.extend(texts().map(|text| SystemContentBlock { text }));
                continue;
            }
            Role::User => (
                ConversationRole::User,
                m.content
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text(t) if is_blank(t) => None,
                        ContentPart::Text(t) => Some(ContentBlock::Text(t.clone())),
                        ContentPart::Image(img) => Some(ContentBlock::Image(ImageBlock {
                            format: img.format,
                            source: ImageSource {
                                bytes: img.base64.clone(),
                            },
                        })),
                    })
                    .collect(),
            ),
            Role::Assistant => {
                let mut blocks: Vec<ContentBlock> = texts().map(ContentBlock::Text).collect();
                for c in &m.tool_calls {
                    pending.push((i, c.id.clone()));
                    blocks.push(ContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: bedrock_tool_id(&c.id),
                        name: c.name.clone(),
                        input: c.arguments.clone(),
                    }));
                }
                (ConversationRole::Assistant, blocks)
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let Some(pos) = pending.iter().position(|(_, p)| *p == id) else {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].tool_call_id"),
                        format!("tool message `{id}` does not answer a tool call of the preceding assistant message"),
                    ));
                };
                pending.remove(pos);
                (
                    ConversationRole::User,
                    vec![ContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: bedrock_tool_id(&id),
                        content: vec![tool_result_content(&m.content)],
                    })],
                )
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(Message {
                role,
                content: blocks,
            }),
        }
    }
    if let Some((at, id)) = pending.first() {
        return Err(unanswered(*at, id));
    }
    // Bedrock wants a turn's tool results before anything else in it.
    for m in &mut messages {
        if m.role == ConversationRole::User {
            m.content
                .sort_by_key(|b| !matches!(b, ContentBlock::ToolResult(_)));
        }
    }
    if messages.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "the conversation has no user or assistant message with non-empty content",
        ));
    }
    Ok((system, messages))
}

/// A tool message's content: a JSON object stays JSON (`json` block), anything else is text.
/// Blank as Bedrock judges text blocks: white space as Rust sees it, plus the information
/// separators U+001C..U+001F, which Java's `Character.isWhitespace` (Bedrock) and Python's
/// `str.isspace` (the emulator) count as white space and `char::is_whitespace` does not. Such
/// a text sent on makes Bedrock answer `ValidationException: … is blank` (found by the
/// Bedrock-rules oracle of the property tests and the `chat_request` fuzz target).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn tool_result_content(parts: &[ContentPart]) -> ToolResultContentBlock {
    let text: String = parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            ContentPart::Image(_) => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    if is_blank(&text) {
        return ToolResultContentBlock::Text(EMPTY_TOOL_RESULT.into());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => ToolResultContentBlock::Json(v),
        _ => ToolResultContentBlock::Text(text),
    }
}

/// Legacy completion → Converse: the prompt is the one user turn.
pub fn completion_to_converse(req: &CompletionRequest) -> Result<ConverseRequest, ApiError> {
    let inference = InferenceConfig {
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature.map(|t| t.min(1.0)),
        top_p: req.top_p,
        stop_sequences: req.stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
    };
    Ok(ConverseRequest {
        messages: vec![Message {
            role: ConversationRole::User,
            content: vec![ContentBlock::Text(req.prompt.clone())],
        }],
        system: Vec::new(),
        inference_config: Some(inference),
        tool_config: None,
        additional_model_request_fields: None,
        request_metadata: Default::default(),
        output_config: None,
        service_tier: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::chat::ChatRequest;
    use serde_json::json;

    const CLAUDE_35: &str = "us.anthropic.claude-3-5-sonnet-20241022-v2:0";
    const CLAUDE_37: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    const SONNET_4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
    const SONNET_45: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    const NOVA_PRO: &str = "amazon.nova-pro-v1:0";
    const NOVA_2: &str = "us.amazon.nova-2-lite-v1:0";
    const LLAMA: &str = "us.meta.llama3-3-70b-instruct-v1:0";
    const GPT_OSS: &str = "openai.gpt-oss-120b-1:0";
    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    fn run(model: &str, body: Value) -> Result<Translation, ApiError> {
        let req = ChatRequest::parse(body.to_string().as_bytes())?;
        to_converse_request(
            &req,
            Target {
                model_id: model,
                provider: Provider::infer(model),
            },
        )
    }

    fn translate(model: &str, body: Value) -> (Value, Vec<String>, OutputMode) {
        let t = run(model, body).unwrap();
        let v = serde_json::to_value(&t.body).unwrap();
        validate_against_botocore(&v);
        (v, t.ignored, t.output)
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": text})
    }

    fn weather_tool() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    fn tool_history() -> Vec<Value> {
        vec![
            user("weather in Paris and Rome?"),
            json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"}),
            json!({"role": "tool", "tool_call_id": "call_2", "content": "sunny, 25C"}),
        ]
    }

    // ---- botocore model check -------------------------------------------------------------

    fn botocore() -> Value {
        crate::test_support::botocore_model()
    }

    /// Walks `v` against shape `name` of botocore's model: unknown members, missing required
    /// members, wrong JSON types and union members count are errors; `Document` is free.
    fn check_shape(shapes: &Value, name: &str, v: &Value, path: &str) {
        let shape = &shapes[name];
        match shape["type"].as_str().unwrap() {
            "structure" => {
                let obj = v
                    .as_object()
                    .unwrap_or_else(|| panic!("{path}: not an object"));
                if shape["document"].as_bool() == Some(true) {
                    return;
                }
                let members = shape["members"].as_object().unwrap();
                for req in shape["required"].as_array().into_iter().flatten() {
                    let r = req.as_str().unwrap();
                    if r != "modelId" {
                        assert!(obj.contains_key(r), "{path}: missing required `{r}`");
                    }
                }
                if shape["union"].as_bool() == Some(true) {
                    assert_eq!(obj.len(), 1, "{path}: a union takes exactly one member");
                }
                for (k, child) in obj {
                    let m = members
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}: `{k}` is not a member of {name}"));
                    check_shape(
                        shapes,
                        m["shape"].as_str().unwrap(),
                        child,
                        &format!("{path}.{k}"),
                    );
                }
            }
            "list" => {
                let items = v.as_array().unwrap_or_else(|| panic!("{path}: not a list"));
                if let Some(min) = shape["min"].as_u64() {
                    assert!(items.len() as u64 >= min, "{path}: fewer than {min} items");
                }
                for (i, item) in items.iter().enumerate() {
                    check_shape(
                        shapes,
                        shape["member"]["shape"].as_str().unwrap(),
                        item,
                        &format!("{path}[{i}]"),
                    );
                }
            }
            "map" => {
                let obj = v.as_object().unwrap_or_else(|| panic!("{path}: not a map"));
                for (k, child) in obj {
                    check_shape(
                        shapes,
                        shape["value"]["shape"].as_str().unwrap(),
                        child,
                        &format!("{path}.{k}"),
                    );
                }
            }
            "string" | "blob" => {
                let s = v.as_str().unwrap_or_else(|| panic!("{path}: not a string"));
                if let Some(values) = shape["enum"].as_array() {
                    assert!(values.iter().any(|e| e == s), "{path}: `{s}` not in {name}");
                }
                if let Some(min) = shape["min"].as_u64() {
                    assert!(s.len() as u64 >= min, "{path}: shorter than {min}");
                }
            }
            "boolean" => assert!(v.is_boolean(), "{path}: not a boolean"),
            "integer" | "long" => assert!(v.is_u64() || v.is_i64(), "{path}: not an integer"),
            "float" | "double" => assert!(v.is_number(), "{path}: not a number"),
            other => panic!("{path}: unhandled shape type {other}"),
        }
    }

    fn validate_against_botocore(body: &Value) {
        let model = botocore();
        check_shape(&model["shapes"], "ConverseRequest", body, "$");
        // Bedrock's conversation rules.
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs[0]["role"], "user", "first message must be user");
        for w in msgs.windows(2) {
            assert_ne!(w[0]["role"], w[1]["role"], "roles must alternate");
        }
    }

    #[test]
    fn the_botocore_check_catches_mistakes() {
        let shapes = botocore()["shapes"].clone();
        for bad in [
            json!({"messages": [{"role": "user", "content": [{"txt": "x"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"text": "x", "image": {}}]}]}),
            json!({"messages": [], "toolConfig": {"tools": []}}),
            json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]}),
        ] {
            let r = std::panic::catch_unwind(|| check_shape(&shapes, "ConverseRequest", &bad, "$"));
            assert!(r.is_err(), "{bad}");
        }
    }

    // ---- basics ---------------------------------------------------------------------------

    #[test]
    fn builds_the_converse_body() {
        let (got, ignored, _) = translate(
            CLAUDE_35,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "You are a coding expert"},
                    user("Write me a python code to print hello world")
                ],
                "max_tokens": 1000,
                "temperature": 0.5
            }),
        );
        // The exact payload of the seed's gateway example.
        assert_eq!(
            got,
            json!({
                "system": [{"text": "You are a coding expert"}],
                "messages": [{"role": "user", "content": [{"text": "Write me a python code to print hello world"}]}],
                "inferenceConfig": {"maxTokens": 1000, "temperature": 0.5}
            })
        );
        assert!(ignored.is_empty());
    }

    #[test]
    fn normalises_the_conversation() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({
                "model": "m",
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "developer", "content": [{"type": "text", "text": "d"}]},
                    {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": " "}]},
                    {"role": "assistant", "content": ""},
                    {"role": "assistant", "content": "c"},
                    {"role": "system", "content": "s"}
                ],
                "stop": ["x", ""],
                "top_p": 0.5
            }),
        );
        assert_eq!(
            got,
            json!({
                "system": [{"text": "d"}, {"text": "s"}],
                "messages": [
                    {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                    {"role": "assistant", "content": [{"text": "c"}]}
                ],
                "inferenceConfig": {"topP": 0.5, "stopSequences": ["x"]}
            })
        );
    }

    #[test]
    fn information_separators_count_as_blank_like_bedrock() {
        // Regression: "\u{1c}" used to reach Bedrock, which refuses it as a blank text.
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({
                "model": "m",
                "messages": [
                    user("hello"),
                    {"role": "assistant", "content": "\u{1c}"},
                    {"role": "developer", "content": "\u{1f}\u{1e} \t"},
                    {"role": "user", "content": [{"type": "text", "text": "\u{1d}"}, {"type": "text", "text": "again"}]}
                ]
            }),
        );
        assert_eq!(
            got,
            json!({"messages": [{"role": "user", "content": [{"text": "hello"}, {"text": "again"}]}]})
        );
        assert!(!is_blank("\u{1c}x"));
        assert_eq!(
            tool_result_content(&[ContentPart::Text("\u{1c}".into())]),
            ToolResultContentBlock::Text(EMPTY_TOOL_RESULT.into())
        );
    }

    #[test]
    fn a_conversation_starting_with_the_assistant_gets_a_placeholder_user_turn() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "Hi, how can I help?"},
                user("hello")
            ]}),
        );
        assert_eq!(
            got["messages"],
            json!([
                {"role": "user", "content": [{"text": LEADING_USER_PLACEHOLDER}]},
                {"role": "assistant", "content": [{"text": "Hi, how can I help?"}]},
                {"role": "user", "content": [{"text": "hello"}]}
            ])
        );
    }

    #[test]
    fn no_optional_sections_when_nothing_is_set() {
        let (got, _, output) =
            translate(CLAUDE_35, json!({"model": "m", "messages": [user("hi")]}));
        for key in [
            "inferenceConfig",
            "system",
            "toolConfig",
            "additionalModelRequestFields",
            "requestMetadata",
            "outputConfig",
            "serviceTier",
        ] {
            assert!(got.get(key).is_none(), "{key}");
        }
        assert_eq!(output, OutputMode::default());
    }

    #[test]
    fn openai_temperature_above_one_is_clamped_to_bedrock_range() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("hi")], "temperature": 1.7}),
        );
        assert_eq!(got["inferenceConfig"]["temperature"], 1.0);
    }

    #[test]
    fn rejects_conversations_bedrock_cannot_take() {
        let cases = [
            (
                json!([{"role": "system", "content": "only system"}]),
                "messages",
            ),
            (json!([{"role": "user", "content": "  "}]), "messages"),
            // A tool message that answers nothing.
            (
                json!([user("x"), {"role": "tool", "tool_call_id": "call_9", "content": "r"}]),
                "messages[1].tool_call_id",
            ),
            // A tool call never answered.
            (
                json!([user("x"), {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, user("y")]),
                "messages[1].tool_calls",
            ),
            (
                json!([user("x"), {"role": "assistant", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]),
                "messages[1].tool_calls",
            ),
        ];
        for (messages, param) in cases {
            let e = run(CLAUDE_35, json!({"model": "m", "messages": messages})).unwrap_err();
            assert_eq!(
                (e.status, e.param.as_deref()),
                (400, Some(param)),
                "{messages}"
            );
        }
    }

    // ---- images ---------------------------------------------------------------------------

    #[test]
    fn data_url_images_become_image_blocks() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1X1}")}}
            ]}]}),
        );
        assert_eq!(
            got["messages"][0]["content"],
            json!([{"text": "describe"}, {"image": {"format": "png", "source": {"bytes": PNG_1X1}}}])
        );
    }

    // ---- tools ----------------------------------------------------------------------------

    #[test]
    fn tools_and_tool_choice_map_to_tool_config() {
        let spec = json!({"toolSpec": {"name": "get_weather", "description": "Current weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}});
        let cases = [
            (json!(null), json!({"tools": [spec]})),
            (json!("auto"), json!({"tools": [spec]})),
            (
                json!("required"),
                json!({"tools": [spec], "toolChoice": {"any": {}}}),
            ),
            (
                json!({"type": "function", "function": {"name": "get_weather"}}),
                json!({"tools": [spec], "toolChoice": {"tool": {"name": "get_weather"}}}),
            ),
        ];
        for (choice, want) in cases {
            let (got, _, output) = translate(
                CLAUDE_35,
                json!({"model": "m", "messages": [user("x")], "tools": [weather_tool()], "tool_choice": choice}),
            );
            assert_eq!(got["toolConfig"], want, "{choice}");
            assert_eq!(output, OutputMode::default());
        }
    }

    #[test]
    fn tool_choice_none_without_tool_history_sends_no_tools() {
        let (got, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "tools": [weather_tool()], "tool_choice": "none"}),
        );
        assert!(got.get("toolConfig").is_none());
        assert!(got.get("system").is_none());
        assert!(!output.drop_tool_calls);
    }

    #[test]
    fn tool_history_becomes_tool_use_and_merged_tool_results() {
        let mut messages = tool_history();
        messages.push(user("thanks, and tomorrow?"));
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": messages, "tools": [weather_tool()]}),
        );
        assert_eq!(
            got["messages"],
            json!([
                {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"text": "Let me check."},
                    {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                    {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_1", "content": [{"json": {"temp": 21}}]}},
                    {"toolResult": {"toolUseId": "call_2", "content": [{"text": "sunny, 25C"}]}},
                    {"text": "thanks, and tomorrow?"}
                ]}
            ])
        );
        assert!(got["toolConfig"]["toolChoice"].is_null());
    }

    #[test]
    fn tool_choice_none_with_tool_history_keeps_tools_and_drops_calls() {
        let (got, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": tool_history(), "tools": [weather_tool()], "tool_choice": "none"}),
        );
        assert_eq!(
            got["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "get_weather"
        );
        assert!(got["toolConfig"].get("toolChoice").is_none());
        assert_eq!(
            got["system"],
            json!([{"text": "Do not call any tool in this reply; answer in text."}])
        );
        assert!(output.drop_tool_calls);
    }

    #[test]
    fn tool_history_without_tools_gets_stand_in_tools() {
        let (got, _, output) =
            translate(CLAUDE_35, json!({"model": "m", "messages": tool_history()}));
        assert_eq!(
            got["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "No longer available.",
                "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
        );
        assert!(output.drop_tool_calls);
    }

    // ---- legacy function calling -----------------------------------------------------------

    fn weather_function() -> Value {
        weather_tool()["function"].clone()
    }

    #[test]
    fn legacy_functions_translate_like_tools_and_set_the_legacy_flag() {
        let (legacy, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "functions": [weather_function()],
                   "function_call": {"name": "get_weather"}}),
        );
        let (current, _, current_output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "tools": [weather_tool()],
                   "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
        );
        assert_eq!(legacy, current);
        assert_eq!(
            legacy["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "get_weather"}})
        );
        assert!(output.legacy_functions);
        assert_eq!(
            output,
            OutputMode {
                legacy_functions: true,
                ..current_output
            }
        );
        // `auto`: tools, no choice. `none` without history: no toolConfig at all.
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "functions": [weather_function()], "function_call": "auto"}),
        );
        assert!(got["toolConfig"].get("toolChoice").is_none());
        assert_eq!(
            got["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "get_weather"
        );
        let (got, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "functions": [weather_function()], "function_call": "none"}),
        );
        assert!(got.get("toolConfig").is_none());
        assert!(output.legacy_functions && !output.drop_tool_calls);
        // Thinking relaxes a forced choice: reported under the name the client used.
        let (got, ignored, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "low",
                   "functions": [weather_function()], "function_call": {"name": "get_weather"}}),
        );
        assert!(got["toolConfig"].get("toolChoice").is_none());
        assert_eq!(ignored, vec!["function_call"]);
    }

    fn legacy_history() -> Vec<Value> {
        vec![
            user("weather in Paris?"),
            json!({"role": "assistant", "content": null,
                   "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}),
            json!({"role": "function", "name": "get_weather", "content": "{\"temp\":21}"}),
            json!({"role": "assistant", "content": "And Rome:",
                   "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}),
            json!({"role": "function", "name": "get_weather", "content": "sunny"}),
            user("thanks, and tomorrow?"),
        ]
    }

    #[test]
    fn legacy_function_history_maps_to_paired_tool_use_and_result() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": legacy_history(), "functions": [weather_function()]}),
        );
        assert_eq!(
            got["messages"],
            json!([
                {"role": "user", "content": [{"text": "weather in Paris?"}]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "call_1_get_weather", "name": "get_weather", "input": {"city": "Paris"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_1_get_weather", "content": [{"json": {"temp": 21}}]}}
                ]},
                {"role": "assistant", "content": [
                    {"text": "And Rome:"},
                    {"toolUse": {"toolUseId": "call_3_get_weather", "name": "get_weather", "input": {"city": "Rome"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_3_get_weather", "content": [{"text": "sunny"}]}},
                    {"text": "thanks, and tomorrow?"}
                ]}
            ])
        );
        // The same history with `function_call: "none"`, or with no functions at all, keeps a
        // toolConfig (Bedrock needs it) and drops any call the model still makes.
        for extra in [
            json!({"functions": [weather_function()], "function_call": "none"}),
            json!({}),
        ] {
            let mut body = json!({"model": "m", "messages": legacy_history()});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (got, _, output) = translate(CLAUDE_35, body);
            assert_eq!(
                got["toolConfig"]["tools"][0]["toolSpec"]["name"],
                "get_weather"
            );
            assert!(output.drop_tool_calls, "{extra}");
        }
        // A function result with an empty content is still a valid toolResult.
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "functions": [weather_function()], "messages": [
                user("x"),
                {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
                {"role": "function", "name": "get_weather", "content": null}
            ]}),
        );
        assert_eq!(
            got["messages"][2]["content"][0]["toolResult"],
            json!({"toolUseId": "call_1_get_weather", "content": [{"text": EMPTY_TOOL_RESULT}]})
        );
    }

    #[test]
    fn an_unanswered_legacy_function_call_is_a_400() {
        let e = run(
            CLAUDE_35,
            json!({"model": "m", "functions": [weather_function()], "messages": [
                user("x"),
                {"role": "assistant", "function_call": {"name": "get_weather", "arguments": "{}"}},
                user("never mind")
            ]}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages[1].function_call"));
    }

    #[test]
    fn odd_tool_ids_and_empty_tool_results_are_made_acceptable() {
        let (got, _, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "tools": [weather_tool()], "messages": [
                user("x"),
                {"role": "assistant", "tool_calls": [{"id": "call 1/é", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call 1/é", "content": ""}
            ]}),
        );
        assert_eq!(
            got["messages"][1]["content"][0]["toolUse"]["toolUseId"],
            "call_1__"
        );
        assert_eq!(
            got["messages"][2]["content"][0]["toolResult"],
            json!({"toolUseId": "call_1__", "content": [{"text": EMPTY_TOOL_RESULT}]})
        );
    }

    // ---- JSON output ----------------------------------------------------------------------

    fn schema_format() -> Value {
        json!({"type": "json_schema", "json_schema": {"name": "city", "description": "A city",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false},
            "strict": true}})
    }

    #[test]
    fn json_schema_uses_native_structured_output_on_claude_4_5() {
        let (got, _, output) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "response_format": schema_format()}),
        );
        let tf = &got["outputConfig"]["textFormat"];
        assert_eq!(tf["type"], "json_schema");
        let js = &tf["structure"]["jsonSchema"];
        assert_eq!(
            (js["name"].as_str(), js["description"].as_str()),
            (Some("city"), Some("A city"))
        );
        let schema: Value = serde_json::from_str(js["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema["required"], json!(["name"]));
        assert!(got.get("toolConfig").is_none());
        assert_eq!(output, OutputMode::default());
    }

    #[test]
    fn json_schema_falls_back_to_a_forced_tool() {
        let (got, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "response_format": schema_format()}),
        );
        assert_eq!(
            got["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": JSON_TOOL, "description": "A city",
                "inputSchema": {"json": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}}],
                "toolChoice": {"tool": {"name": JSON_TOOL}}})
        );
        assert!(got.get("outputConfig").is_none());
        assert_eq!(output.json_tool.as_deref(), Some(JSON_TOOL));
    }

    #[test]
    fn json_object_is_a_forced_object_tool_and_an_instruction() {
        let (got, _, output) = translate(
            NOVA_PRO,
            json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            got["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json!({"type": "object"})
        );
        assert_eq!(
            got["toolConfig"]["toolChoice"],
            json!({"tool": {"name": JSON_TOOL}})
        );
        assert!(got["system"][0]["text"]
            .as_str()
            .unwrap()
            .contains(JSON_TOOL));
        assert_eq!(output.json_tool.as_deref(), Some(JSON_TOOL));
    }

    #[test]
    fn json_mode_with_user_tools_lets_the_model_pick_a_tool() {
        let (got, _, output) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "tools": [weather_tool()], "response_format": {"type": "json_object"}}),
        );
        let names: Vec<&str> = got["toolConfig"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["toolSpec"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_weather", JSON_TOOL]);
        assert_eq!(got["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert_eq!(output.json_tool.as_deref(), Some(JSON_TOOL));
        let e = run(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "response_format": {"type": "json_object"},
                   "tools": [{"type": "function", "function": {"name": JSON_TOOL}}]}),
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("response_format"));
    }

    #[test]
    fn json_mode_without_forced_tools_is_an_instruction() {
        let (got, _, output) = translate(
            LLAMA,
            json!({"model": "m", "messages": [user("x")], "response_format": schema_format()}),
        );
        assert!(got.get("toolConfig").is_none());
        let text = got["system"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("JSON Schema") && text.contains("\"required\""),
            "{text}"
        );
        assert_eq!(output, OutputMode::default());
    }

    // ---- reasoning and sampling -----------------------------------------------------------

    #[test]
    fn reasoning_effort_maps_per_provider() {
        let cases = [
            (
                CLAUDE_37,
                "low",
                json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
                vec![],
            ),
            (
                SONNET_4,
                "medium",
                json!({"thinking": {"type": "enabled", "budget_tokens": 4096}}),
                vec![],
            ),
            (
                SONNET_45,
                "high",
                json!({"thinking": {"type": "enabled", "budget_tokens": 16384}}),
                vec![],
            ),
            (
                NOVA_2,
                "minimal",
                json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}),
                vec![],
            ),
            (
                GPT_OSS,
                "xhigh",
                json!({"reasoning_effort": "high"}),
                vec![],
            ),
            (CLAUDE_35, "high", Value::Null, vec!["reasoning_effort"]),
            (NOVA_PRO, "high", Value::Null, vec!["reasoning_effort"]),
            (LLAMA, "low", Value::Null, vec!["reasoning_effort"]),
            (SONNET_45, "none", Value::Null, vec![]),
        ];
        for (model, effort, want, ignored) in cases {
            let (got, got_ignored, _) = translate(
                model,
                json!({"model": "m", "messages": [user("x")], "reasoning_effort": effort}),
            );
            assert_eq!(
                got["additionalModelRequestFields"], want,
                "{model} {effort}"
            );
            assert_eq!(got_ignored, ignored, "{model} {effort}");
        }
    }

    #[test]
    fn anthropic_thinking_fixes_sampling_and_max_tokens() {
        // No limit: room for the answer on top of the budget; temperature/top_p dropped.
        let (got, ignored, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "medium", "temperature": 0.2, "top_p": 0.9}),
        );
        assert_eq!(
            got["inferenceConfig"],
            json!({"maxTokens": 4096 + ANSWER_ROOM})
        );
        assert_eq!(ignored, vec!["temperature", "top_p"]);
        // A limit that covers reasoning: half of it at most goes to thinking.
        let (got, _, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "high", "max_completion_tokens": 10000}),
        );
        assert_eq!(
            got["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            5000
        );
        assert_eq!(got["inferenceConfig"]["maxTokens"], 10000);
        // A limit below the minimum budget: the budget is added on top.
        let (got, _, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "low", "max_tokens": 500}),
        );
        assert_eq!(got["inferenceConfig"]["maxTokens"], 1524);
        // Passthrough `thinking` wins over reasoning_effort, and forced tool choice is relaxed.
        let (got, ignored, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "reasoning_effort": "low",
                   "thinking": {"type": "enabled", "budget_tokens": 2048},
                   "tools": [weather_tool()], "tool_choice": "required"}),
        );
        assert_eq!(
            got["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
        );
        assert_eq!(got["inferenceConfig"]["maxTokens"], 2048 + ANSWER_ROOM);
        assert!(got["toolConfig"].get("toolChoice").is_none());
        assert_eq!(ignored, vec!["reasoning_effort", "tool_choice"]);
    }

    #[test]
    fn temperature_and_top_p_policy() {
        let cases = [
            (CLAUDE_35, true, vec![]),
            (CLAUDE_37, true, vec![]),
            (SONNET_4, false, vec!["top_p"]),
            (SONNET_45, false, vec!["top_p"]),
            (NOVA_PRO, true, vec![]),
            (LLAMA, true, vec![]),
        ];
        for (model, keeps_top_p, ignored) in cases {
            let (got, got_ignored, _) = translate(
                model,
                json!({"model": "m", "messages": [user("x")], "temperature": 0.3, "top_p": 0.8}),
            );
            assert_eq!(got["inferenceConfig"]["temperature"], 0.3, "{model}");
            assert_eq!(
                got["inferenceConfig"].get("topP").is_some(),
                keeps_top_p,
                "{model}"
            );
            assert_eq!(got_ignored, ignored, "{model}");
        }
        // top_p alone is kept everywhere.
        let (got, ignored, _) = translate(
            SONNET_45,
            json!({"model": "m", "messages": [user("x")], "top_p": 0.8}),
        );
        assert_eq!(got["inferenceConfig"]["topP"], 0.8);
        assert!(ignored.is_empty());
    }

    // ---- metadata, tiers, ignored ---------------------------------------------------------

    #[test]
    fn user_metadata_and_service_tier() {
        let (got, ignored, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "user": "user-42@example.com",
                   "metadata": {"team": "search", "bad": "ünïcode"}, "service_tier": "priority", "seed": 1}),
        );
        assert_eq!(
            got["requestMetadata"],
            json!({"user": "user-42@example.com", "team": "search"})
        );
        assert_eq!(got["serviceTier"], json!({"type": "priority"}));
        assert_eq!(ignored, vec!["seed", "metadata"]);
        let (got, ignored, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "service_tier": "scale", "user": "ü"}),
        );
        assert!(got.get("serviceTier").is_none() && got.get("requestMetadata").is_none());
        assert_eq!(ignored, vec!["user", "service_tier"]);
        let (got, ignored, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "service_tier": "auto"}),
        );
        assert!(got.get("serviceTier").is_none() && ignored.is_empty());
    }

    #[test]
    fn every_feature_at_once_still_validates() {
        let mut messages = vec![json!({"role": "developer", "content": "be brief"})];
        messages.extend(tool_history());
        messages.push(json!({"role": "user", "content": [
            {"type": "text", "text": "and this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1X1}")}}
        ]}));
        for model in [CLAUDE_35, SONNET_45, NOVA_2, LLAMA, GPT_OSS] {
            translate(
                model,
                json!({"model": "m", "messages": messages, "tools": [weather_tool()],
                       "tool_choice": "auto", "response_format": schema_format(),
                       "reasoning_effort": "low", "user": "u", "metadata": {"k": "v"},
                       "service_tier": "flex", "stop": ["END"], "max_tokens": 4000, "temperature": 0.5}),
            );
        }
    }

    #[test]
    fn completion_prompt_becomes_one_user_turn() {
        let req = CompletionRequest::parse(
            br#"{"model":"m","prompt":"Once upon","max_tokens":5,"temperature":1.5,"stop":["x",""]}"#,
        )
        .unwrap();
        let got = serde_json::to_value(completion_to_converse(&req).unwrap()).unwrap();
        assert_eq!(
            got,
            json!({
                "messages": [{"role": "user", "content": [{"text": "Once upon"}]}],
                "inferenceConfig": {"maxTokens": 5, "temperature": 1.0, "stopSequences": ["x"]}
            })
        );
    }
}
