//! ConverseStream bytes in → OpenAI SSE bytes out, with chunk boundaries anywhere.
//!
//! [`state`] holds the per-response state machine ([`StreamTranslator`]); [`sse`] writes the
//! `data:` events. Frame decoding is [`crate::event_stream`], event types are
//! [`crate::converse::stream`]. One state machine serves both streaming endpoints; the
//! [`OutputFormat`] decides what each chunk looks like.

pub mod responses;
pub mod sse;
pub mod state;

pub use responses::ResponsesStream;
pub use state::{StreamOptions, StreamTranslator};

use crate::error::ErrorType;
use crate::openai::responses::Echo;
use crate::translate::usage::TokenCounts;

use crate::openai::chunk::CHUNK_OBJECT;
use crate::openai::completion::TEXT_COMPLETION_OBJECT;

/// Which OpenAI object a response becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// `chat.completion` / `chat.completion.chunk` (`/v1/chat/completions`).
    #[default]
    Chat,
    /// `text_completion` (legacy `/v1/completions`): text only, no role, reasoning or tool
    /// deltas. `echo` is the prompt, sent before the generated text when the client asked.
    Completion { echo: Option<String> },
    /// A `response` object (`/v1/responses`), repeating the request fields in `echo`, its
    /// reasoning items with `encrypted_content` when `encrypted_reasoning`; streamed as the
    /// Responses events by [`ResponsesStream`].
    Responses {
        echo: Echo,
        encrypted_reasoning: bool,
    },
}

impl OutputFormat {
    /// `object` of streamed chunks.
    pub(crate) fn chunk_object(&self) -> &'static str {
        match self {
            Self::Chat => CHUNK_OBJECT,
            Self::Completion { .. } => TEXT_COMPLETION_OBJECT,
            // Not chunked: its events are written by `ResponsesStream`.
            Self::Responses { .. } => crate::openai::responses::RESPONSE_OBJECT,
        }
    }

    /// Prefix of the response id, as OpenAI's (`chatcmpl-…`, `cmpl-…`).
    pub fn id_prefix(&self) -> &'static str {
        match self {
            Self::Chat => "chatcmpl-",
            Self::Completion { .. } => "cmpl-",
            Self::Responses { .. } => "resp_",
        }
    }
}

/// The translator of one streamed answer: chat and legacy completions share one state
/// machine, the Responses API has its own event sequence.
#[derive(Debug)]
pub enum Streamer {
    Chat(StreamTranslator),
    Responses(ResponsesStream),
}

impl Streamer {
    /// Upstream body bytes in (any split); SSE bytes to send to the client now.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Chat(t) => t.feed(bytes),
            Self::Responses(t) => t.feed(bytes),
        }
    }

    /// Upstream body ended: the remaining SSE bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        match self {
            Self::Chat(t) => t.finish(),
            Self::Responses(t) => t.finish(),
        }
    }

    pub fn usage(&self) -> Option<TokenCounts> {
        match self {
            Self::Chat(t) => t.usage(),
            Self::Responses(t) => t.usage(),
        }
    }

    pub fn stop_reason(&self) -> Option<&str> {
        match self {
            Self::Chat(t) => t.stop_reason(),
            Self::Responses(t) => t.stop_reason(),
        }
    }

    pub fn error_type(&self) -> Option<ErrorType> {
        match self {
            Self::Chat(t) => t.error_type(),
            Self::Responses(t) => t.error_type(),
        }
    }

    /// The guardrail's action, when one was traced or intervened (the
    /// `x-bedrock-guardrail-action` trailer).
    pub fn guardrail_action(&self) -> Option<&'static str> {
        match self {
            Self::Chat(t) => t.guardrail_action(),
            Self::Responses(t) => t.guardrail_action(),
        }
    }

    pub fn is_finished(&self) -> bool {
        match self {
            Self::Chat(t) => t.is_finished(),
            Self::Responses(t) => t.is_finished(),
        }
    }

    pub fn buffered_len(&self) -> usize {
        match self {
            Self::Chat(t) => t.buffered_len(),
            Self::Responses(t) => t.buffered_len(),
        }
    }
}
