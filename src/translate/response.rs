//! Unary Converse response → OpenAI `chat.completion`, or the legacy `text_completion`.

use crate::converse::response::{ConverseResponse, OutputContentBlock};
use crate::error::ApiError;
use crate::openai::chat::{
    ChatCompletion, Choice, ResponseFunction, ResponseMessage, ResponseToolCall,
};
use crate::openai::chunk::Usage;
use crate::openai::completion::{TextChoice, TextCompletion, TEXT_COMPLETION_OBJECT};
use crate::translate::stop_reason::{finish_reason, Finish};
use crate::translate::tools::OutputMode;
use crate::translate::usage::to_openai_usage;

/// Who the answer is addressed as: the id, time and model name the client sees.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub output: OutputMode,
}

/// Parses a 200 Converse body and builds the completion. A body that is not Converse JSON,
/// lacks `output`, or ends in a `malformed_*` stop reason is a 502, never an empty answer.
pub fn to_chat_completion(
    body: &[u8],
    meta: &ResponseMeta,
) -> Result<(ChatCompletion, Usage), ApiError> {
    let resp: ConverseResponse = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_upstream(format!("Bedrock returned an unreadable Converse body: {e}"))
    })?;
    let message = resp.output.and_then(|o| o.message).ok_or_else(|| {
        ApiError::bad_upstream("Bedrock's Converse response has no output message")
    })?;
    let stop = resp.stop_reason.as_deref().unwrap_or("end_turn");
    let finish = match finish_reason(stop) {
        Finish::Reason(r) => r,
        Finish::Error => {
            return Err(
                ApiError::bad_upstream(format!("the model stopped with `{stop}`")).with_code(stop),
            )
        }
    };
    let Answer {
        text,
        reasoning,
        mut tool_calls,
        converted,
        json_answer,
    } = collect_answer(&message.content, &meta.output);
    // A `tool_use` stop whose calls were all answers or dropped is a normal stop.
    let finish = if converted || !tool_calls.is_empty() {
        meta.output.tool_finish(finish, !tool_calls.is_empty())
    } else {
        finish
    };
    let function_call = if meta.output.legacy_functions {
        tool_calls.pop().map(|c| c.function)
    } else {
        None
    };
    let content = match json_answer {
        Some(json) => Some(json),
        None if (tool_calls.is_empty() && function_call.is_none()) || !text.is_empty() => {
            Some(text)
        }
        None => None,
    };
    let u = resp.usage.unwrap_or_default();
    let usage = to_openai_usage(u.input_tokens, u.output_tokens, u.total_tokens);
    let completion = ChatCompletion {
        id: meta.id.clone(),
        object: "chat.completion",
        created: meta.created,
        model: meta.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
                function_call,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: finish,
            logprobs: None,
        }],
        usage: usage.clone(),
        service_tier: crate::translate::service_tier::from_response(
            resp.service_tier.as_ref().map(|t| t.kind.as_str()),
            resp.performance_config
                .as_ref()
                .and_then(|p| p.latency.as_deref()),
        ),
        bedrock_guardrail: crate::translate::guardrail::summarise(
            resp.stop_reason.as_deref(),
            resp.trace.as_ref(),
        ),
    };
    Ok((completion, usage))
}

/// What the content blocks of a Converse answer hold, sorted for the client.
struct Answer {
    text: String,
    reasoning: String,
    tool_calls: Vec<ResponseToolCall>,
    /// Some tool call was the JSON answer or was dropped: not a tool call for the client.
    converted: bool,
    /// The input of the forced JSON-answer tool, as JSON text.
    json_answer: Option<String>,
}

/// Text and reasoning concatenated, tool calls sorted into the client's, the JSON answer and
/// the dropped ones.
fn collect_answer(content: &[OutputContentBlock], output: &OutputMode) -> Answer {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let mut converted = false;
    let mut json_answer: Option<String> = None;
    for block in content {
        if let Some(t) = &block.text {
            text.push_str(t);
        }
        if let Some(r) = block
            .reasoning_content
            .as_ref()
            .and_then(|r| r.reasoning_text.as_ref())
        {
            reasoning.push_str(&r.text);
        }
        if let Some(t) = &block.tool_use {
            if output.is_json_tool(&t.name) {
                // The forced-tool JSON answer: its input is the content, replacing any
                // preamble the model wrote around it.
                json_answer = Some(t.input.to_string());
                converted = true;
            } else if !output.is_client_tool(&t.name)
                || (output.legacy_functions && !tool_calls.is_empty())
            {
                // Dropped (`tool_choice: "none"`), or a second call the legacy
                // `function_call` form cannot hold.
                converted = true;
            } else {
                tool_calls.push(ResponseToolCall {
                    id: t.tool_use_id.clone(),
                    kind: "function",
                    function: ResponseFunction {
                        name: t.name.clone(),
                        arguments: t.input.to_string(),
                    },
                });
            }
        }
    }
    Answer {
        text,
        reasoning,
        tool_calls,
        converted,
        json_answer,
    }
}

