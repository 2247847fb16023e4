//! OpenAI API → Amazon Bedrock Converse, as an Envoy proxy-wasm filter.
//!
//! Everything outside `filter` is the pure core: no proxy-wasm import, tested natively with
//! `cargo test`. Data flows request → upstream → response/stream:
//!
//! - [`openai`] / [`converse`]: wire types of the two APIs.
//! - [`translate`]: OpenAI request → Converse request, Converse response → OpenAI response.
//! - [`event_stream`]: the binary `application/vnd.amazon.eventstream` decoder.
//! - [`stream`]: ConverseStream events → OpenAI SSE, chunk boundaries anywhere.
//! - [`error`]: every failure as an HTTP status plus OpenAI error body.

pub mod converse;
pub mod error;
pub mod event_stream;
pub mod openai;
pub mod stream;
pub mod translate;

#[cfg(target_arch = "wasm32")]
mod filter;
