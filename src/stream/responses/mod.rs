//! ConverseStream events → the Responses API's event stream (`event: <type>` and
//! `data: <json>` per event, each with its `sequence_number`).
//!
//! Order on the wire, as OpenAI sends it and the SDKs check it: `response.created`,
//! `response.in_progress`; per content block an `output_item.added` (and for a message a
//! `content_part.added`, for reasoning a `reasoning_summary_part.added`), its deltas, then
//! the `.done` events and `output_item.done` when the block stops; at the end
//! `response.completed` or `response.incomplete` with every item and the usage. Anything that
//! goes wrong becomes an `error` event then `response.failed`, after which the stream is over.
//!
//! Reasoning blocks stream their text as the summary; with `include:
//! ["reasoning.encrypted_content"]` the block's signature deltas (and redacted blocks, which
//! have no text) are collected, and the item in `output_item.done` and in the final response
//! carries them sealed in `encrypted_content` ([`crate::openai::responses::seal_reasoning`]).
//! The guardrail's action, when the `metadata` event traces one, is kept for the trailer.
//!
//! Unlike the chat stream, the `.done` events and the final response repeat what was
//! streamed, so the text of the open block and the finished items are kept: memory grows
//! with the answer (bounded by the output token limit), not with the input.

use serde_json::{json, Value};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::converse::stream::{
    ContentBlockDeltaEvent, ContentBlockStartEvent, ReasoningContentBlockDelta, StreamEvent,
};
use crate::error::{ApiError, ErrorType};
use crate::event_stream::{Decoder, Message};
use crate::openai::responses::{
    Echo, IncompleteDetails, OutputItem, OutputText, ResponseError, ResponseObject, SummaryText,
    RESPONSE_OBJECT,
};
use crate::stream::state::read_event;
use crate::translate::responses::response::item_id;
use crate::translate::responses::{incomplete_reason, ResponseContext};
use crate::translate::stop_reason::{finish_reason, Finish};
use crate::translate::tools::OutputMode;
use crate::translate::usage::TokenCounts;
use block::{item_of, sealed, Kind, Open};

mod block;

/// Translates one streamed response. Feed it upstream body bytes as they come.
#[derive(Debug)]
pub struct ResponsesStream {
    decoder: Decoder,
    state: State,
}

#[derive(Debug)]
struct State {
    id: String,
    model: String,
    created: u64,
    echo: Echo,
    output: OutputMode,
    sequence: u64,
    started: bool,
    open: Vec<Open>,
    /// Finished items with their `output_index`.
    items: Vec<(usize, OutputItem)>,
    next_index: usize,
    /// Messages and reasoning items opened, for their ids.
    messages: usize,
    reasonings: usize,
    stop_reason: Option<String>,
    /// The chat `finish_reason` once `messageStop` is seen.
    finish: Option<&'static str>,
    usage: Option<TokenCounts>,
    finished: bool,
    error_type: Option<ErrorType>,
    /// Reasoning items carry `encrypted_content`.
    encrypted_reasoning: bool,
    /// `x-bedrock-guardrail-action`, once known.
    guardrail: Option<&'static str>,
}

