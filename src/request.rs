//! Request phase: what to do with a client request, decided from its head and then its body.
//! The shell calls [`on_headers`], and if asked, [`on_body`] at end of stream.

use crate::config::Config;
use crate::error::ApiError;
use crate::metadata;
use crate::sigv4::Credentials;
use crate::upstream::{self, Exchange, UpstreamRequest};

/// The parts of the request head the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a str>,
}

/// An endpoint we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    /// Legacy `POST /v1/completions`.
    Completions,
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
    if let Err(e) = crate::auth::authenticate(&cfg.api_keys, head.authorization) {
        return HeadDecision::Reply(e.into());
    }
    let path = head.path.split(['?', '#']).next().unwrap_or("");
    let path = path.strip_suffix('/').unwrap_or(path);
    let json = |r: Result<Vec<u8>, ApiError>| {
        HeadDecision::Reply(match r {
            Ok(body) => LocalReply {
                status: 200,
                content_type: "application/json",
                body,
            },
            Err(e) => e.into(),
        })
    };
    let wrong_method = |allowed: &str| {
        HeadDecision::Reply(
            ApiError::method_not_allowed(format!(
                "{} is not allowed on {path}; use {allowed}",
                head.method
            ))
            .into(),
        )
    };
    let model_id = path
        .strip_prefix("/v1/models/")
        .filter(|id| !id.is_empty() && !id.contains('/'));
    match (path, head.method) {
        ("/v1/chat/completions", "POST") => HeadDecision::ReadBody(Endpoint::ChatCompletions),
        ("/v1/completions", "POST") => HeadDecision::ReadBody(Endpoint::Completions),
        ("/v1/chat/completions" | "/v1/completions", _) => wrong_method("POST"),
        ("/v1/models", "GET") => json(metadata::list_models(cfg)),
        ("/v1/providers", "GET") => json(metadata::providers(cfg)),
        ("/v1/mappings", "GET") => json(metadata::mappings(cfg)),
        ("/v1/models" | "/v1/providers" | "/v1/mappings", _) => wrong_method("GET"),
        _ => match (model_id, head.method) {
            (Some(id), "GET") => json(metadata::retrieve_model(cfg, id)),
            (Some(_), _) => wrong_method("GET"),
            (None, _) => HeadDecision::Reply(
                ApiError::not_found(format!("Unknown request URL: {} {path}", head.method)).into(),
            ),
        },
    }
}

/// Translates and signs the buffered body into the upstream request. `live` holds the
/// credentials the root context refreshed, when the configuration uses a credentials source.
pub fn on_body(
    cfg: &Config,
    endpoint: Endpoint,
    body: &[u8],
    now: std::time::SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    match endpoint {
        Endpoint::ChatCompletions => upstream::chat(cfg, body, now, live),
        Endpoint::Completions => upstream::completion(cfg, body, now, live),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","credentials":{"access_key_id":"AKID","secret_access_key":"s"},"model_aliases":{"gpt-4o":"amazon.nova-pro-v1:0"}}"#,
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
        assert_eq!(
            decide("POST", "/v1/completions", key),
            HeadDecision::ReadBody(Endpoint::Completions)
        );
        assert_eq!(status(decide("GET", "/v1/completions", key)), 405);
        for ok in [
            "/v1/models",
            "/v1/models/gpt-4o",
            "/v1/models/amazon.nova-pro-v1:0",
            "/v1/providers",
            "/v1/mappings/",
        ] {
            assert_eq!(status(decide("GET", ok, key)), 200, "{ok}");
        }
        assert_eq!(status(decide("GET", "/v1/models/nope", key)), 404);
        assert_eq!(status(decide("GET", "/v1/models/a/b", key)), 404);
        assert_eq!(status(decide("POST", "/v1/models", key)), 405);
        assert_eq!(status(decide("DELETE", "/v1/models/gpt-4o", key)), 405);
        assert_eq!(status(decide("GET", "/v1/models", None)), 401);
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
