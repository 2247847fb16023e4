//! Responses request → the equivalent [`ChatRequest`], which the chat translator turns into
//! the Converse body. `instructions` is the first system message; consecutive
//! `function_call` items (and the assistant message before them) form one assistant turn;
//! each `function_call_output` is a tool message. A reasoning item's block (from its
//! `encrypted_content`) becomes the `thinking` of the assistant turn that the next message or
//! call opens or joins, so Bedrock gets its signed reasoning back before the `toolUse`.

use crate::openai::chat::{CacheRequest, ChatRequest, Message, Role, ThinkingBlock, ToolCall};
use crate::openai::responses::{InputItem, ResponsesRequest, DROPPED_REASONING};

/// The chat request a Responses request stands for.
pub fn to_chat_request(req: &ResponsesRequest) -> ChatRequest<'static> {
    let mut ignored = req.ignored.clone();
    let (messages, stray_reasoning) = to_messages(req);
    if stray_reasoning && !ignored.iter().any(|n| n == DROPPED_REASONING) {
        ignored.push(DROPPED_REASONING.into());
    }
    ChatRequest {
        model: req.model.clone(),
        bedrock_model: req.bedrock_model.clone(),
        model_provider: None,
        messages,
        stream: req.stream,
        include_usage: true,
        max_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: Vec::new(),
        tools: req.tools.clone(),
        tool_choice: req.tool_choice.clone(),
        legacy_functions: false,
        response_format: req.format.clone(),
        reasoning_effort: req.reasoning_effort,
        thinking: None,
        user: req.user.clone(),
        metadata: req.metadata.clone(),
        service_tier: req.service_tier.clone(),
        guardrail_config: None,
        prompt_cache: CacheRequest::default(),
        ignored,
    }
}

fn message(
    role: Role,
    content: Vec<crate::openai::chat::ContentPart<'static>>,
) -> Message<'static> {
    Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        legacy: false,
        cache: Vec::new(),
        thinking: Vec::new(),
    }
}

