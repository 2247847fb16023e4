//! The content block a stream item is made from: what it becomes ([`Kind`]), what has been
//! streamed for it ([`Open`]), and the output item it is announced and finished as.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::openai::chat::ThinkingBlock;
use crate::openai::responses::{seal_reasoning, OutputItem, OutputText, SummaryText};

/// What an open content block becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Text, or the JSON-answer tool's input, streamed as `output_text`.
    Message,
    Reasoning,
    /// Redacted reasoning: no text, only bytes for `encrypted_content`.
    Redacted,
    Call {
        call_id: String,
        /// The client's name for the tool: split from Bedrock's by namespace.
        namespace: Option<String>,
        name: String,
    },
    /// A tool call the client must not see.
    Dropped,
}

#[derive(Debug)]
pub(super) struct Open {
    pub(super) block: u32,
    pub(super) output_index: usize,
    pub(super) item_id: String,
    pub(super) kind: Kind,
    /// Everything streamed for the block so far (text, reasoning or arguments).
    pub(super) text: String,
    /// A reasoning block's signature, from its signature deltas.
    pub(super) signature: String,
    /// A redacted block's bytes, decoded from its deltas.
    pub(super) redacted: Vec<u8>,
}

/// A reasoning block's `encrypted_content`: its text and signature, or its redacted bytes.
pub(super) fn sealed(open: &Open) -> Option<String> {
    let block = match open.kind {
        Kind::Reasoning => ThinkingBlock::Thinking {
            thinking: open.text.clone(),
            signature: (!open.signature.is_empty()).then(|| open.signature.clone()),
        },
        Kind::Redacted => ThinkingBlock::RedactedThinking {
            data: STANDARD.encode(&open.redacted),
        },
        _ => return None,
    };
    Some(seal_reasoning(&block))
}

/// The output item of a block; `added`: as first announced (empty content), `sealed`: a
/// reasoning item's `encrypted_content`.
pub(super) fn item_of(
    open: &Open,
    status: &'static str,
    added: bool,
    sealed: Option<String>,
) -> OutputItem {
    let text = if added {
        String::new()
    } else {
        open.text.clone()
    };
    match &open.kind {
        Kind::Message | Kind::Dropped => OutputItem::Message {
            id: open.item_id.clone(),
            role: "assistant",
            status,
            content: if added {
                Vec::new()
            } else {
                vec![OutputText::new(text)]
            },
        },
        Kind::Reasoning | Kind::Redacted => OutputItem::Reasoning {
            id: open.item_id.clone(),
            summary: if added || open.kind == Kind::Redacted {
                Vec::new()
            } else {
                vec![SummaryText::new(text)]
            },
            encrypted_content: sealed,
            status,
        },
        Kind::Call {
            call_id,
            namespace,
            name,
        } => OutputItem::FunctionCall {
            id: open.item_id.clone(),
            call_id: call_id.clone(),
            namespace: namespace.clone(),
            name: name.clone(),
            arguments: text,
            status,
        },
    }
}
