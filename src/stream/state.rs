//! The per-response state machine: ConverseStream events → `chat.completion.chunk`s.
//!
//! Order on the wire, as OpenAI sends it: a role chunk, content / reasoning (text and
//! `thinking_blocks` fragments) / tool-call deltas, one chunk with an empty delta and
//! `finish_reason`, the usage chunk with `choices: []`, `[DONE]` (at end of body). The finish
//! chunk waits from `messageStop` for the `metadata` event right after it (or the end of the
//! body), so that it can carry the `service_tier` and the guardrail summary
//! (`bedrock_guardrail`) that event brings. Anything that goes wrong (exception message,
//! corrupt frame, bad JSON, truncated body) becomes one error event, after which the stream is
//! over: no `[DONE]`, later bytes dropped. Memory is the decoder's partial frame plus a few
//! flags.

use std::borrow::Cow;

use crate::converse::stream::{
    decode_message, ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent,
    MetadataEvent, StreamEvent, StreamMessage,
};
use crate::error::{ApiError, ErrorType};
use crate::event_stream::{Decoder, Message};
use crate::openai::chunk::{ChunkChoice, Delta, FunctionChunk, ThinkingFragment, ToolCallChunk};
use crate::openai::completion::TextChoice;
use crate::stream::sse::{self, ChunkWriter};
use crate::stream::OutputFormat;
use crate::translate::stop_reason::{finish_reason, Finish};
use crate::translate::tools::OutputMode;
use crate::translate::usage::{ServerToolUse, TokenCounts};

/// What every chunk of one response carries, and whether the client asked for usage
/// (`stream_options.include_usage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamOptions {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub include_usage: bool,
    /// Chat chunks or legacy `text_completion` chunks.
    pub format: OutputFormat,
    /// JSON-answer tool and dropped tool calls, as decided at request time.
    pub output: OutputMode,
}

/// Translates one streamed response. Feed it upstream body bytes as they come.
#[derive(Debug)]
pub struct StreamTranslator {
    decoder: Decoder,
    state: State,
}

#[derive(Debug)]
struct State {
    writer: ChunkWriter,
    format: OutputFormat,
    include_usage: bool,
    role_sent: bool,
    /// `(contentBlockIndex, tool_calls index)` per toolUse block: OpenAI numbers tool calls
    /// 0, 1, 2… while Bedrock numbers all content blocks, text included.
    tools: Vec<(u32, u32)>,
    /// Content blocks whose tool input is the JSON answer: streamed as `content`.
    json_blocks: Vec<u32>,
    /// Content blocks of tool calls the client must not see (`tool_choice: "none"`, or a
    /// tool Bedrock runs itself).
    dropped_blocks: Vec<u32>,
    /// Tools Bedrock ran itself: `usage.server_tool_use`.
    server_tools: ServerToolUse,
    output: OutputMode,
    stop_reason: Option<String>,
    /// The `finish_reason` decided at `messageStop`, until its chunk is sent.
    finish: Option<&'static str>,
    finish_sent: bool,
    /// The guardrail summary, once the finish chunk is out.
    guardrail: Option<&'static str>,
    usage: Option<TokenCounts>,
    usage_sent: bool,
    finished: bool,
    /// The `error.type` of the error event that ended the stream, if one did.
    error_type: Option<ErrorType>,
}

impl StreamTranslator {
    pub fn new(opts: StreamOptions) -> Self {
        Self {
            decoder: Decoder::new(),
            state: State {
                writer: ChunkWriter::with_object(
                    opts.format.chunk_object(),
                    &opts.id,
                    opts.created,
                    &opts.model,
                ),
                format: opts.format,
                include_usage: opts.include_usage,
                role_sent: false,
                tools: Vec::new(),
                json_blocks: Vec::new(),
                dropped_blocks: Vec::new(),
                server_tools: ServerToolUse::default(),
                output: opts.output,
                stop_reason: None,
                finish: None,
                finish_sent: false,
                guardrail: None,
                usage: None,
                usage_sent: false,
                finished: false,
                error_type: None,
            },
        }
    }

