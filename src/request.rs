//! Request phase: what to do with a client request, decided from its head and then its body.
//! The shell calls [`on_headers`], and if asked, [`on_body`] at end of stream.

use crate::config::Config;
use crate::error::ApiError;
use crate::upstream::{self, Exchange, UpstreamRequest};

/// The parts of the request head the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    /// The `api-key` header (the Azure OpenAI clients' way to send the key).
    pub api_key: Option<&'a str>,
    /// This worker's key table kept in AWS, when `api_keys_source` is configured.
    pub keys: Option<&'a crate::key_source::KeyState>,
    /// The tenant of an AWS identity the shell has verified with STS.
    pub iam_tenant: Option<&'a str>,
}

/// An endpoint we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
}

/// A response the filter produces itself, without calling Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl From<ApiError> for LocalReply {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status,
            content_type: "application/json",
            body: e.to_body(),
        }
    }
}

/// What the shell does after the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadDecision {
    /// Answer now; nothing goes upstream.
    Reply(LocalReply),
    /// Buffer the body and call [`on_body`].
    ReadBody(Endpoint),
}

/// Authenticates and routes. Authentication comes first so that unauthenticated callers
/// learn nothing about which paths exist.
pub fn on_headers(cfg: &Config, head: &RequestHead<'_>) -> HeadDecision {
    let route = crate::route::normalise(&cfg.path_forms, head.path);
    let authorization = route.authorization(head.authorization, head.api_key);
    if let Err(e) =
        crate::caller::authenticate(cfg, head.keys, head.iam_tenant, authorization.as_deref())
    {
        return HeadDecision::Reply(e.into());
    }
    if let Err(e) = route.check() {
        return HeadDecision::Reply(e.into());
    }
    let path = route.path.as_str();
    match (path, head.method) {
        ("/v1/chat/completions", "POST") => HeadDecision::ReadBody(Endpoint::ChatCompletions),
        ("/v1/chat/completions", m) => HeadDecision::Reply(
            ApiError::method_not_allowed(format!(
                "{m} is not allowed on /v1/chat/completions; use POST"
            ))
            .into(),
        ),
        _ => HeadDecision::Reply(
            ApiError::not_found(format!("Unknown request URL: {} {path}", head.method)).into(),
        ),
    }
}

/// Translates and signs the buffered body into the upstream request.
pub fn on_body(
    cfg: &Config,
    endpoint: Endpoint,
    body: &[u8],
    now: std::time::SystemTime,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    match endpoint {
        Endpoint::ChatCompletions => upstream::chat(cfg, body, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","credentials":{"access_key_id":"AKID","secret_access_key":"s"}}"#,
            &|_| None,
        )
        .unwrap()
    }

    fn decide(method: &str, path: &str, auth: Option<&str>) -> HeadDecision {
        on_headers(
            &cfg(),
            &RequestHead {
                method,
                path,
                authorization: auth,
                api_key: None,
                keys: None,
                iam_tenant: None,
            },
        )
    }

    fn status(d: HeadDecision) -> u16 {
        match d {
            HeadDecision::Reply(r) => r.status,
            HeadDecision::ReadBody(_) => 0,
        }
    }

    #[test]
    fn routes_and_rejects() {
        let key = Some("Bearer sk-local-demo");
        assert_eq!(
            decide("POST", "/v1/chat/completions", key),
            HeadDecision::ReadBody(Endpoint::ChatCompletions)
        );
        assert_eq!(
            decide("POST", "/v1/chat/completions/", key),
            HeadDecision::ReadBody(Endpoint::ChatCompletions)
        );
        assert_eq!(
            decide("POST", "/v1/chat/completions?x=1", key),
            HeadDecision::ReadBody(Endpoint::ChatCompletions)
        );
        assert_eq!(status(decide("GET", "/v1/chat/completions", key)), 405);
        assert_eq!(status(decide("POST", "/v1/nope", key)), 404);
        assert_eq!(status(decide("POST", "/v2/chat/completions", key)), 404);
        assert_eq!(status(decide("POST", "/v1/chat/completionsX", key)), 404);
        assert_eq!(status(decide("POST", "/v1/chat/completions", None)), 401);
        assert_eq!(
            status(decide("POST", "/v1/nope", Some("Bearer wrong-key-123"))),
            401
        );
    }
}
