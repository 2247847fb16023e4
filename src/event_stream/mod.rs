//! The binary `application/vnd.amazon.eventstream` frame decoder.