/// Parses a 200 Converse body into a legacy `text_completion`; `echo` is the prompt to put
/// in front of the text when the client asked for `echo`.
pub fn to_text_completion(
    body: &[u8],
    meta: &ResponseMeta,
    echo: Option<&str>,
) -> Result<(TextCompletion<'static>, Usage), ApiError> {
    let (chat, usage) = to_chat_completion(body, meta)?;
    let choice = chat
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("a chat completion without a choice"))?;
    let mut text = echo.unwrap_or_default().to_string();
    text.push_str(choice.message.content.as_deref().unwrap_or_default());
    Ok((
        TextCompletion {
            id: chat.id.into(),
            object: TEXT_COMPLETION_OBJECT,
            created: chat.created,
            model: chat.model.into(),
            choices: vec![TextChoice::first(text.into(), Some(choice.finish_reason))],
            usage: Some(usage.clone()),
        },
        usage,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "gpt-4o".into(),
            output: OutputMode::default(),
        }
    }

    #[test]
    fn the_served_tier_and_the_guardrail_come_back() {
        // Shapes of the recorded `u_service_tier_flex` and `u_guardrail_trace` answers.
        let body = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Sorry."}]}},
            "stopReason": "guardrail_intervened", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1}, "serviceTier": {"type": "flex"},
            "trace": {"guardrail": {"actionReason": "Guardrail blocked.", "inputAssessment": {"g": {
                "contentPolicy": {"filters": [{"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]}}}}}});
        let (c, _) = to_chat_completion(body.to_string().as_bytes(), &meta()).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["service_tier"], "flex");
        assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(
            v["bedrock_guardrail"],
            json!({"action": "INTERVENED", "stop_reason": "guardrail_intervened", "action_reason": "Guardrail blocked.",
                   "assessments": [{"source": "input", "policy": "contentPolicy", "name": "VIOLENCE", "action": "BLOCKED"}]})
        );
        let plain = json!({"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
            "stopReason": "end_turn", "performanceConfig": {"latency": "optimized"}});
        let (c, _) = to_chat_completion(plain.to_string().as_bytes(), &meta()).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["service_tier"], "priority");
        assert!(v.get("bedrock_guardrail").is_none());
    }

    #[test]
    fn translates_a_converse_answer() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [{"text": "Hello"}, {"text": " world"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            "metrics": {"latencyMs": 10}
        });
        let (c, u) = to_chat_completion(body.to_string().as_bytes(), &meta()).unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world", "refusal": null},
                             "finish_reason": "length", "logprobs": null}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            })
        );
        assert_eq!(u.total_tokens, 5);
    }

    #[test]
    fn broken_bodies_are_upstream_errors() {
        for body in [
            "nope".to_string(),
            json!({"stopReason": "end_turn"}).to_string(),
            json!({"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": "malformed_model_output"}).to_string(),
        ] {
            let e = to_chat_completion(body.as_bytes(), &meta()).unwrap_err();
            assert_eq!(e.status, 502, "{body}");
        }
    }

    #[test]
    fn translates_to_a_text_completion_with_echo() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [{"text": " there"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        });
        let (c, _) =
            to_text_completion(body.to_string().as_bytes(), &meta(), Some("Hello")).unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({
                "id": "chatcmpl-1", "object": "text_completion", "created": 7, "model": "gpt-4o",
                "choices": [{"text": "Hello there", "index": 0, "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            })
        );
    }

    fn translate(content: serde_json::Value, stop: &str, output: OutputMode) -> serde_json::Value {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        });
        let meta = ResponseMeta { output, ..meta() };
        let (c, _) = to_chat_completion(body.to_string().as_bytes(), &meta).unwrap();
        serde_json::to_value(&c).unwrap()["choices"][0].clone()
    }

    fn tool_use(id: &str, name: &str, input: serde_json::Value) -> serde_json::Value {
        json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
    }

    #[test]
    fn tool_uses_become_tool_calls() {
        // Only tool calls: content is null; two calls keep their order.
        let c = translate(
            json!([
                tool_use("t1", "get_weather", json!({"city": "Paris"})),
                tool_use("t2", "get_time", json!({}))
            ]),
            "tool_use",
            OutputMode::default(),
        );
        assert_eq!(
            c,
            json!({"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
            "role": "assistant", "content": null, "refusal": null, "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "t2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]}})
        );
        // Text before the call is kept.
        let c = translate(
            json!([{"text": "Checking."}, tool_use("t1", "get_weather", json!({}))]),
            "tool_use",
            OutputMode::default(),
        );
        assert_eq!(c["message"]["content"], "Checking.");
        assert_eq!(c["message"]["tool_calls"][0]["id"], "t1");
    }

    #[test]
    fn the_json_tool_becomes_content_with_a_normal_stop() {
        let mode = OutputMode {
            json_tool: Some("json_response".into()),
            ..OutputMode::default()
        };
        let c = translate(
            json!([tool_use("t1", "json_response", json!({"name": "Paris"}))]),
            "tool_use",
            mode.clone(),
        );
        assert_eq!(c["finish_reason"], "stop");
        assert_eq!(c["message"]["content"], "{\"name\":\"Paris\"}");
        assert!(c["message"].get("tool_calls").is_none());
        // A real tool call next to it is still a tool call.
        let c = translate(
            json!([tool_use("t1", "get_weather", json!({}))]),
            "tool_use",
            mode,
        );
        assert_eq!(c["finish_reason"], "tool_calls");
        assert_eq!(
            c["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
    }

    #[test]
    fn dropped_tool_calls_leave_the_text() {
        let mode = OutputMode {
            drop_tool_calls: true,
            ..OutputMode::default()
        };
        let c = translate(
            json!([{"text": "It is sunny."}, tool_use("t1", "get_weather", json!({}))]),
            "tool_use",
            mode,
        );
        assert_eq!(c["finish_reason"], "stop");
        assert_eq!(c["message"]["content"], "It is sunny.");
        assert!(c["message"].get("tool_calls").is_none());
    }

    #[test]
    fn legacy_requests_get_one_function_call() {
        let legacy = OutputMode {
            legacy_functions: true,
            ..OutputMode::default()
        };
        let c = translate(
            json!([tool_use("t1", "get_weather", json!({"city": "Paris"}))]),
            "tool_use",
            legacy.clone(),
        );
        assert_eq!(
            c,
            json!({"index": 0, "finish_reason": "function_call", "logprobs": null, "message": {
                "role": "assistant", "content": null, "refusal": null,
                "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}})
        );
        // Several calls: the first one only (the legacy form holds one); text is kept.
        let c = translate(
            json!([{"text": "Checking."}, tool_use("t1", "get_weather", json!({})),
                   tool_use("t2", "get_time", json!({"zone": "UTC"}))]),
            "tool_use",
            legacy.clone(),
        );
        assert_eq!(c["finish_reason"], "function_call");
        assert_eq!(c["message"]["content"], "Checking.");
        assert_eq!(
            c["message"]["function_call"],
            json!({"name": "get_weather", "arguments": "{}"})
        );
        assert!(c["message"].get("tool_calls").is_none());
        // No call: a plain answer, no function_call member.
        let c = translate(json!([{"text": "Hi"}]), "end_turn", legacy.clone());
        assert_eq!(c["finish_reason"], "stop");
        assert!(c["message"].get("function_call").is_none());
        // Dropped calls (`function_call: "none"` with history) and the JSON answer still work.
        let c = translate(
            json!([{"text": "Sunny."}, tool_use("t1", "get_weather", json!({}))]),
            "tool_use",
            OutputMode {
                drop_tool_calls: true,
                ..legacy.clone()
            },
        );
        assert_eq!(c["finish_reason"], "stop");
        assert!(c["message"].get("function_call").is_none());
        let c = translate(
            json!([tool_use("t1", "json_response", json!({"a": 1}))]),
            "tool_use",
            OutputMode {
                json_tool: Some("json_response".into()),
                ..legacy
            },
        );
        assert_eq!(c["finish_reason"], "stop");
        assert_eq!(c["message"]["content"], "{\"a\":1}");
        assert!(c["message"].get("function_call").is_none());
    }

    #[test]
    fn reasoning_becomes_reasoning_content() {
        let c = translate(
            json!([{"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig"}}},
                   {"reasoningContent": {"redactedContent": "AAAA"}}, {"text": "Answer."}]),
            "end_turn",
            OutputMode::default(),
        );
        assert_eq!(c["message"]["reasoning_content"], "Think.");
        assert_eq!(c["message"]["content"], "Answer.");
        assert_eq!(c["finish_reason"], "stop");
    }

    #[test]
    fn stop_reasons_become_finish_reasons() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
            ("some_future_reason", "stop"),
        ] {
            let c = translate(json!([{"text": "x"}]), stop, OutputMode::default());
            assert_eq!(c["finish_reason"], finish, "{stop}");
        }
    }
}
