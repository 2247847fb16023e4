//! OpenAI chat request → Converse request body.
//!
//! Bedrock is stricter than OpenAI about conversation shape (user first, roles alternating,
//! no blank text, tool results right after the tool calls), so the OpenAI message list is
//! normalised here rather than rejected upstream. Every parameter Bedrock cannot honour is
//! either mapped, reported in [`Translation::ignored`], or was refused with a 400 while
//! parsing (see docs/parameters.md).
//!
//! [`to_converse_request`] runs the parts in order, each in its own module: the
//! conversation (`messages`), reasoning, sampling (`inferenceConfig`), tools
//! (`tool_config`), JSON mode (`response_format`), then metadata and service tier; what each
//! model family accepts is decided in `capabilities`.

mod capabilities;
mod messages;
mod metadata;
mod reasoning;
mod response_format;
mod sampling;
mod tool_config;

pub use capabilities::native_structured_output;
pub use messages::{is_blank, EMPTY_TOOL_RESULT, LEADING_USER_PLACEHOLDER};
pub use reasoning::thinking_budget;

use serde_json::Value;

use crate::catalog::models::Provider;
use crate::converse::request::{
    ContentBlock, ConversationRole, ConverseRequest, InferenceConfig, Message,
};
use crate::error::ApiError;
use crate::openai::chat::ChatRequest;
use crate::openai::completion::CompletionRequest;
use crate::translate::tools::OutputMode;

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

/// Names of parameters accepted but not honoured, in the order first reported, each once.
struct Ignored(Vec<String>);

impl Ignored {
    fn add(&mut self, name: &str) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.to_string());
        }
    }
}

/// Builds the Converse body for `req` sent to `target`.
pub fn to_converse_request(req: &ChatRequest, target: Target<'_>) -> Result<Translation, ApiError> {
    let mut ignored = Ignored(req.ignored.clone());
    let (mut system, mut messages) = messages::to_messages(req)?;
    let reasoning = reasoning::reasoning(req, target, &mut ignored);
    let anthropic_thinking =
        reasoning.budget_tokens.is_some() && target.provider == Provider::Anthropic;
    let inference = sampling::inference_config(
        req,
        target,
        reasoning.budget_tokens,
        anthropic_thinking,
        &mut ignored,
    );
    let (mut tools, mut output) = tool_config::plan(req, target, &messages);
    let output_config =
        response_format::json_output(req, target, &mut tools, &mut system, &mut output)?;
    let tool_config = tool_config::finish(
        tools,
        req,
        anthropic_thinking,
        &output,
        &mut system,
        &mut ignored,
    );
    let request_metadata = metadata::request_metadata(req, &mut ignored);
    // Without a tenant's policy; `translate::policy::apply` decides again with it.
    let tier = crate::translate::service_tier::choose(
        req.service_tier.as_deref(),
        &Default::default(),
        target.model_id,
    )?;
    messages::ensure_user_first(&mut messages);
    let additional = reasoning.additional;
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
            service_tier: tier.service_tier,
            performance_config: tier.performance_config,
            guardrail_config: None,
        },
        ignored: ignored.0,
        output,
    })
}

/// Legacy completion → Converse: the prompt is the one user turn.
pub fn completion_to_converse(req: &CompletionRequest) -> Result<ConverseRequest, ApiError> {
    let inference = InferenceConfig {
        max_tokens: Some(req.max_tokens),
        temperature: sampling::temperature(req.temperature),
        top_p: req.top_p,
        stop_sequences: sampling::stop_sequences(&req.stop),
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
        performance_config: None,
        guardrail_config: None,
    })
}

#[cfg(test)]
mod tests {
    use super::messages::tool_result_content;
    use super::sampling::ANSWER_ROOM;
    use super::*;
    use crate::converse::request::ToolResultContentBlock;
    use crate::openai::chat::{ChatRequest, ContentPart};
    use crate::translate::tools::JSON_TOOL;
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
        assert_eq!(got["serviceTier"], json!({"type": "reserved"}));
        assert!(got.get("requestMetadata").is_none());
        assert_eq!(ignored, vec!["user"]);
        let e = run(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "service_tier": "turbo"}),
        )
        .unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("service_tier")));
        let (got, ignored, _) = translate(
            CLAUDE_35,
            json!({"model": "m", "messages": [user("x")], "service_tier": "auto"}),
        );
        assert!(got.get("serviceTier").is_none() && ignored.is_empty());
    }

    #[test]
    fn tenant_tiers_and_guardrails_validate_against_botocore() {
        use crate::converse::guardrail::{GuardrailTrace, StreamProcessingMode};
        use crate::converse::request::GuardrailConfig;
        use crate::translate::policy::{apply, Asked, RequestPolicy};
        use crate::translate::service_tier::{Tier, TierPolicy};
        let guardrail = GuardrailConfig {
            guardrail_identifier: "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123".into(),
            guardrail_version: "DRAFT".into(),
            trace: Some(GuardrailTrace::EnabledFull),
            stream_processing_mode: Some(StreamProcessingMode::Async),
        };
        let mut policy = RequestPolicy {
            service_tier: TierPolicy {
                default: Some(Tier::Flex),
                max: Some(Tier::Priority),
            },
            ..RequestPolicy::default()
        };
        policy.guardrails.default = Some(guardrail);
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "context", "guard": "grounding_source"},
            {"type": "text", "text": "question", "guard": "query"},
            {"type": "text", "text": "check me", "guard": true}]}], "service_tier": "scale"});
        let shapes = botocore()["shapes"].clone();
        for (model, stream) in [
            (NOVA_PRO, false),
            (NOVA_PRO, true),
            ("us.anthropic.claude-3-5-haiku-20241022-v1:0", true),
        ] {
            let req = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
            let mut t = run(model, body.clone()).unwrap();
            let asked = Asked {
                service_tier: if model == NOVA_PRO {
                    req.service_tier.as_deref()
                } else {
                    Some("priority")
                },
                guardrail: None,
            };
            apply(&policy, asked, &mut t.body, model, stream, &mut t.ignored).unwrap();
            let v = serde_json::to_value(&t.body).unwrap();
            let shape = if stream {
                "ConverseStreamRequest"
            } else {
                "ConverseRequest"
            };
            check_shape(&shapes, shape, &v, "$");
            assert_eq!(v["guardrailConfig"]["trace"], "enabled_full");
            assert_eq!(
                v["guardrailConfig"].get("streamProcessingMode").is_some(),
                stream
            );
            assert_eq!(
                v["messages"][0]["content"][2],
                json!({"guardContent": {"text": {"text": "check me", "qualifiers": ["guard_content"]}}})
            );
            if model == NOVA_PRO {
                // `scale` is above the ceiling: lowered to `priority` and reported.
                assert_eq!(v["serviceTier"], json!({"type": "priority"}));
                assert_eq!(t.ignored, ["service_tier"]);
            } else {
                assert_eq!(v["performanceConfig"], json!({"latency": "optimized"}));
                assert!(v.get("serviceTier").is_none());
            }
        }
        // Unary `GuardrailConfiguration` has no `streamProcessingMode`: the check knows it.
        let bad = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
            "guardrailConfig": {"guardrailIdentifier": "a", "guardrailVersion": "1", "streamProcessingMode": "sync"}});
        let r = std::panic::catch_unwind(|| check_shape(&shapes, "ConverseRequest", &bad, "$"));
        assert!(r.is_err());
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