impl ResponsesStream {
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            decoder: Decoder::new(),
            state: State {
                id: ctx.id,
                model: ctx.model,
                created: ctx.created,
                echo: ctx.echo,
                output: ctx.output,
                sequence: 0,
                started: false,
                open: Vec::new(),
                items: Vec::new(),
                next_index: 0,
                messages: 0,
                reasonings: 0,
                stop_reason: None,
                finish: None,
                usage: None,
                finished: false,
                error_type: None,
                encrypted_reasoning: ctx.encrypted_reasoning,
                guardrail: None,
            },
        }
    }

    /// Upstream body bytes in (any split); SSE bytes to send to the client now (may be empty).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.finished {
            return out;
        }
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
            self.decoder = Decoder::new();
        }
        out
    }

    /// Upstream body ended: the terminal event if still owed, or an error if cut short.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.state.finished {
            return out;
        }
        let pending = self.decoder.buffered_len();
        let result = if pending > 0 {
            Err(ApiError::bad_upstream(format!(
                "Bedrock's event stream ended inside a frame ({pending} bytes of it received)"
            )))
        } else if self.state.finish.is_none() {
            Err(ApiError::bad_upstream(
                "Bedrock's event stream ended before messageStop",
            ))
        } else {
            self.state.complete(&mut out)
        };
        if let Err(e) = result {
            self.state.fail(&e, &mut out);
        }
        self.decoder = Decoder::new();
        out
    }

    /// Bytes of an unfinished upstream frame held between `feed` calls.
    pub fn buffered_len(&self) -> usize {
        self.decoder.buffered_len()
    }

    pub fn usage(&self) -> Option<TokenCounts> {
        self.state.usage
    }

    pub fn stop_reason(&self) -> Option<&str> {
        self.state.stop_reason.as_deref()
    }

    pub fn error_type(&self) -> Option<ErrorType> {
        self.state.error_type
    }

    /// The guardrail's action (`INTERVENED` / `NONE`), when one was traced or intervened.
    pub fn guardrail_action(&self) -> Option<&'static str> {
        self.state.guardrail
    }

    /// True once the stream has terminated (completed, incomplete or failed).
    pub fn is_finished(&self) -> bool {
        self.state.finished
    }
}

fn serialize_failed(e: serde_json::Error) -> ApiError {
    ApiError::internal(format!("could not serialize a stream event: {e}"))
}

