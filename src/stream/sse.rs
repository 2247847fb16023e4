//! Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, an error event
//! in the `ErrorResponse` shape, and the `data: [DONE]\n\n` terminator.
//!
//! JSON is compact, so string newlines are escaped and each event is a single `data:` line.

use crate::error::ApiError;
use crate::openai::chunk::ChatCompletionChunk;

const DATA: &[u8] = b"data: ";
const END: &[u8] = b"\n\n";

/// The terminator OpenAI clients wait for after the last chunk.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Appends one chunk event, serialized straight into `out`. On error `out` is unchanged.
pub fn write_chunk(
    out: &mut Vec<u8>,
    chunk: &ChatCompletionChunk<'_>,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    out.extend_from_slice(DATA);
    if let Err(e) = serde_json::to_writer(&mut *out, chunk) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(END);
    Ok(())
}

/// Appends `data: {"error":{...}}`, the event OpenAI SDKs raise as an API error mid-stream.
pub fn write_error(out: &mut Vec<u8>, error: &ApiError) {
    out.extend_from_slice(DATA);
    out.extend_from_slice(&error.to_body());
    out.extend_from_slice(END);
}

pub fn write_done(out: &mut Vec<u8>) {
    out.extend_from_slice(DONE);
}
