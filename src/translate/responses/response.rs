//! Unary Converse answer → `response` object. The chat reader does the reading (text,
//! reasoning, tool calls, the JSON-answer tool, dropped calls, stop reasons, usage); here its
//! message is laid out as output items: reasoning (one item per reasoning block, as streamed),
//! then the message, then function calls.

use crate::error::ApiError;
use crate::openai::chat::ThinkingBlock;
use crate::openai::responses::{
    seal_reasoning, Echo, IncompleteDetails, OutputItem, OutputText, ResponseObject, SummaryText,
    RESPONSE_OBJECT,
};
use crate::translate::response::{to_chat_completion, ResponseMeta};
use crate::translate::tools::OutputMode;
use crate::translate::usage::TokenCounts;

/// Who the answer is addressed as, and what it repeats of the request.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// `resp_…`; item ids are made from it.
    pub id: String,
    pub created: u64,
    pub model: String,
    pub output: OutputMode,
    pub echo: Echo,
    /// Reasoning items carry `encrypted_content` (`include`).
    pub encrypted_reasoning: bool,
}

/// `incomplete_details.reason` for a chat `finish_reason`, `None` when the answer is
/// complete.
pub fn incomplete_reason(finish: &str) -> Option<&'static str> {
    match finish {
        "length" => Some("max_output_tokens"),
        "content_filter" => Some("content_filter"),
        _ => None,
    }
}

/// The id of an output item: its kind's prefix and the response's id (without `resp_`).
pub fn item_id(prefix: &str, response_id: &str, n: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    if n == 0 {
        format!("{prefix}_{base}")
    } else {
        format!("{prefix}_{base}_{n}")
    }
}

/// One reasoning item per block: its text as the summary and, when asked for, the block sealed
/// in `encrypted_content`. A redacted block has no text: it shows only with `encrypted_content`.
pub fn reasoning_items(blocks: &[ThinkingBlock], ctx: &ResponseContext) -> Vec<OutputItem> {
    blocks
        .iter()
        .filter(|b| ctx.encrypted_reasoning || matches!(b, ThinkingBlock::Thinking { .. }))
        .enumerate()
        .map(|(n, b)| OutputItem::Reasoning {
            id: item_id("rs", &ctx.id, n),
            summary: match b {
                ThinkingBlock::Thinking { thinking, .. } => {
                    vec![SummaryText::new(thinking.clone())]
                }
                ThinkingBlock::RedactedThinking { .. } => Vec::new(),
            },
            encrypted_content: ctx.encrypted_reasoning.then(|| seal_reasoning(b)),
            status: "completed",
        })
        .collect()
}

/// Parses a 200 Converse body into the serialized `response` object and its usage.
pub fn to_response(body: &[u8], ctx: &ResponseContext) -> Result<(Vec<u8>, TokenCounts), ApiError> {
    let meta = ResponseMeta {
        id: ctx.id.clone(),
        created: ctx.created,
        model: ctx.model.clone(),
        output: ctx.output.clone(),
    };
    let (completion, counts) = to_chat_completion(body, &meta)?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(ApiError::bad_upstream("Bedrock's answer has no message"));
    };
    let m = choice.message;
    let mut output = reasoning_items(&m.thinking_blocks, ctx);
    let incomplete = incomplete_reason(choice.finish_reason);
    if let Some(text) = m.content {
        output.push(OutputItem::Message {
            id: item_id("msg", &ctx.id, 0),
            role: "assistant",
            status: if incomplete.is_some() {
                "incomplete"
            } else {
                "completed"
            },
            content: vec![OutputText::new(text)],
        });
    }
    for call in m.tool_calls {
        let (namespace, name) = ctx.echo.split_tool_name(&call.function.name);
        output.push(OutputItem::FunctionCall {
            id: format!("fc_{}", call.id),
            call_id: call.id,
            namespace,
            name,
            arguments: call.function.arguments,
            status: "completed",
        });
    }
    let response = ResponseObject {
        id: &ctx.id,
        object: RESPONSE_OBJECT,
        created_at: ctx.created,
        status: if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        },
        error: None,
        incomplete_details: incomplete.map(|reason| IncompleteDetails { reason }),
        model: &ctx.model,
        output: &output,
        usage: Some(counts.to_responses()),
        echo: &ctx.echo,
    };
    let bytes = serde_json::to_vec(&response).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((bytes, counts))
}
