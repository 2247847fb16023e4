//! The binary `application/vnd.amazon.eventstream` codec: frames ([`frame`]), incremental
//! bounded decoding ([`decoder`]) and its errors ([`error`]). Knows nothing of Bedrock; routing
//! on `:message-type` lives in [`crate::converse::stream`].

pub mod decoder;
pub mod error;
pub mod frame;

pub use decoder::{Decoder, Frames, DEFAULT_MAX_FRAME_LEN};
pub use error::{Error, ErrorKind};
pub use frame::{encode, encode_to_vec, Header, HeaderValue, Headers, Message};

#[cfg(test)]
mod tests;
