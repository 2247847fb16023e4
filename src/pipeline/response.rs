//! Response phase: Bedrock's answer → the client's answer. Chosen once from the response
//! head: a stream is translated chunk by chunk; anything else is buffered and replaced whole.

use crate::converse::response::ErrorBody;
use crate::error::{ApiError, ErrorType};
use crate::headers::HeaderList;
use crate::stream::{OutputFormat, StreamOptions, StreamTranslator};
use crate::translate::response::{to_chat_completion, to_text_completion, ResponseMeta};
use crate::upstream::Exchange;

pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// `Retry-After` (seconds) added to a Bedrock 429 that did not say.
pub const UPSTREAM_RETRY_AFTER: &str = "1";

/// A response that did not come from Bedrock for a request the filter did not forward
/// (Envoy's own 413 when the buffered body overflows, a timeout while reading the body):
/// an error to rewrite in OpenAI's shape, unless it already is JSON.
pub fn envoy_local_reply(status: u16, content_type: Option<&str>) -> Option<ResponseHandler> {
    let json = content_type.is_some_and(|c| c.trim().starts_with("application/json"));
    (status >= 400 && !json).then_some(ResponseHandler::Error {
        status,
        error_type: None,
    })
}

/// The parts of Bedrock's response head the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    /// `x-amzn-errortype`, Bedrock's error name.
    pub error_type: Option<&'a str>,
}

/// How the response body is handled.
#[derive(Debug)]
pub enum ResponseHandler {
    /// Event stream → SSE, passed on chunk by chunk.
    Stream(Box<StreamTranslator>),
    /// A unary Converse answer: buffer, then replace with a `chat.completion`.
    Unary(ResponseMeta),
    /// A unary Converse answer to a legacy completion: replaced with a `text_completion`
    /// (`echo`: the prompt to put in front).
    UnaryText {
        meta: ResponseMeta,
        echo: Option<String>,
    },
    /// A Bedrock (or Envoy) error: buffer, then replace with an OpenAI error.
    Error {
        status: u16,
        error_type: Option<String>,
    },
}

/// The complete replacement for a buffered response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalBody {
    pub status: u16,
    pub body: Vec<u8>,
    /// Token usage, when the answer carried it.
    pub usage: Option<(u64, u64)>,
    /// Bedrock's `stopReason`, for a successful answer.
    pub stop_reason: Option<String>,
    /// The `error.type` when the replacement is an error.
    pub error_type: Option<ErrorType>,
    /// `x-bedrock-guardrail-action`, when a guardrail was traced or intervened.
    pub guardrail_action: Option<&'static str>,
}

#[derive(serde::Deserialize)]
struct StopReasonOnly {
    #[serde(rename = "stopReason")]
    stop_reason: Option<String>,
    #[serde(default)]
    trace: Option<serde_json::Value>,
}

impl ResponseHandler {
    /// Picks the handler. `id` is the completion id the client will see.
    pub fn new(ex: &Exchange, head: &ResponseHead<'_>, id: String, created: u64) -> Self {
        let is_stream = head
            .content_type
            .is_some_and(|c| c.trim().to_ascii_lowercase().starts_with(EVENT_STREAM));
        if head.status != 200 {
            return Self::Error {
                status: head.status,
                error_type: head.error_type.map(str::to_string),
            };
        }
        match (ex.stream, is_stream) {
            (true, true) => Self::Stream(Box::new(StreamTranslator::new(StreamOptions {
                id,
                model: ex.model.clone(),
                created,
                include_usage: ex.include_usage,
                output: ex.output.clone(),
                format: ex.format.clone(),
            }))),
            (false, false) => {
                let meta = ResponseMeta {
                    id,
                    created,
                    model: ex.model.clone(),
                    output: ex.output.clone(),
                };
                match &ex.format {
                    OutputFormat::Chat => Self::Unary(meta),
                    OutputFormat::Completion { echo } => Self::UnaryText {
                        meta,
                        echo: echo.clone(),
                    },
                }
            }
            // A 200 of the wrong kind: report it rather than pass foreign bytes to the client.
            _ => Self::Error {
                status: 200,
                error_type: None,
            },
        }
    }

    /// Whether the shell must buffer the whole body (and may still change status and headers).
    pub fn is_buffered(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }

    /// Builds the replacement of a buffered body (or the answer to a bodyless response).
    pub fn finish_buffered(&self, body: &[u8]) -> FinalBody {
        let result = match self {
            // Only reached for a stream that ended with its head: nothing to translate.
            Self::Stream(_) => Err(ApiError::bad_upstream(
                "Bedrock ended the stream before any event",
            )),
            Self::Unary(meta) => to_chat_completion(body, meta).and_then(|(c, u)| {
                serde_json::to_vec(&c)
                    .map(|b| (b, Some((u.prompt_tokens, u.completion_tokens))))
                    .map_err(|e| ApiError::internal(e.to_string()))
            }),
            Self::UnaryText { meta, echo } => to_text_completion(body, meta, echo.as_deref())
                .and_then(|(c, u)| {
                    serde_json::to_vec(&c)
                        .map(|b| (b, Some((u.prompt_tokens, u.completion_tokens))))
                        .map_err(|e| ApiError::internal(e.to_string()))
                }),
            Self::Error { status, error_type } => {
                Err(upstream_error(*status, error_type.as_deref(), body))
            }
        };
        match result {
            Ok((out, usage)) => {
                let answer = serde_json::from_slice::<StopReasonOnly>(body).ok();
                let (stop_reason, trace) =
                    answer.map_or((None, None), |a| (a.stop_reason, a.trace));
                let guardrail =
                    crate::translate::guardrail::summarise(stop_reason.as_deref(), trace.as_ref());
                FinalBody {
                    status: 200,
                    body: out,
                    usage,
                    stop_reason,
                    error_type: None,
                    guardrail_action: guardrail.map(|g| g.action),
                }
            }
            Err(e) => FinalBody {
                status: e.status,
                body: e.to_body(),
                usage: None,
                stop_reason: None,
                error_type: Some(e.kind),
                guardrail_action: None,
            },
        }
    }
}