    /// Upstream body bytes in (any split); SSE bytes to send to the client now (may be empty).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.finished {
            return out;
        }
        out.reserve(bytes.len());
        let mut frames = self.decoder.feed(bytes);
        loop {
            let result = match frames.next_message() {
                Ok(None) => break,
                Ok(Some(msg)) => self.state.on_message(&msg, &mut out),
                Err(e) => Err(ApiError::bad_upstream(format!(
                    "Bedrock sent a corrupt event stream: {e}"
                ))),
            };
            if let Err(e) = result {
                self.state.fail(&e, &mut out);
                break;
            }
        }
        drop(frames);
        if self.state.finished {
            // Drops any partial frame; nothing more will be read.
            self.decoder = Decoder::new();
        }
        out
    }

    /// Upstream body ended; the remaining SSE bytes (usage chunk if still held, `[DONE]`), or
    /// an error event if the stream was cut short.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.finished {
            return out;
        }
        let pending = self.decoder.buffered_len();
        if pending > 0 {
            self.state.fail(
                &ApiError::bad_upstream(format!(
                    "Bedrock's event stream ended inside a frame ({pending} bytes of it received)"
                )),
                &mut out,
            );
        } else if self.state.finish.is_none() {
            self.state.fail(
                &ApiError::bad_upstream("Bedrock's event stream ended before messageStop"),
                &mut out,
            );
        } else {
            let flushed = self
                .state
                .emit_finish(None, &mut out)
                .and_then(|()| self.state.emit_usage(&mut out));
            match flushed {
                Ok(()) => sse::write_done(&mut out),
                Err(e) => self.state.fail(&e, &mut out),
            }
            self.state.finished = true;
        }
        self.decoder = Decoder::new();
        out
    }

    /// Bytes of an unfinished upstream frame held between `feed` calls. With a few flags, the
    /// only per-stream state that depends on the input; bounded by the largest frame.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// Token usage seen in the `metadata` event, if any.
    pub fn usage(&self) -> Option<TokenCounts> {
        self.state.usage
    }

    /// `x-bedrock-guardrail-action` (`INTERVENED` / `NONE`), when a guardrail was traced or
    /// intervened.
    pub fn guardrail_action(&self) -> Option<&'static str> {
        self.state.guardrail
    }

    /// Bedrock `stopReason` seen, if any.
    pub fn stop_reason(&self) -> Option<&str> {
        self.state.stop_reason.as_deref()
    }

    /// The `error.type` of the error event that ended the stream, if one did.
    pub fn error_type(&self) -> Option<ErrorType> {
        self.state.error_type
    }

    /// True once the stream has terminated (error emitted or `[DONE]` written).
    pub fn is_finished(&self) -> bool {
        self.state.finished
    }
}

/// `throttlingException` (the union member name Bedrock puts in `:exception-type`) →
/// `ThrottlingException`, the error name [`ApiError::from_bedrock`] knows.
fn exception_name(t: &str) -> Cow<'_, str> {
    match t.chars().next() {
        Some(c) if c.is_ascii_lowercase() => {
            let mut s = String::with_capacity(t.len());
            s.push(c.to_ascii_uppercase());
            s.push_str(t.get(1..).unwrap_or_default());
            Cow::Owned(s)
        }
        _ => Cow::Borrowed(t),
    }
}

/// One event-stream message → its ConverseStream event (`None`: an event type we do not
/// know, skipped), or the error it carries: an exception, or a frame we cannot read.
pub(crate) fn read_event<'a>(msg: &Message<'a>) -> Result<Option<StreamEvent<'a>>, ApiError> {
    match decode_message(msg) {
        Ok(StreamMessage::Event(event)) => Ok(Some(event)),
        Ok(StreamMessage::UnknownEvent(_)) => Ok(None),
        Ok(StreamMessage::Exception {
            exception_type,
            message,
        }) => Err(ApiError::from_bedrock(
            &exception_name(exception_type),
            &message,
            500,
        )),
        Ok(StreamMessage::Error { code, message }) => {
            Err(ApiError::from_bedrock(&exception_name(code), message, 500))
        }
        Err(e) => Err(ApiError::bad_upstream(format!(
            "Bedrock sent an unreadable stream event: {e}"
        ))),
    }
}

fn serialize_failed(e: serde_json::Error) -> ApiError {
    ApiError::internal(format!("could not serialize a stream chunk: {e}"))
}

impl State {
    fn on_message(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) -> Result<(), ApiError> {
        match read_event(msg)? {
            Some(event) => self.on_event(event, out),
            None => Ok(()),
        }
    }

