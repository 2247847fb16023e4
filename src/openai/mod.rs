//! OpenAI wire types (chat completions). Field names are the wire names.

pub mod chunk;
