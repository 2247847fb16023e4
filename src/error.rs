//! The one error type every layer ends in: an HTTP status plus OpenAI's error body
//! `{"error":{"message","type","param","code"}}` (OpenAPI `ErrorResponse`).
//!
//! Bedrock's error names (`x-amzn-errortype`, or `:exception-type` in a stream) are mapped here
//! and only here, so unary and streaming responses agree on status and `type`. The filter's
//! own refusals are made here too: every layer picks a constructor (`invalid_param`,
//! `service_unavailable`, …), never a status and a type of its own, so which status goes
//! with which `type` is decided in this file alone.

use serde::Serialize;

/// OpenAI's `error.type` values we emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    PermissionError,
    NotFoundError,
    RateLimitError,
    TimeoutError,
    UpstreamError,
    ServiceUnavailableError,
    ServerError,
}

impl ErrorType {
    /// The wire name (`rate_limit_error`), also used in metric names and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequestError => "invalid_request_error",
            Self::AuthenticationError => "authentication_error",
            Self::PermissionError => "permission_error",
            Self::NotFoundError => "not_found_error",
            Self::RateLimitError => "rate_limit_error",
            Self::TimeoutError => "timeout_error",
            Self::UpstreamError => "upstream_error",
            Self::ServiceUnavailableError => "service_unavailable_error",
            Self::ServerError => "server_error",
        }
    }
}

