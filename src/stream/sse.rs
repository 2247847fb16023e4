//! Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, an error event
//! in the `ErrorResponse` shape, and the `data: [DONE]\n\n` terminator.
//!
//! JSON is compact, so string newlines are escaped and each event is a single `data:` line.

use serde::Serialize;

use crate::error::ApiError;
use crate::openai::chunk::{ChatCompletionChunk, Usage, CHUNK_OBJECT};

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

/// Writes the chunks of one response. `id`, `object`, `created` and `model` are the same in
/// every chunk, so they are serialized once; per chunk only `choices` (and `usage`) are. The
/// bytes equal serializing a [`ChatCompletionChunk`] (tested below), or, with
/// [`ChunkWriter::with_object`] and `text_completion` choices, a streamed
/// [`crate::openai::completion::TextCompletion`].
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    /// `{"id":…,"object":…,"created":…,"model":…,"choices":[`
    prefix: Vec<u8>,
    /// Members after `usage`, learnt late in the stream (`,"service_tier":…`).
    suffix: Vec<u8>,
}

impl ChunkWriter {
    /// A writer of `chat.completion.chunk`s.
    pub fn new(id: &str, created: u64, model: &str) -> Self {
        Self::with_object(CHUNK_OBJECT, id, created, model)
    }

    /// A writer of chunks with another `object` (e.g. `text_completion`).
    pub fn with_object(object: &str, id: &str, created: u64, model: &str) -> Self {
        // `Value`'s `Display` is the infallible way to get an escaped JSON string.
        let json_str = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let prefix = format!(
            r#"{{"id":{},"object":{},"created":{created},"model":{},"choices":["#,
            json_str(id),
            json_str(object),
            json_str(model),
        );
        Self {
            prefix: prefix.into_bytes(),
            suffix: Vec::new(),
        }
    }

    /// Adds a top-level member to every chunk written from now on.
    pub fn add_member<T: Serialize>(
        &mut self,
        name: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        let mut member = serde_json::to_vec(name)?;
        member.push(b':');
        serde_json::to_writer(&mut member, value)?;
        self.suffix.push(b',');
        self.suffix.extend_from_slice(&member);
        Ok(())
    }

    /// Appends one chunk event; `choices` are the endpoint's choice objects. On error `out`
    /// is unchanged.
    pub fn write<C: Serialize>(
        &self,
        out: &mut Vec<u8>,
        choices: &[C],
        usage: Option<&Usage>,
    ) -> Result<(), serde_json::Error> {
        let start = out.len();
        let result = self.write_inner(out, choices, usage);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn write_inner<C: Serialize>(
        &self,
        out: &mut Vec<u8>,
        choices: &[C],
        usage: Option<&Usage>,
    ) -> Result<(), serde_json::Error> {
        out.extend_from_slice(DATA);
        out.extend_from_slice(&self.prefix);
        for (i, choice) in choices.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, choice)?;
        }
        out.push(b']');
        if let Some(usage) = usage {
            out.extend_from_slice(br#","usage":"#);
            serde_json::to_writer(&mut *out, usage)?;
        }
        out.extend_from_slice(&self.suffix);
        out.push(b'}');
        out.extend_from_slice(END);
        Ok(())
    }
}

/// Appends `data: {"error":{...}}`, the event OpenAI SDKs raise as an API error mid-stream.
pub(crate) fn write_error(out: &mut Vec<u8>, error: &ApiError) {
    out.extend_from_slice(DATA);
    out.extend_from_slice(&error.to_body());
    out.extend_from_slice(END);
}

pub(crate) fn write_done(out: &mut Vec<u8>) {
    out.extend_from_slice(DONE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::chunk::{ChunkChoice, Delta, FunctionChunk, ToolCallChunk};
    use crate::openai::completion::{TextChoice, TextCompletion, TEXT_COMPLETION_OBJECT};

    #[test]
    fn text_completion_chunks_equal_serde_serialization() {
        let w = ChunkWriter::with_object(TEXT_COMPLETION_OBJECT, "cmpl-\"1", 3, "m");
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            prompt_tokens_details: Some(crate::openai::chunk::PromptTokensDetails {
                cached_tokens: 1,
                cache_write_tokens: 0,
                cache_creation_tokens: 0,
            }),
            server_tool_use: None,
        };
        for (choices, u) in [
            (vec![TextChoice::first("a\n\"b".into(), None)], None),
            (vec![TextChoice::first("".into(), Some("length"))], None),
            (vec![], Some(&usage)),
        ] {
            let mut got = Vec::new();
            w.write(&mut got, &choices, u).unwrap();
            let want = TextCompletion {
                id: "cmpl-\"1".into(),
                object: TEXT_COMPLETION_OBJECT,
                created: 3,
                model: "m".into(),
                choices,
                usage: u.cloned(),
            };
            let want = format!("data: {}\n\n", serde_json::to_string(&want).unwrap());
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }

    #[test]
    fn chunk_writer_equals_serde_serialization() {
        let choices = [
            vec![],
            vec![ChunkChoice::first(Delta::default(), Some("stop"))],
            vec![ChunkChoice::first(
                Delta {
                    content: Some("a \"quoted\"\nline \u{2028} é".into()),
                    reasoning_content: Some("r".into()),
                    tool_calls: Some(vec![ToolCallChunk {
                        index: 3,
                        id: Some("t".into()),
                        kind: Some("function".into()),
                        function: FunctionChunk {
                            name: Some("f".into()),
                            arguments: Some("{\"x\":1}".into()),
                        },
                    }]),
                    ..Delta::default()
                },
                None,
            )],
            vec![
                ChunkChoice::first(Delta::default(), None),
                ChunkChoice::first(Delta::default(), Some("length")),
            ],
        ];
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
            prompt_tokens_details: Some(crate::openai::chunk::PromptTokensDetails {
                cached_tokens: 1,
                cache_write_tokens: 0,
                cache_creation_tokens: 0,
            }),
            server_tool_use: None,
        };
        for (id, model) in [("chatcmpl-1", "m"), ("we\"ird\\id\u{1}", "modèle/📦:v1")] {
            let w = ChunkWriter::new(id, 1_700_000_000, model);
            for c in &choices {
                for u in [None, Some(&usage)] {
                    let mut chunk = ChatCompletionChunk::new(id, 1_700_000_000, model, c.clone());
                    chunk.usage = u.cloned();
                    let mut want = Vec::new();
                    write_chunk(&mut want, &chunk).unwrap();
                    let mut got = b"kept".to_vec();
                    w.write(&mut got, c, u).unwrap();
                    assert_eq!(
                        String::from_utf8_lossy(&got[4..]),
                        String::from_utf8_lossy(&want)
                    );
                }
            }
        }
    }

    #[test]
    fn error_and_done_events() {
        let mut out = Vec::new();
        write_error(&mut out, &ApiError::bad_upstream("bad"));
        write_done(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"error\":{\"message\":\"bad\",\"type\":\"upstream_error\",\"param\":null,\"code\":\"bad_upstream_response\"}}\n\ndata: [DONE]\n\n"
        );
    }
}
