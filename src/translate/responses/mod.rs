//! `/v1/responses` ↔ Converse. The request becomes the chat request it means (instructions
//! as a system message, items as turns), so the chat translator's rules for messages,
//! tools, JSON output, sampling and reasoning apply unchanged; the unary answer is read by
//! the chat reader and reshaped into a `response` object. The stream has its own state
//! machine, [`crate::stream::responses`].

pub mod request;
pub mod response;

pub use request::to_chat_request;
pub use response::{incomplete_reason, to_response, ResponseContext};