    fn on_event(&mut self, event: StreamEvent<'_>, out: &mut Vec<u8>) -> Result<(), ApiError> {
        match event {
            StreamEvent::MessageStart(_) => self.ensure_role(out),
            StreamEvent::ContentBlockStart(e) => self.on_block_start(e, out),
            StreamEvent::ContentBlockDelta(e) => self.on_block_delta(e, out),
            StreamEvent::ContentBlockStop(_) => Ok(()),
            StreamEvent::MessageStop(e) => self.on_message_stop(e, out),
            StreamEvent::Metadata(m) => {
                self.usage = Some(TokenCounts::from_bedrock(&m.usage));
                if self.finish.is_some() {
                    self.emit_finish(Some(&*m), out)?;
                    self.emit_usage(out)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A toolUse block opens: a tool call for the client (its first chunk), the JSON answer,
    /// or a dropped call. Text and reasoning blocks need nothing here.
    fn on_block_start(
        &mut self,
        e: ContentBlockStartEvent<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let Some(tool) = e.start.tool_use else {
            return Ok(());
        };
        self.ensure_role(out)?;
        if tool.is_server_tool() {
            // Bedrock runs it (its result block follows): counted, never a client call.
            self.server_tools.add(&tool.name);
            self.dropped_blocks.push(e.content_block_index);
            return Ok(());
        }
        if self.output.is_json_tool(&tool.name) {
            self.json_blocks.push(e.content_block_index);
            return Ok(());
        }
        if !self.output.is_client_tool(&tool.name) {
            self.dropped_blocks.push(e.content_block_index);
            return Ok(());
        }
        if self.output.legacy_functions && !self.tools.is_empty() {
            // The legacy `function_call` form holds one call: later ones are dropped.
            self.dropped_blocks.push(e.content_block_index);
            return Ok(());
        }
        let index = u32::try_from(self.tools.len())
            .map_err(|_| ApiError::bad_upstream("too many tool calls in one response"))?;
        self.tools.push((e.content_block_index, index));
        let function = FunctionChunk {
            name: Some(tool.name),
            arguments: Some(Cow::Borrowed("")),
        };
        let delta = if self.output.legacy_functions {
            Delta {
                function_call: Some(function),
                ..Delta::default()
            }
        } else {
            Delta {
                tool_calls: Some(vec![ToolCallChunk {
                    index,
                    id: Some(tool.tool_use_id),
                    kind: Some(Cow::Borrowed("function")),
                    function,
                }]),
                ..Delta::default()
            }
        };
        self.emit_delta(delta, None, out)
    }

    /// Text, reasoning or tool input: one delta chunk (JSON-answer input as `content`).
    fn on_block_delta(
        &mut self,
        e: ContentBlockDeltaEvent<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let mut d = e.delta;
        let block = e.content_block_index;
        let mut content = d.text.take();
        if self.json_blocks.contains(&block) {
            content = d.tool_use.take().map(|t| t.input);
        } else if self.dropped_blocks.contains(&block) {
            d.tool_use = None;
        }
        let mut tool_calls = None;
        let mut function_call = None;
        if let Some(t) = d.tool_use {
            let index = self.tool_index(e.content_block_index).ok_or_else(|| {
                ApiError::bad_upstream(format!(
                    "Bedrock sent tool input for content block {} without a toolUse start",
                    e.content_block_index
                ))
            })?;
            let function = FunctionChunk {
                name: None,
                arguments: Some(t.input),
            };
            if self.output.legacy_functions {
                function_call = Some(function);
            } else {
                tool_calls = Some(vec![ToolCallChunk {
                    index,
                    function,
                    ..ToolCallChunk::default()
                }]);
            }
        }
        let (reasoning_content, thinking_blocks) = match d.reasoning_content {
            Some(r) => {
                let r = *r;
                let fragments =
                    ThinkingFragment::from_bedrock(r.text.clone(), r.signature, r.redacted_content);
                (r.text, (!fragments.is_empty()).then_some(fragments))
            }
            None => (None, None),
        };
        let delta = Delta {
            role: None,
            content,
            reasoning_content,
            tool_calls,
            function_call,
            thinking_blocks,
            citations: d
                .citation
                .map(|c| vec![crate::translate::citations::from_delta(&c)]),
        };
        if delta == Delta::default() {
            // A server tool's result: nothing for the client.
            return Ok(());
        }
        self.ensure_role(out)?;
        self.emit_delta(delta, None, out)
    }

    /// The `finish_reason`, once; its chunk waits for `metadata` (see [`State::emit_finish`]).
    fn on_message_stop(
        &mut self,
        e: MessageStopEvent<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if self.finish.is_some() {
            return Ok(());
        }
        let stop = e.stop_reason;
        self.stop_reason = Some(stop.to_string());
        match finish_reason(&stop) {
            Finish::Reason(reason) => {
                // Only JSON answers or dropped calls: a normal stop for the client;
                // `function_call` in the legacy form.
                let converted = !self.json_blocks.is_empty() || !self.dropped_blocks.is_empty();
                let reason = if converted || !self.tools.is_empty() {
                    self.output.tool_finish(reason, !self.tools.is_empty())
                } else {
                    reason
                };
                self.ensure_role(out)?;
                self.finish = Some(reason);
                Ok(())
            }
            Finish::Error => Err(ApiError::bad_upstream(format!(
                "the model stopped with `{stop}`"
            ))
            .with_code(stop)),
        }
    }

    /// The finish chunk, once, with what `metadata` (if it came) says about the tier and the
    /// guardrail as top-level members of it and of the chunks after it.
    fn emit_finish(
        &mut self,
        metadata: Option<&MetadataEvent>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let Some(reason) = self.finish.filter(|_| !self.finish_sent) else {
            return Ok(());
        };
        let guardrail = crate::translate::guardrail::summarise(
            self.stop_reason.as_deref(),
            metadata.and_then(|m| m.trace.as_ref()),
        );
        self.guardrail = guardrail.as_ref().map(|g| g.action);
        if self.format == OutputFormat::Chat {
            let tier = metadata.and_then(|m| {
                crate::translate::service_tier::from_response(
                    m.service_tier.as_ref().map(|t| t.kind.as_str()),
                    m.performance_config
                        .as_ref()
                        .and_then(|p| p.latency.as_deref()),
                )
            });
            if let Some(tier) = tier {
                self.writer
                    .add_member("service_tier", &tier)
                    .map_err(serialize_failed)?;
            }
            if let Some(g) = &guardrail {
                self.writer
                    .add_member("bedrock_guardrail", g)
                    .map_err(serialize_failed)?;
            }
        }
        self.emit_delta(Delta::default(), Some(reason), out)?;
        self.finish_sent = true;
        Ok(())
    }

    fn tool_index(&self, block: u32) -> Option<u32> {
        self.tools
            .iter()
            .rev()
            .find(|(b, _)| *b == block)
            .map(|(_, i)| *i)
    }

    /// The `{role: "assistant", content: ""}` chunk OpenAI always opens with (for a legacy
    /// completion: the echoed prompt, if asked for, else nothing).
    fn ensure_role(&mut self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if self.role_sent {
            return Ok(());
        }
        self.role_sent = true;
        if let OutputFormat::Completion { echo } = &self.format {
            return match echo {
                Some(prompt) => self
                    .writer
                    .write(out, &[TextChoice::first(prompt.into(), None)], None)
                    .map_err(serialize_failed),
                None => Ok(()),
            };
        }
        let delta = Delta {
            role: Some(Cow::Borrowed("assistant")),
            content: Some(Cow::Borrowed("")),
            ..Delta::default()
        };
        self.emit_delta(delta, None, out)
    }

    fn emit_delta(
        &self,
        delta: Delta<'_>,
        finish: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let written = match self.format {
            // `ResponsesStream` writes those; a chat chunk if it ever came here.
            OutputFormat::Chat | OutputFormat::Responses { .. } => {
                self.writer
                    .write(out, &[ChunkChoice::first(delta, finish)], None)
            }
            // Text only: reasoning and tool-call deltas have no place in a text completion.
            OutputFormat::Completion { .. } => match (delta.content, finish) {
                (None, None) => return Ok(()),
                (text, finish) => self.writer.write(
                    out,
                    &[TextChoice::first(text.unwrap_or_default(), finish)],
                    None,
                ),
            },
        };
        written.map_err(serialize_failed)
    }

    /// The `choices: []` usage chunk, once, only after the finish chunk and only if asked for.
    fn emit_usage(&mut self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if !self.include_usage || self.usage_sent || !self.finish_sent {
            return Ok(());
        }
        let Some(mut usage) = self.usage.map(|u| u.to_openai()) else {
            return Ok(());
        };
        usage.server_tool_use = self.server_tools.to_openai();
        self.writer
            .write::<ChunkChoice<'_>>(out, &[], Some(&usage))
            .map_err(serialize_failed)?;
        self.usage_sent = true;
        Ok(())
    }

    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) {
        sse::write_error(out, error);
        self.error_type = Some(error.kind);
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_member_names_become_error_names() {
        assert_eq!(exception_name("throttlingException"), "ThrottlingException");
        assert_eq!(
            exception_name("ModelStreamErrorException"),
            "ModelStreamErrorException"
        );
        assert_eq!(exception_name(""), "");
        assert_eq!(
            ApiError::from_bedrock(&exception_name("modelStreamErrorException"), "x", 500).status,
            502
        );
    }
}
