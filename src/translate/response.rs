//! Unary Converse response → OpenAI `chat.completion`, or the legacy `text_completion`.

use crate::converse::response::{ConverseResponse, OutputContentBlock, ToolUse};
use crate::error::ApiError;
use crate::openai::chat::{
    ChatCompletion, Choice, ResponseFunction, ResponseMessage, ResponseToolCall, ThinkingBlock,
};
use crate::openai::completion::{TextChoice, TextCompletion, TEXT_COMPLETION_OBJECT};
use crate::translate::stop_reason::{finish_reason, Finish};
use crate::translate::tools::OutputMode;
use crate::translate::usage::{ServerToolUse, TokenCounts};

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
pub(crate) fn to_chat_completion(
    body: &[u8],
    meta: &ResponseMeta,
) -> Result<(ChatCompletion, TokenCounts), ApiError> {
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
    let mut answer = collect_answer(&message.content, &meta.output);
    let server_tools = std::mem::take(&mut answer.server_tools);
    let (message, finish) = response_message(answer, finish, &meta.output);
    let counts = TokenCounts::from_bedrock(&resp.usage.unwrap_or_default());
    let mut usage = counts.to_openai();
    usage.server_tool_use = server_tools.to_openai();
    let completion = ChatCompletion {
        id: meta.id.clone(),
        object: "chat.completion",
        created: meta.created,
        model: meta.model.clone(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: finish,
            logprobs: None,
        }],
        usage,
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
    Ok((completion, counts))
}

/// The assistant message of an answer and its `finish_reason` (a `tool_use` stop whose calls
/// were all answers, dropped or Bedrock's own is a normal stop).
fn response_message(
    a: Answer,
    finish: &'static str,
    output: &OutputMode,
) -> (ResponseMessage, &'static str) {
    let Answer {
        text,
        reasoning,
        thinking_blocks,
        mut tool_calls,
        converted,
        json_answer,
        server_tools: _,
        citations,
    } = a;
    let finish = if converted || !tool_calls.is_empty() {
        output.tool_finish(finish, !tool_calls.is_empty())
    } else {
        finish
    };
    let function_call = if output.legacy_functions {
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
    let message = ResponseMessage {
        role: "assistant",
        content,
        refusal: None,
        tool_calls,
        function_call,
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        thinking_blocks,
        citations,
    };
    (message, finish)
}

/// What the content blocks of a Converse answer hold, sorted for the client.
#[derive(Default)]
struct Answer {
    text: String,
    reasoning: String,
    /// Every reasoning block, signed or redacted, for the client to hand back.
    thinking_blocks: Vec<ThinkingBlock>,
    tool_calls: Vec<ResponseToolCall>,
    /// Some tool call was the JSON answer, was dropped or was Bedrock's own: not a tool call
    /// for the client.
    converted: bool,
    /// The input of the forced JSON-answer tool, as JSON text.
    json_answer: Option<String>,
    /// Tools Bedrock ran itself; their `toolUse` and `toolResult` blocks are not shown.
    server_tools: ServerToolUse,
    /// The citations of text written from documents.
    citations: Vec<serde_json::Value>,
}

/// Text (cited text included) and reasoning concatenated, reasoning blocks and citations
/// kept, tool calls sorted into the client's, the JSON answer, the dropped ones and Bedrock's
/// own.
fn collect_answer(content: &[OutputContentBlock], output: &OutputMode) -> Answer {
    let mut a = Answer::default();
    for block in content {
        if let Some(t) = &block.text {
            a.text.push_str(t);
        }
        if let Some(c) = &block.citations_content {
            let (cited, entries) = crate::translate::citations::from_block(c);
            a.text.push_str(&cited);
            a.citations.extend(entries);
        }
        if let Some(r) = &block.reasoning_content {
            if let Some(t) = &r.reasoning_text {
                a.reasoning.push_str(&t.text);
                a.thinking_blocks.push(ThinkingBlock::Thinking {
                    thinking: t.text.clone(),
                    signature: t.signature.clone(),
                });
            } else if let Some(data) = &r.redacted_content {
                a.thinking_blocks
                    .push(ThinkingBlock::RedactedThinking { data: data.clone() });
            }
        }
        if let Some(t) = &block.tool_use {
            sort_tool_use(t, output, &mut a);
        }
    }
    a
}

/// One `toolUse`: Bedrock's own (counted), the JSON answer, dropped, or a client tool call.
fn sort_tool_use(t: &ToolUse, output: &OutputMode, a: &mut Answer) {
    let (tool_calls, json_answer) = (&mut a.tool_calls, &mut a.json_answer);
    if t.is_server_tool() {
        a.server_tools.add(&t.name);
        a.converted = true;
    } else if output.is_json_tool(&t.name) {
        // The forced-tool JSON answer: its input is the content, replacing any preamble the
        // model wrote around it.
        *json_answer = Some(t.input.to_string());
        a.converted = true;
    } else if !output.is_client_tool(&t.name) || (output.legacy_functions && !tool_calls.is_empty())
    {
        // Dropped (`tool_choice: "none"`), or a second call the legacy `function_call` form
        // cannot hold.
        a.converted = true;
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

/// Parses a 200 Converse body into a legacy `text_completion`; `echo` is the prompt to put
/// in front of the text when the client asked for `echo`.
pub(crate) fn to_text_completion(
    body: &[u8],
    meta: &ResponseMeta,
    echo: Option<&str>,
) -> Result<(TextCompletion<'static>, TokenCounts), ApiError> {
    let (chat, counts) = to_chat_completion(body, meta)?;
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
            usage: Some(chat.usage),
        },
        counts,
    ))
}

#[cfg(test)]
mod tests {
    //! The answers' cases are data: `tests/fixtures/converse/chat/` and `completions/`, run by
    //! `tests/translation_fixtures.rs`. What stays here: the stop-reason table, and
    //! that cached tokens add up the same in chat and legacy completions.
    use super::*;
    use serde_json::json;

    #[test]
    fn stop_reasons_become_finish_reasons() {
        let meta = ResponseMeta {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "gpt-4o".into(),
            output: OutputMode::default(),
        };
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
            ("some_future_reason", "stop"),
        ] {
            let body = json!({
                "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                "stopReason": stop,
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
            });
            let (c, _) = to_chat_completion(body.to_string().as_bytes(), &meta).unwrap();
            assert_eq!(c.choices[0].finish_reason, finish, "{stop}");
        }
    }

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
    fn cached_prompt_tokens_are_part_of_the_prompt() {
        // Unary chat and legacy completions: the same usage, adding up.
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 2, "outputTokens": 5, "cacheReadInputTokens": 1322,
                      "cacheWriteInputTokens": 10, "totalTokens": 1339}
        })
        .to_string();
        let want = json!({"prompt_tokens": 1334, "completion_tokens": 5, "total_tokens": 1339,
            "prompt_tokens_details": {"cached_tokens": 1322, "cache_write_tokens": 10,
                                      "cache_creation_tokens": 10}});
        let (c, counts) = to_chat_completion(body.as_bytes(), &meta()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap()["usage"], want);
        assert_eq!((counts.cache_read, counts.cache_write), (1322, 10));
        let (t, counts2) = to_text_completion(body.as_bytes(), &meta(), None).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap()["usage"], want);
        assert_eq!(counts2, counts);
    }
}
