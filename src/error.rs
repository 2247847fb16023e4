//! The one error type every layer ends in: an HTTP status plus OpenAI's error body
//! `{"error":{"message","type","param","code"}}` (OpenAPI `ErrorResponse`).
//!
//! Bedrock's error names (`x-amzn-errortype`, or `:exception-type` in a stream) are mapped here
//! and only here, so unary and streaming responses agree on status and `type`.

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
    pub fn new(status: u16, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    /// 400 `invalid_request_error` naming the offending request field.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, message).with_param(param)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, ErrorType::InvalidRequestError, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, ErrorType::AuthenticationError, message).with_code("invalid_api_key")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, ErrorType::InvalidRequestError, message).with_code("unknown_url")
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, ErrorType::InvalidRequestError, message).with_code("method_not_allowed")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, ErrorType::ServerError, message)
    }

    /// 502 for an upstream answer we cannot make sense of (bad JSON, corrupt frame).
    pub fn bad_upstream(message: impl Into<String>) -> Self {
        Self::new(502, ErrorType::UpstreamError, message).with_code("bad_upstream_response")
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Maps a Bedrock error name (`ThrottlingException`, or the bare `Throttling` some
    /// gateways send; anything after a `:` is ignored as in `x-amzn-errortype`) to status and
    /// type. Bedrock's own name is kept in `code` so clients can still tell them apart.
    /// `upstream_status` is used for names we do not know.
    pub fn from_bedrock(error_name: &str, message: &str, upstream_status: u16) -> Self {
        let name = error_name.split(':').next().unwrap_or("").trim();
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
            "InternalServer" => (500, ErrorType::ServerError),
            _ => match upstream_status {
                400 | 413 | 422 => (400, ErrorType::InvalidRequestError),
                401 | 403 => (403, ErrorType::PermissionError),
                404 => (404, ErrorType::NotFoundError),
                408 => (408, ErrorType::TimeoutError),
                429 => (429, ErrorType::RateLimitError),
                503 => (503, ErrorType::ServiceUnavailableError),
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
        ];
        for (name, status, kind) in cases {
            let e = ApiError::from_bedrock(name, "boom", 400);
            assert_eq!((e.status, e.kind), (status, kind), "{name}");
            assert!(e.message.contains("boom"));
            assert_eq!(e.code.as_deref(), Some(name.split(':').next().unwrap()));
        }
    }

    #[test]
    fn unknown_names_fall_back_on_status() {
        assert_eq!(ApiError::from_bedrock("", "", 429).status, 429);
        assert_eq!(ApiError::from_bedrock("Weird", "x", 500).status, 502);
        assert_eq!(ApiError::from_bedrock("", "", 418).status, 400);
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
