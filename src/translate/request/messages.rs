//! The conversation: OpenAI messages → Converse `system` blocks and alternating turns.
//!
//! Bedrock is stricter than OpenAI about conversation shape (user first, roles alternating,
//! no blank text, tool results right after the tool calls), so the message list is
//! normalised here rather than rejected upstream.

use serde_json::Value;

use super::cache::{marked, point};
use super::document::{Media, MAX_DOCUMENTS_PER_MESSAGE};
use super::thinking;
use crate::converse::request::{
    ContentBlock, ConversationRole, Message, SystemContentBlock, ToolResultBlock,
    ToolResultContentBlock, ToolUseBlock,
};
use crate::error::ApiError;
use crate::openai::chat::{ChatRequest, ContentPart, Message as ChatMessage, Role};
use crate::translate::tools::bedrock_tool_id;

pub use crate::converse::text::is_blank;

/// The user turn put in front of a conversation that starts with the assistant: Bedrock
/// requires the first message to come from the user.
pub const LEADING_USER_PLACEHOLDER: &str = "(continue)";

/// What a tool result with no content is sent as (Bedrock refuses blank text).
pub const EMPTY_TOOL_RESULT: &str = "(empty)";

/// The conversation: system and developer messages (anywhere) become `system` blocks in
/// order; tool messages become `toolResult` blocks of a user turn; consecutive same-role
/// turns merge; blank text and empty assistant turns are dropped. Tool calls and their results
/// must pair up as OpenAI requires: each tool message answers a call of the assistant message
/// before it, and each call is answered before the conversation moves on. The client's cache
/// marks become cache points after the blocks they follow (`cache::settle` decides later which
/// Bedrock gets). Images and documents go through `media`. Assistant messages'
/// `thinking_blocks` lead their turn when the model takes them back (`reasoning`), else they
/// are left out.
pub(super) fn to_messages<'a>(
    req: &ChatRequest<'a>,
    reasoning: bool,
    media: &mut Media<'_>,
) -> Result<(Vec<SystemContentBlock<'a>>, Vec<Message<'a>>), ApiError> {
    let mut system = Vec::new();
    let mut messages: Vec<Message<'a>> = Vec::new();
    // Calls of the latest assistant message still waiting for a result: (message index, id).
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        if m.role != Role::Tool {
            if let Some((at, id)) = pending.first() {
                return Err(unanswered(req, *at, id));
            }
        }
        let (role, blocks): (ConversationRole, Vec<ContentBlock<'a>>) = match m.role {
            Role::System | Role::Developer => {
                system_blocks(m, &mut system);
                continue;
            }
            Role::User => (ConversationRole::User, user_blocks(i, m, media)?),
            Role::Assistant => (
                ConversationRole::Assistant,
                assistant_blocks(i, m, reasoning, &mut pending),
            ),
            Role::Tool => (
                ConversationRole::User,
                tool_result(i, m, &mut pending, media)?,
            ),
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
        if let Some(turn) = messages.last() {
            check_documents(i, turn)?;
        }
    }
    if let Some((at, id)) = pending.first() {
        return Err(unanswered(req, *at, id));
    }
    // Bedrock wants a turn's tool results, or its reasoning, before anything else in it.
    for m in &mut messages {
        match m.role {
            ConversationRole::User => tool_results_first(&mut m.content),
            ConversationRole::Assistant => thinking::reasoning_first(&mut m.content),
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

/// The error for the call `id` of message `at` that no tool message answered.
fn unanswered(req: &ChatRequest<'_>, at: usize, id: &str) -> ApiError {
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
}

/// A system or developer message: its non-blank texts (guarded or not), each followed by the
/// cache point its part asks for, and the message's own cache point after the last.
fn system_blocks<'a>(m: &ChatMessage<'a>, system: &mut Vec<SystemContentBlock<'a>>) {
    let start = system.len();
    for (j, p) in m.content.iter().enumerate() {
        match p {
            ContentPart::Text(t) if !t.is_blank() => {
                system.push(SystemContentBlock::Text(t.clone()));
            }
            ContentPart::Guarded(g) if !is_blank(&g.text) => {
                system.push(SystemContentBlock::GuardContent(g.to_block()));
            }
            _ => {}
        }
        if let Some(ttl) = marked(m, Some(j)).filter(|_| system.len() > start) {
            system.push(SystemContentBlock::CachePoint(point(ttl)));
        }
    }
    if let Some(ttl) = marked(m, None).filter(|_| system.len() > start) {
        system.push(SystemContentBlock::CachePoint(point(ttl)));
    }
}

/// A user message (number `i`): its non-blank texts (guarded or not), images and documents, in
/// order, with the cache points its parts and itself ask for.
fn user_blocks<'a>(
    i: usize,
    m: &ChatMessage<'a>,
    media: &mut Media<'_>,
) -> Result<Vec<ContentBlock<'a>>, ApiError> {
    let mut blocks = Vec::new();
    for (j, p) in m.content.iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        match p {
            ContentPart::Text(t) if t.is_blank() => {}
            ContentPart::Text(t) => blocks.push(ContentBlock::Text(t.clone())),
            ContentPart::Guarded(g) if is_blank(&g.text) => {}
            ContentPart::Guarded(g) => blocks.push(ContentBlock::GuardContent(g.to_block())),
            ContentPart::Image(img) => blocks.push(ContentBlock::Image(media.image(&at(), img)?)),
            ContentPart::Document(doc) => blocks.push(media.document(&at(), doc)?),
        }
        cache_after(m, Some(j), &mut blocks);
    }
    cache_after(m, None, &mut blocks);
    Ok(blocks)
}