/// The response head the client gets from an upstream answer: the model called, ignored
/// parameters, the request id and the limiter's headers, set through the checked path;
/// `content-length` goes, as the body is rewritten.
pub fn downstream_head(
    h: &mut HeaderList,
    ex: &Exchange,
    request_id: &str,
    limit_headers: &[(String, String)],
) {
    h.set("x-bedrock-model", &ex.bedrock_model);
    if !ex.ignored.is_empty() {
        h.set("x-bedrock-ignored-params", &ex.ignored.join(","));
    }
    h.set("x-request-id", request_id);
    h.remove("content-length");
    for (k, v) in limit_headers {
        h.set(k, v);
    }
}

/// Maps a non-200 (or wrong-kind 200) upstream answer to an OpenAI error, keeping Bedrock's
/// message. Envoy's own replies (connect failure, timeout) arrive here as plain text.
pub fn upstream_error(status: u16, error_type: Option<&str>, body: &[u8]) -> ApiError {
    if status == 200 {
        return ApiError::bad_upstream("Bedrock answered with an unexpected content type");
    }
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { message: Some(m) }) => m,
        _ => {
            let text = String::from_utf8_lossy(body);
            text.trim().chars().take(512).collect()
        }
    };
    match error_type {
        Some(t) => ApiError::from_bedrock(t, &message, status),
        None => {
            let mut e = ApiError::from_bedrock("", &message, status);
            if e.status == 503 && message.is_empty() {
                e.message = "Bedrock is unavailable".into();
            }
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(stream: bool) -> Exchange {
        Exchange {
            model: "gpt-4o".into(),
            bedrock_model: "b".into(),
            canonical_model: "b".into(),
            via_bedrock_model: false,
            stream,
            include_usage: false,
            format: OutputFormat::Chat,
            estimated_input_tokens: 1,
            ignored: Vec::new(),
            output: Default::default(),
        }
    }

    fn head(status: u16, ct: &str, et: Option<&str>) -> ResponseHandler {
        ResponseHandler::new(
            &ex(ct == EVENT_STREAM),
            &ResponseHead {
                status,
                content_type: Some(ct),
                error_type: et,
            },
            "id".into(),
            1,
        )
    }

    #[test]
    fn bedrock_errors_keep_their_message() {
        let h = head(429, "application/json", Some("ThrottlingException"));
        assert!(h.is_buffered());
        let f = h.finish_buffered(br#"{"message":"Too many requests, please wait"}"#);
        assert_eq!(f.status, 429);
        assert_eq!(f.error_type, Some(ErrorType::RateLimitError));
        let v: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["code"], "ThrottlingException");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Too many requests"));
    }

    #[test]
    fn envoy_local_replies_become_openai_errors() {
        let f = head(503, "text/plain", None)
            .finish_buffered(b"upstream connect error or disconnect/reset before headers");
        assert_eq!(f.status, 503);
        let v: serde_json::Value = serde_json::from_slice(&f.body).unwrap();
        assert_eq!(v["error"]["type"], "service_unavailable_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream connect error"));
        let t = head(504, "text/plain", None).finish_buffered(b"upstream request timeout");
        assert_eq!(t.status, 504);
        let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(v["error"]["type"], "timeout_error");
    }

    #[test]
    fn envoy_replies_without_an_exchange() {
        let h = envoy_local_reply(413, Some("text/plain")).unwrap();
        let f = h.finish_buffered(b"Payload Too Large");
        assert_eq!(f.status, 413);
        assert!(envoy_local_reply(200, Some("text/plain")).is_none());
        assert!(envoy_local_reply(404, Some("application/json")).is_none());
    }

    #[test]
    fn unary_success_and_wrong_kind() {
        let f = head(200, "application/json", None)
            .finish_buffered(br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#);
        assert_eq!((f.status, f.usage), (200, Some((1, 2))));
        assert_eq!(
            (f.stop_reason.as_deref(), f.error_type),
            (Some("end_turn"), None)
        );
        let wrong = ResponseHandler::new(
            &ex(true),
            &ResponseHead {
                status: 200,
                content_type: Some("application/json"),
                error_type: None,
            },
            "id".into(),
            1,
        );
        assert_eq!(wrong.finish_buffered(b"{}").status, 502);
        let s = head(200, EVENT_STREAM, None);
        assert!(!s.is_buffered());
    }
}
