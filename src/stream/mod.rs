//! ConverseStream bytes in → OpenAI SSE bytes out, with chunk boundaries anywhere.
//!
//! [`state`] holds the per-response state machine ([`StreamTranslator`]); [`sse`] writes the
//! `data:` events. Frame decoding is [`crate::event_stream`], event types are
//! [`crate::converse::stream`].

pub mod sse;
pub mod state;

pub use state::{StreamOptions, StreamTranslator};