/// Bedrock's rules for documents in one user turn (the turn message `i` ended in): at most
/// [`MAX_DOCUMENTS_PER_MESSAGE`], and a text block beside them.
fn check_documents(i: usize, turn: &Message<'_>) -> Result<(), ApiError> {
    let documents = turn
        .content
        .iter()
        .filter(|b| matches!(b, ContentBlock::Document(_)))
        .count();
    if documents > MAX_DOCUMENTS_PER_MESSAGE {
        return Err(ApiError::invalid_param(
            format!("messages[{i}].content"),
            format!("Bedrock takes at most {MAX_DOCUMENTS_PER_MESSAGE} documents in one user turn"),
        ));
    }
    if documents > 0
        && !turn
            .content
            .iter()
            .any(|b| matches!(b, ContentBlock::Text(_)))
    {
        return Err(ApiError::invalid_param(
            format!("messages[{i}].content"),
            "a message with a document needs a text part too (Bedrock requires one)",
        ));
    }
    Ok(())
}

/// The cache point a mark of `m` asks for after `part` (`None`: the whole message), if there
/// is anything before it.
fn cache_after(m: &ChatMessage<'_>, part: Option<usize>, blocks: &mut Vec<ContentBlock<'_>>) {
    if let Some(ttl) = marked(m, part).filter(|_| !blocks.is_empty()) {
        blocks.push(ContentBlock::CachePoint(point(ttl)));
    }
}

/// A turn's blocks with the tool results first, each block keeping the cache points that
/// follow it.
fn tool_results_first(content: &mut Vec<ContentBlock<'_>>) {
    let mut groups: Vec<Vec<ContentBlock<'_>>> = Vec::new();
    for b in content.drain(..) {
        match groups.last_mut() {
            Some(g) if matches!(b, ContentBlock::CachePoint(_)) => g.push(b),
            _ => groups.push(vec![b]),
        }
    }
    groups.sort_by_key(|g| !matches!(g[0], ContentBlock::ToolResult(_)));
    content.extend(groups.into_iter().flatten());
}

/// An assistant message (number `i`): its reasoning (if `reasoning`), its texts, then its tool
/// calls, each now `pending`.
fn assistant_blocks<'a>(
    i: usize,
    m: &ChatMessage<'a>,
    reasoning: bool,
    pending: &mut Vec<(usize, String)>,
) -> Vec<ContentBlock<'a>> {
    let mut blocks = Vec::new();
    if reasoning {
        blocks.extend(thinking::blocks(m));
    }
    for (j, p) in m.content.iter().enumerate() {
        if let ContentPart::Text(t) = p {
            if !t.is_blank() {
                blocks.push(ContentBlock::Text(t.clone()));
            }
        }
        cache_after(m, Some(j), &mut blocks);
    }
    for c in &m.tool_calls {
        pending.push((i, c.id.clone()));
        blocks.push(ContentBlock::ToolUse(ToolUseBlock {
            tool_use_id: bedrock_tool_id(&c.id),
            name: c.name.clone(),
            input: c.arguments.clone(),
        }));
    }
    cache_after(m, None, &mut blocks);
    blocks
}

/// A tool message (number `i`): the `toolResult` of one `pending` call, no longer pending.
fn tool_result(
    i: usize,
    m: &ChatMessage<'_>,
    pending: &mut Vec<(usize, String)>,
    media: &Media<'_>,
) -> Result<Vec<ContentBlock<'static>>, ApiError> {
    let id = m.tool_call_id.clone().unwrap_or_default();
    let Some(pos) = pending.iter().position(|(_, p)| *p == id) else {
        return Err(ApiError::invalid_param(
            format!("messages[{i}].tool_call_id"),
            format!("tool message `{id}` does not answer a tool call of the preceding assistant message"),
        ));
    };
    pending.remove(pos);
    let mut content = vec![tool_result_content(&m.content)];
    for (j, p) in m.content.iter().enumerate() {
        if let ContentPart::Image(img) = p {
            let at = format!("messages[{i}].content[{j}]");
            content.push(ToolResultContentBlock::Image(
                media.tool_result_image(&at, img)?,
            ));
        }
    }
    // Images alone: no placeholder text before them.
    if content.len() > 1 && content[0] == ToolResultContentBlock::Text(EMPTY_TOOL_RESULT.into()) {
        content.remove(0);
    }
    let mut blocks = vec![ContentBlock::ToolResult(ToolResultBlock {
        tool_use_id: bedrock_tool_id(&id),
        content,
    })];
    // One result block: any mark of the message or its parts follows it.
    if let Some(ttl) = m.cache.iter().map(|c| c.ttl).max() {
        blocks.push(ContentBlock::CachePoint(point(ttl)));
    }
    Ok(blocks)
}

/// Bedrock requires the first message to come from the user: a conversation that starts
/// with the assistant gets [`LEADING_USER_PLACEHOLDER`] in front.
pub(super) fn ensure_user_first(messages: &mut Vec<Message<'_>>) {
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
}

/// A tool message's text: a JSON object stays JSON (`json` block), anything else is text.
pub(super) fn tool_result_content(parts: &[ContentPart<'_>]) -> ToolResultContentBlock {
    let text: String = parts
        .iter()
        .filter_map(|p| match p {
            ContentPart::Text(t) => Some(t.as_str()),
            ContentPart::Image(_) | ContentPart::Guarded(_) | ContentPart::Document(_) => None,
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
