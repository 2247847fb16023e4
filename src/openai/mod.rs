//! OpenAI wire types (chat completions). Field names are the wire names.

pub mod chat;
pub mod chunk;
