//! Reasoning handed back: an assistant message's `thinking_blocks` become Converse
//! `reasoningContent` blocks at the front of its turn, where Bedrock (Anthropic) wants them:
//! with extended thinking and tools, the assistant turn that called the tools must start with
//! the signed reasoning that led to the calls, unmodified.

use super::capabilities::anthropic_thinks;
use super::Target;
use crate::catalog::models::Provider;
use crate::converse::request::{ContentBlock, ReasoningContentBlock, ReasoningTextBlock};
use crate::openai::chat::{ChatRequest, Message, ThinkingBlock};

/// Whether the model takes earlier reasoning back: Claude models with extended thinking
/// (their signatures are checked), and models the gateway cannot place (an ARN: the client
/// knows what it is talking to). Other families get none (a signature from one model means
/// nothing to another), and `thinking_blocks` is reported as ignored.
pub(super) fn taken_back(target: Target<'_>) -> bool {
    match target.provider {
        Provider::Anthropic => anthropic_thinks(target),
        Provider::Other => true,
        _ => false,
    }
}

/// Whether any message hands reasoning back.
pub(super) fn any(req: &ChatRequest) -> bool {
    req.messages.iter().any(|m| !m.thinking.is_empty())
}

/// The `reasoningContent` blocks of an assistant message, in the client's order.
pub(super) fn blocks(m: &Message<'_>) -> Vec<ContentBlock<'static>> {
    m.thinking
        .iter()
        .map(|b| {
            ContentBlock::ReasoningContent(match b {
                ThinkingBlock::Thinking {
                    thinking,
                    signature,
                } => ReasoningContentBlock::ReasoningText(ReasoningTextBlock {
                    text: thinking.clone(),
                    signature: signature.clone(),
                }),
                ThinkingBlock::RedactedThinking { data } => {
                    ReasoningContentBlock::RedactedContent(data.clone())
                }
            })
        })
        .collect()
}

/// An assistant turn's reasoning first, the rest in order: two OpenAI assistant messages
/// merged into one turn keep Bedrock's order.
pub(super) fn reasoning_first(content: &mut [ContentBlock<'_>]) {
    content.sort_by_key(|b| !matches!(b, ContentBlock::ReasoningContent(_)));
}
