//! ConverseStream bytes in → OpenAI SSE bytes out, with chunk boundaries anywhere.
//!
//! [`state`] holds the per-response state machine ([`StreamTranslator`]); [`sse`] writes the
//! `data:` events. Frame decoding is [`crate::event_stream`], event types are
//! [`crate::converse::stream`]. One state machine serves both streaming endpoints; the
//! [`OutputFormat`] decides what each chunk looks like.

pub mod sse;
pub mod state;

pub use state::{StreamOptions, StreamTranslator};

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
}

impl OutputFormat {
    /// `object` of streamed chunks.
    pub(crate) fn chunk_object(&self) -> &'static str {
        match self {
            Self::Chat => CHUNK_OBJECT,
            Self::Completion { .. } => TEXT_COMPLETION_OBJECT,
        }
    }

    /// Prefix of the response id, as OpenAI's (`chatcmpl-…`, `cmpl-…`).
    pub fn id_prefix(&self) -> &'static str {
        match self {
            Self::Chat => "chatcmpl-",
            Self::Completion { .. } => "cmpl-",
        }
    }
}
