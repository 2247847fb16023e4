//! Unary Converse response → OpenAI `chat.completion`, or the legacy `text_completion`.

use crate::converse::response::ConverseResponse;
use crate::error::ApiError;
use crate::openai::chat::{ChatCompletion, Choice, ResponseMessage};
use crate::openai::chunk::Usage;
use crate::openai::completion::{TextChoice, TextCompletion, TEXT_COMPLETION_OBJECT};
use crate::translate::stop_reason::{finish_reason, Finish};

/// Who the answer is addressed as: the id, time and model name the client sees.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created: u64,
    pub model: String,
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
    let mut text = String::new();
    let mut reasoning = String::new();
    for block in &message.content {
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
    }
    let u = resp.usage.unwrap_or_default();
    let usage = Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: if u.total_tokens > 0 {
            u.total_tokens
        } else {
            u.input_tokens + u.output_tokens
        },
    };
    let completion = ChatCompletion {
        id: meta.id.clone(),
        object: "chat.completion",
        created: meta.created,
        model: meta.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant",
                content: Some(text),
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: finish,
            logprobs: None,
        }],
        usage: usage.clone(),
    };
    Ok((completion, usage))
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
        }
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
}
