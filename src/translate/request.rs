//! OpenAI chat request → Converse request body.
//!
//! Bedrock is stricter than OpenAI about conversation shape (user first, roles alternating,
//! no blank text), so the OpenAI message list is normalised here rather than rejected upstream.

use crate::converse::request::{
    ContentBlock, ConversationRole, ConverseRequest, InferenceConfig, Message, SystemContentBlock,
};
use crate::error::ApiError;
use crate::openai::chat::{ChatRequest, Role};
use crate::openai::completion::CompletionRequest;

/// Builds the Converse body. System and developer messages, wherever they appear, become
/// `system` blocks in order; consecutive same-role turns are merged; blank text is dropped.
pub fn to_converse_request(req: &ChatRequest) -> Result<ConverseRequest, ApiError> {
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    for m in &req.messages {
        let texts = m.content.iter().filter(|t| !t.trim().is_empty());
        let role = match m.role {
            Role::System | Role::Developer => {
                system.extend(texts.map(|t| SystemContentBlock { text: t.clone() }));
                continue;
            }
            Role::User => ConversationRole::User,
            Role::Assistant => ConversationRole::Assistant,
        };
        let blocks: Vec<ContentBlock> = texts.map(|t| ContentBlock::Text(t.clone())).collect();
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
    match messages.first() {
        None => {
            return Err(ApiError::invalid_param(
                "messages",
                "the conversation has no user or assistant message with non-empty content",
            ))
        }
        Some(first) if first.role == ConversationRole::Assistant => {
            return Err(ApiError::invalid_param(
                "messages",
                "Bedrock requires the conversation to start with a user message",
            ))
        }
        Some(_) => {}
    }
    let inference = InferenceConfig {
        max_tokens: req.max_tokens,
        temperature: req.temperature.map(|t| t.min(1.0)),
        top_p: req.top_p,
        stop_sequences: req.stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
    };
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: (!inference.is_empty()).then_some(inference),
    })
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translate(body: serde_json::Value) -> serde_json::Value {
        let req = ChatRequest::parse(body.to_string().as_bytes()).unwrap();
        serde_json::to_value(to_converse_request(&req).unwrap()).unwrap()
    }

    #[test]
    fn builds_the_converse_body() {
        let got = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are a coding expert"},
                {"role": "user", "content": "Write me a python code to print hello world"}
            ],
            "max_tokens": 1000,
            "temperature": 0.5
        }));
        // The exact payload of the seed's gateway example.
        assert_eq!(
            got,
            json!({
                "system": [{"text": "You are a coding expert"}],
                "messages": [{"role": "user", "content": [{"text": "Write me a python code to print hello world"}]}],
                "inferenceConfig": {"maxTokens": 1000, "temperature": 0.5}
            })
        );
    }

    #[test]
    fn normalises_the_conversation() {
        let got = translate(json!({
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
        }));
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
    fn no_inference_config_when_nothing_is_set() {
        let got = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert!(got.get("inferenceConfig").is_none());
        assert!(got.get("system").is_none());
    }

    #[test]
    fn openai_temperature_above_one_is_clamped_to_bedrock_range() {
        let got = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.7}),
        );
        assert_eq!(got["inferenceConfig"]["temperature"], 1.0);
    }

    #[test]
    fn rejects_conversations_bedrock_cannot_take() {
        for messages in [
            json!([{"role": "system", "content": "only system"}]),
            json!([{"role": "user", "content": "  "}]),
            json!([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]),
        ] {
            let req = ChatRequest::parse(
                json!({"model": "m", "messages": messages})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            let e = to_converse_request(&req).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some("messages")));
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