/// An error answered to the client in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub kind: ErrorType,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: ErrorType,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    fn new(status: u16, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    /// 400 `invalid_request_error` naming the offending request field.
    pub(crate) fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, message).with_param(param)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorType::AuthenticationError, message).with_code("invalid_api_key")
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorType::InvalidRequestError, message).with_code("unknown_url")
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, ErrorType::InvalidRequestError, message).with_code("method_not_allowed")
    }

    /// 413: the request body is over `max_request_body_bytes`.
    pub(crate) fn payload_too_large(limit: u64) -> Self {
        Self::new(
            413,
            ErrorType::InvalidRequestError,
            format!("The request body is larger than the limit of {limit} bytes."),
        )
        .with_code("request_too_large")
    }

    /// 415: a POST whose body is not JSON.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            ErrorType::InvalidRequestError,
            format!(
                "Unsupported content type `{}`; send `Content-Type: application/json`.",
                crate::headers::printable(content_type, 100)
            ),
        )
        .with_code("unsupported_media_type")
    }

    /// 415 for a `content-encoding` other than `identity`: the body must be read to be
    /// translated, and a compressed one is never forwarded.
    pub(crate) fn unsupported_encoding() -> Self {
        Self::new(
            415,
            ErrorType::InvalidRequestError,
            "Compressed request bodies are not supported: send the JSON body without `content-encoding`.",
        )
        .with_param("content-encoding")
        .with_code("unsupported_media_type")
    }

    /// 403: the caller's tenant may not use this model.
    pub(crate) fn model_not_allowed(model: &str) -> Self {
        Self::new(
            403,
            ErrorType::PermissionError,
            format!("Your API key may not use the model `{model}`."),
        )
        .with_param("model")
        .with_code("model_not_allowed")
    }

    /// 404 `model_not_found`, as OpenAI answers an unknown model.
    pub(crate) fn model_not_found(id: &str) -> Self {
        Self::new(
            404,
            ErrorType::InvalidRequestError,
            format!("The model `{id}` does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    /// 404 `not_found_error` for a named thing that does not exist (a tenant).
    pub(crate) fn no_such(message: impl Into<String>) -> Self {
        Self::new(404, ErrorType::NotFoundError, message)
    }

    /// 403 `permission_error`: the caller is known but not allowed in.
    pub(crate) fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(403, ErrorType::PermissionError, message)
    }

    /// 503 for a dependency the filter cannot reach yet (STS, the credentials source): the
    /// client may retry.
    pub(crate) fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, ErrorType::ServiceUnavailableError, message)
    }

    /// 503 `limit_store_unavailable`: fleet mode's store (limits, usage) cannot be reached
    /// and `fleet.on_store_failure` is `closed`.
    pub(crate) fn limit_store_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, ErrorType::ServiceUnavailableError, message)
            .with_code("limit_store_unavailable")
    }

    /// 504 `timeout_error`: a call to Bedrock got no answer in time (as Envoy's own 504).
    pub fn upstream_timeout(message: impl Into<String>) -> Self {
        Self::new(504, ErrorType::TimeoutError, message)
    }

    /// 403 for an operation the tenant may not perform (another tenant's usage).
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, ErrorType::PermissionError, message).with_code("forbidden")
    }

    /// 429 from the filter's own limiter.
    pub(crate) fn rate_limited(what: &str, limit: u64, retry_after_secs: u64) -> Self {
        Self::new(
            429,
            ErrorType::RateLimitError,
            format!(
                "Rate limit reached: {limit} {what} per minute. Please try again in {retry_after_secs}s."
            ),
        )
        .with_code(format!("rate_limit_exceeded_{what}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorType::ServerError, message)
    }

    /// 502 for an upstream answer we cannot make sense of (bad JSON, corrupt frame).
    pub(crate) fn bad_upstream(message: impl Into<String>) -> Self {
        Self::new(502, ErrorType::UpstreamError, message).with_code("bad_upstream_response")
    }

    pub(crate) fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub(crate) fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Maps a Bedrock error name (`ThrottlingException`, or the bare `Throttling` some
    /// gateways send; written as [`bedrock_error_name`] reads it) to status and type.
    /// Bedrock's own name is kept in `code` so clients can still tell them apart.
    /// `upstream_status` is used for names we do not know.
    pub fn from_bedrock(error_name: &str, message: &str, upstream_status: u16) -> Self {
        let name = bedrock_error_name(error_name);
        let short = name.strip_suffix("Exception").unwrap_or(name);
        let (status, kind) = match short {
            "Validation" => (400, ErrorType::InvalidRequestError),
            "AccessDenied"
            | "UnrecognizedClient"
            | "InvalidSignature"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "ExpiredToken" => (403, ErrorType::PermissionError),
            "ResourceNotFound" => (404, ErrorType::NotFoundError),
            "Throttling" | "ServiceQuotaExceeded" | "ModelNotReady" | "TooManyRequests" => {
                (429, ErrorType::RateLimitError)
            }
            "ModelTimeout" => (408, ErrorType::TimeoutError),
            "ModelError" | "ModelStreamError" => (502, ErrorType::UpstreamError),
            "ServiceUnavailable" => (503, ErrorType::ServiceUnavailableError),
            "InternalServer" | "InternalServerError" => (500, ErrorType::ServerError),
            _ => match upstream_status {
                400 | 422 => (400, ErrorType::InvalidRequestError),
                413 => (413, ErrorType::InvalidRequestError),
                401 | 403 => (403, ErrorType::PermissionError),
                404 => (404, ErrorType::NotFoundError),
                408 => (408, ErrorType::TimeoutError),
                429 => (429, ErrorType::RateLimitError),
                503 => (503, ErrorType::ServiceUnavailableError),
                504 => (504, ErrorType::TimeoutError),
                s if (400..500).contains(&s) => (400, ErrorType::InvalidRequestError),
                _ => (502, ErrorType::UpstreamError),
            },
        };
        let name = if name.is_empty() {
            format!("HTTP{upstream_status}")
        } else {
            name.to_string()
        };
        let message = if message.is_empty() {
            format!("Bedrock returned {name}")
        } else {
            format!("{name}: {message}")
        };
        Self::new(status, kind, message).with_code(name)
    }

    /// The JSON body OpenAI clients parse.
    pub fn to_body(&self) -> Vec<u8> {
        let body = Body {
            error: Inner {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        // Serialising plain strings and an enum cannot fail; fall back to a constant anyway.
        serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#
                .to_vec()
        })
    }
}

/// Longest error name repeated to the client.
const MAX_ERROR_NAME: usize = 100;

/// The bare name in an AWS error type, stripped as botocore strips it: what precedes a `:`
/// (`ThrottlingException:http://internal.amazon.com/coral/...`), then what follows the last
/// `#` (`com.amazon.bedrock#ThrottlingException`). Empty unless it is 1-100 characters of
/// `[A-Za-z0-9_.-]`: the name comes from upstream and is repeated in `code` and the message.
pub fn bedrock_error_name(raw: &str) -> &str {
    let before_colon = raw.split(':').next().unwrap_or("");
    let name = before_colon.rsplit('#').next().unwrap_or("").trim();
    let ok = name.len() <= MAX_ERROR_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        name
    } else {
        ""
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}: {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_names_map_to_status_and_type() {
        let cases = [
            ("ValidationException", 400, ErrorType::InvalidRequestError),
            ("AccessDeniedException", 403, ErrorType::PermissionError),
            ("ResourceNotFoundException", 404, ErrorType::NotFoundError),
            ("ThrottlingException", 429, ErrorType::RateLimitError),
            (
                "ServiceQuotaExceededException",
                429,
                ErrorType::RateLimitError,
            ),
            ("ModelNotReadyException", 429, ErrorType::RateLimitError),
            ("ModelTimeoutException", 408, ErrorType::TimeoutError),
            ("ModelErrorException", 502, ErrorType::UpstreamError),
            ("ModelStreamErrorException", 502, ErrorType::UpstreamError),
            (
                "ServiceUnavailableException",
                503,
                ErrorType::ServiceUnavailableError,
            ),
            ("InternalServerException", 500, ErrorType::ServerError),
            (
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                429,
                ErrorType::RateLimitError,
            ),
            (
                "com.amazon.coral.service#InternalServerException",
                500,
                ErrorType::ServerError,
            ),
            ("InternalServerError", 500, ErrorType::ServerError),
        ];
        for (name, status, kind) in cases {
            let e = ApiError::from_bedrock(name, "boom", 400);
            assert_eq!((e.status, e.kind), (status, kind), "{name}");
            assert!(e.message.contains("boom"));
            let bare = name.split(':').next().unwrap().rsplit('#').next().unwrap();
            assert_eq!(e.code.as_deref(), Some(bare));
        }
    }

    #[test]
    fn error_names_are_stripped_like_botocore_and_checked() {
        for (raw, want) in [
            ("ValidationException", "ValidationException"),
            (
                "ValidationException:http://internal.amazon.com/coral/",
                "ValidationException",
            ),
            (
                "com.amazon.bedrock#ThrottlingException",
                "ThrottlingException",
            ),
            ("a#b#C:d#e", "C"),
            ("  Spaced  ", "Spaced"),
            ("bad name", ""),
            ("<x>", ""),
            ("", ""),
        ] {
            assert_eq!(bedrock_error_name(raw), want, "{raw:?}");
        }
        assert_eq!(bedrock_error_name(&"A".repeat(101)), "");
        assert_eq!(bedrock_error_name(&"A".repeat(100)).len(), 100);
    }

    #[test]
    fn unknown_names_fall_back_on_status() {
        assert_eq!(ApiError::from_bedrock("", "", 429).status, 429);
        assert_eq!(ApiError::from_bedrock("Weird", "x", 500).status, 502);
        assert_eq!(ApiError::from_bedrock("", "", 418).status, 400);
        let t = ApiError::from_bedrock("", "upstream request timeout", 504);
        assert_eq!((t.status, t.kind), (504, ErrorType::TimeoutError));
    }

    #[test]
    fn type_names_match_serde() {
        for t in [
            ErrorType::InvalidRequestError,
            ErrorType::AuthenticationError,
            ErrorType::PermissionError,
            ErrorType::NotFoundError,
            ErrorType::RateLimitError,
            ErrorType::TimeoutError,
            ErrorType::UpstreamError,
            ErrorType::ServiceUnavailableError,
            ErrorType::ServerError,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(ApiError::payload_too_large(10).status, 413);
        assert_eq!(ApiError::unsupported_media_type("text/plain").status, 415);
        let e = ApiError::rate_limited("requests", 3, 20);
        assert_eq!((e.status, e.kind), (429, ErrorType::RateLimitError));
        assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded_requests"));
    }

    #[test]
    fn body_has_openai_shape() {
        let e = ApiError::invalid_param("messages", "missing");
        let v: serde_json::Value = serde_json::from_slice(&e.to_body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages");
        assert_eq!(v["error"]["message"], "missing");
        assert!(v["error"]["code"].is_null());
    }
}