/// The messages, and whether some reasoning had no assistant turn after it to lead (dropped).
fn to_messages(req: &ResponsesRequest) -> (Vec<Message<'static>>, bool) {
    let mut out = Vec::with_capacity(req.input.len() + 1);
    // Reasoning waiting for the assistant turn it belongs to.
    let mut pending: Vec<ThinkingBlock> = Vec::new();
    let mut stray = false;
    if let Some(text) = req.instructions.as_ref().filter(|t| !t.trim().is_empty()) {
        out.push(message(
            Role::System,
            vec![crate::openai::chat::ContentPart::Text(text.clone().into())],
        ));
    }
    // Whether the last message is an assistant turn that may still take calls.
    let mut open_assistant = false;
    for item in &req.input {
        match item {
            InputItem::Message { role, content } => {
                let mut m = message(*role, content.clone());
                open_assistant = *role == Role::Assistant;
                if open_assistant {
                    m.thinking = std::mem::take(&mut pending);
                } else {
                    stray |= !std::mem::take(&mut pending).is_empty();
                }
                out.push(m);
            }
            InputItem::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                if !open_assistant {
                    out.push(message(Role::Assistant, Vec::new()));
                    open_assistant = true;
                }
                if let Some(turn) = out.last_mut() {
                    turn.thinking.append(&mut pending);
                    turn.tool_calls.push(ToolCall {
                        id: call_id.clone(),
                        name: name.clone(),
                        arguments: arguments.clone(),
                    });
                }
            }
            InputItem::FunctionCallOutput { call_id, output } => {
                stray |= !std::mem::take(&mut pending).is_empty();
                let mut m = message(Role::Tool, output.clone());
                m.tool_call_id = Some(call_id.clone());
                out.push(m);
                open_assistant = false;
            }
            InputItem::Reasoning(block) => pending.extend(block.clone()),
        }
    }
    (out, stray || !pending.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::chat::ContentPart;

    #[test]
    fn calls_join_the_assistant_turn_and_outputs_answer_them() {
        let req = ResponsesRequest::parse(
            br#"{"model":"m","instructions":"be brief","input":[
                {"role":"user","content":"weather and time?"},
                {"type":"reasoning","id":"rs_1","summary":[]},
                {"type":"message","role":"assistant","content":[{"type":"output_text","text":"checking"}]},
                {"type":"function_call","call_id":"c1","name":"w","arguments":"{\"city\":\"Paris\"}"},
                {"type":"function_call","call_id":"c2","name":"t","arguments":""},
                {"type":"function_call_output","call_id":"c1","output":"sunny"},
                {"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"noon"}]},
                {"type":"function_call","call_id":"c3","name":"w","arguments":"{}"},
                {"type":"function_call_output","call_id":"c3","output":"rain"}
            ]}"#,
        )
        .unwrap();
        let chat = to_chat_request(&req);
        let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool,
                Role::Assistant,
                Role::Tool
            ]
        );
        assert_eq!(
            chat.messages[0].content,
            [ContentPart::Text("be brief".into())]
        );
        let calls: Vec<&str> = chat.messages[2]
            .tool_calls
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(calls, ["c1", "c2"]);
        assert_eq!(
            chat.messages[2].content,
            [ContentPart::Text("checking".into())]
        );
        assert_eq!(
            chat.messages[2].tool_calls[0].arguments,
            serde_json::json!({"city": "Paris"})
        );
        assert_eq!(chat.messages[4].tool_call_id.as_deref(), Some("c2"));
        assert_eq!(chat.messages[5].tool_calls[0].id, "c3");
        assert!(chat.include_usage && !chat.legacy_functions);
    }

    fn sealed(text: &str) -> String {
        crate::openai::responses::seal_reasoning(&ThinkingBlock::Thinking {
            thinking: text.into(),
            signature: Some("c2ln".into()),
        })
    }

    #[test]
    fn reasoning_leads_the_assistant_turn_that_follows_it() {
        let body = serde_json::json!({"model": "m", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "reasoning", "summary": [], "encrypted_content": sealed("one")},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "reasoning", "summary": [], "encrypted_content": sealed("two")},
            {"type": "message", "role": "assistant", "content": "It is sunny."},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c2", "output": "rain"}
        ]});
        let req = ResponsesRequest::parse(body.to_string().as_bytes()).unwrap();
        let chat = to_chat_request(&req);
        let thinking: Vec<Vec<&str>> = chat
            .messages
            .iter()
            .map(|m| {
                m.thinking
                    .iter()
                    .map(|b| match b {
                        ThinkingBlock::Thinking { thinking, .. } => thinking.as_str(),
                        ThinkingBlock::RedactedThinking { data } => data.as_str(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(thinking, [vec![], vec!["one"], vec![], vec!["two"], vec![]]);
        assert_eq!(chat.messages[3].tool_calls[0].id, "c2");
        assert!(chat.ignored.is_empty());
    }

    #[test]
    fn reasoning_with_no_assistant_turn_after_it_is_reported() {
        for input in [
            serde_json::json!([
                {"role": "user", "content": "a"},
                {"type": "reasoning", "summary": [], "encrypted_content": sealed("x")},
                {"role": "user", "content": "b"}
            ]),
            serde_json::json!([
                {"role": "user", "content": "a"},
                {"type": "reasoning", "summary": [], "encrypted_content": sealed("x")}
            ]),
        ] {
            let body = serde_json::json!({"model": "m", "input": input});
            let req = ResponsesRequest::parse(body.to_string().as_bytes()).unwrap();
            let chat = to_chat_request(&req);
            assert!(chat.messages.iter().all(|m| m.thinking.is_empty()));
            assert_eq!(chat.ignored, [DROPPED_REASONING]);
        }
    }
}