impl State {
    fn on_message(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let Some(event) = read_event(msg)? else {
            return Ok(());
        };
        self.start(out)?;
        match event {
            StreamEvent::MessageStart(_) => Ok(()),
            StreamEvent::ContentBlockStart(e) => self.on_block_start(e, out),
            StreamEvent::ContentBlockDelta(e) => self.on_block_delta(e, out),
            StreamEvent::ContentBlockStop(e) => self.close(e.content_block_index, out),
            StreamEvent::MessageStop(e) => {
                if self.finish.is_some() {
                    return Ok(());
                }
                let stop = e.stop_reason;
                self.stop_reason = Some(stop.to_string());
                let finish = match finish_reason(&stop) {
                    Finish::Reason(r) => r,
                    Finish::Error => {
                        return Err(ApiError::bad_upstream(format!(
                            "the model stopped with `{stop}`"
                        ))
                        .with_code(stop))
                    }
                };
                self.finish = Some(finish);
                while let Some(block) = self.open.first().map(|o| o.block) {
                    self.close(block, out)?;
                }
                Ok(())
            }
            StreamEvent::Metadata(m) => {
                self.usage = Some(TokenCounts::from_bedrock(&m.usage));
                self.guardrail = crate::translate::guardrail::summarise(
                    self.stop_reason.as_deref(),
                    m.trace.as_ref(),
                )
                .map(|g| g.action);
                match self.finish {
                    Some(_) => self.complete(out),
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes one event: `event: <type>` and its JSON with the next `sequence_number`.
    fn emit(&mut self, kind: &str, mut body: Value, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if let Value::Object(m) = &mut body {
            m.insert("type".into(), Value::String(kind.into()));
            m.insert("sequence_number".into(), json!(self.sequence));
        }
        let data = serde_json::to_vec(&body).map_err(serialize_failed)?;
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    /// The `response` object as it stands, with `status`.
    fn snapshot(&mut self, status: &'static str, error: Option<ResponseError>) -> Value {
        self.items.sort_by_key(|(i, _)| *i);
        let output: Vec<OutputItem> = self.items.iter().map(|(_, item)| item.clone()).collect();
        let incomplete = (status == "incomplete")
            .then(|| self.finish.and_then(incomplete_reason))
            .flatten()
            .map(|reason| IncompleteDetails { reason });
        let done = matches!(status, "completed" | "incomplete");
        let r = ResponseObject {
            id: &self.id,
            object: RESPONSE_OBJECT,
            created_at: self.created,
            status,
            error,
            incomplete_details: incomplete,
            model: &self.model,
            output: &output,
            usage: done.then(|| self.usage.unwrap_or_default().to_responses()),
            echo: &self.echo,
        };
        serde_json::to_value(&r).unwrap_or(Value::Null)
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            let response = self.snapshot("in_progress", None);
            self.emit(kind, json!({ "response": response }), out)?;
        }
        Ok(())
    }

    /// A toolUse block opens: a function call, the JSON answer (a message), or dropped.
    fn on_block_start(
        &mut self,
        e: ContentBlockStartEvent<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let Some(tool) = e.start.tool_use else {
            return Ok(());
        };
        let kind = if self.output.is_json_tool(&tool.name) {
            Kind::Message
        } else if self.output.is_client_tool(&tool.name) {
            let (namespace, name) = self.echo.split_tool_name(&tool.name);
            Kind::Call {
                call_id: tool.tool_use_id.to_string(),
                namespace,
                name,
            }
        } else {
            Kind::Dropped
        };
        self.open_block(e.content_block_index, kind, out)
    }

    fn open_block(&mut self, block: u32, kind: Kind, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let item_id = match &kind {
            Kind::Message => {
                self.messages += 1;
                item_id("msg", &self.id, self.messages - 1)
            }
            Kind::Reasoning | Kind::Redacted => {
                self.reasonings += 1;
                item_id("rs", &self.id, self.reasonings - 1)
            }
            Kind::Call { call_id, .. } => format!("fc_{call_id}"),
            Kind::Dropped => String::new(),
        };
        let output_index = self.next_index;
        let open = Open {
            block,
            output_index,
            item_id,
            kind,
            text: String::new(),
            signature: String::new(),
            redacted: Vec::new(),
        };
        if open.kind != Kind::Dropped {
            self.next_index += 1;
            let item = item_of(&open, "in_progress", true, None);
            self.emit(
                "response.output_item.added",
                json!({"output_index": output_index, "item": item}),
                out,
            )?;
            let (id, i) = (open.item_id.clone(), output_index);
            match open.kind {
                Kind::Message => self.emit(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "part": OutputText::new(String::new())}),
                    out,
                )?,
                Kind::Reasoning => self.emit(
                    "response.reasoning_summary_part.added",
                    json!({"item_id": id, "output_index": i, "summary_index": 0,
                           "part": SummaryText::new(String::new())}),
                    out,
                )?,
                _ => {}
            }
        }
        self.open.push(open);
        Ok(())
    }

    /// Text, reasoning text or tool input for a block (opened here if it had no start).
    fn on_block_delta(
        &mut self,
        e: ContentBlockDeltaEvent<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        let block = e.content_block_index;
        let d = e.delta;
        let (piece, wanted) = match (d.text, d.reasoning_content, d.tool_use) {
            (Some(t), _, _) => (t, Kind::Message),
            (None, Some(r), _) => match self.on_reasoning(block, *r, out)? {
                Some(text) => (text, Kind::Reasoning),
                None => return Ok(()),
            },
            (None, None, Some(t)) => (t.input, Kind::Dropped),
            // Citations: nothing to stream.
            (None, None, None) => return Ok(()),
        };
        if !self.open.iter().any(|o| o.block == block) {
            if wanted == Kind::Dropped {
                return Err(ApiError::bad_upstream(format!(
                    "Bedrock sent tool input for content block {block} without a toolUse start"
                )));
            }
            self.open_block(block, wanted, out)?;
        }
        let Some(open) = self.open.iter_mut().find(|o| o.block == block) else {
            return Ok(());
        };
        open.text.push_str(&piece);
        let (id, i) = (open.item_id.clone(), open.output_index);
        match open.kind {
            Kind::Message => self.emit(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": i, "content_index": 0,
                       "delta": piece, "logprobs": []}),
                out,
            ),
            Kind::Reasoning => self.emit(
                "response.reasoning_summary_text.delta",
                json!({"item_id": id, "output_index": i, "summary_index": 0, "delta": piece}),
                out,
            ),
            Kind::Call { .. } => self.emit(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": i, "delta": piece}),
                out,
            ),
            Kind::Dropped | Kind::Redacted => Ok(()),
        }
    }

