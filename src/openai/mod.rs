//! OpenAI wire types (chat completions, legacy completions, models and metadata). Field names
//! are the wire names.

pub mod chat;
pub mod chunk;
pub mod completion;
pub mod embeddings;
pub mod guardrail;
pub(crate) mod json;
pub mod models;
pub mod responses;
