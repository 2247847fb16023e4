//! OpenAI ↔ Converse translation: requests one way, unary responses the other.
//! Streaming responses are translated in [`crate::stream`].

pub mod citations;
pub mod embeddings;
pub mod guardrail;
pub mod policy;
pub mod request;
pub mod response;
pub mod responses;
pub mod service_tier;
pub mod stop_reason;
pub mod tools;
pub mod usage;