    /// A reasoning delta: its text to stream, if any. A signature or redacted bytes are kept
    /// on the block for `encrypted_content` (when asked for; the block opens if it had not).
    fn on_reasoning<'a>(
        &mut self,
        block: u32,
        r: ReasoningContentBlockDelta<'a>,
        out: &mut Vec<u8>,
    ) -> Result<Option<std::borrow::Cow<'a, str>>, ApiError> {
        if r.text.is_some() || !self.encrypted_reasoning {
            return Ok(r.text);
        }
        let kind = if r.redacted_content.is_some() {
            Kind::Redacted
        } else {
            Kind::Reasoning
        };
        if !self.open.iter().any(|o| o.block == block) {
            self.open_block(block, kind, out)?;
        }
        let Some(open) = self.open.iter_mut().find(|o| o.block == block) else {
            return Ok(None);
        };
        match (&open.kind, r.signature, r.redacted_content) {
            (Kind::Reasoning, Some(sig), _) => open.signature.push_str(&sig),
            (Kind::Redacted, _, Some(data)) => {
                let bytes = STANDARD.decode(data.as_bytes()).map_err(|_| {
                    ApiError::bad_upstream(format!(
                        "Bedrock sent redacted reasoning for content block {block} that is not base64"
                    ))
                })?;
                open.redacted.extend(bytes);
            }
            _ => {}
        }
        Ok(None)
    }

    /// A block stops: its `.done` events and `output_item.done`; the item is kept.
    fn close(&mut self, block: u32, out: &mut Vec<u8>) -> Result<(), ApiError> {
        let Some(pos) = self.open.iter().position(|o| o.block == block) else {
            return Ok(());
        };
        let mut open = self.open.remove(pos);
        if let Kind::Call { .. } = open.kind {
            if open.text.trim().is_empty() {
                open.text = "{}".into();
            }
        }
        let (id, i) = (open.item_id.clone(), open.output_index);
        match &open.kind {
            Kind::Message => {
                let text = &open.text;
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "text": text, "logprobs": []}),
                    out,
                )?;
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": i, "content_index": 0,
                           "part": OutputText::new(text.clone())}),
                    out,
                )?;
            }
            Kind::Reasoning => {
                let text = &open.text;
                self.emit(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0, "text": text}),
                    out,
                )?;
                self.emit(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": i, "summary_index": 0,
                           "part": SummaryText::new(text.clone())}),
                    out,
                )?;
            }
            Kind::Call { name, .. } => self.emit(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": i, "name": name, "arguments": open.text}),
                out,
            )?,
            Kind::Redacted => {}
            Kind::Dropped => return Ok(()),
        }
        let cut = self.finish.and_then(incomplete_reason).is_some();
        let status = if cut && open.kind == Kind::Message {
            "incomplete"
        } else {
            "completed"
        };
        let sealed = self.encrypted_reasoning.then(|| sealed(&open)).flatten();
        let item = item_of(&open, status, false, sealed);
        self.emit(
            "response.output_item.done",
            json!({"output_index": i, "item": item}),
            out,
        )?;
        self.items.push((i, item));
        Ok(())
    }

    /// `response.completed`, or `response.incomplete` when the answer was cut short.
    fn complete(&mut self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if self.finished {
            return Ok(());
        }
        let status = match self.finish.and_then(incomplete_reason) {
            Some(_) => "incomplete",
            None => "completed",
        };
        if self.guardrail.is_none() {
            self.guardrail =
                crate::translate::guardrail::summarise(self.stop_reason.as_deref(), None)
                    .map(|g| g.action);
        }
        let response = self.snapshot(status, None);
        self.emit(
            &format!("response.{status}"),
            json!({ "response": response }),
            out,
        )?;
        self.finished = true;
        Ok(())
    }

    /// An `error` event then `response.failed` (after `response.created`, which the SDKs
    /// expect first); nothing more is sent.
    fn fail(&mut self, error: &ApiError, out: &mut Vec<u8>) {
        self.error_type = Some(error.kind);
        self.finished = true;
        let code = match error.kind {
            ErrorType::RateLimitError => "rate_limit_exceeded",
            _ => "server_error",
        };
        let _ = self.start(out);
        let _ = self.emit(
            "error",
            json!({"code": error.code.clone().unwrap_or_else(|| code.into()),
                   "message": error.message, "param": error.param}),
            out,
        );
        let failure = ResponseError {
            code,
            message: error.message.clone(),
        };
        let response = self.snapshot("failed", Some(failure));
        let _ = self.emit("response.failed", json!({ "response": response }), out);
    }
}
