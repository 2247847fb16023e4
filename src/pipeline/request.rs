//! Request phase: what to do with a client request, decided from its head and then its body.
//! The shell calls [`on_headers`], [`check_body_size`] on every body chunk while buffering,
//! and [`on_body`] at end of stream; then [`admit`] with the limiter's decision.

use crate::accounting::ratelimit::{Decision, Limits};
use crate::auth::tenant::Tenant;
use crate::config::Config;
use crate::error::ApiError;
use crate::pipeline::embeddings::EmbeddingJob;
use crate::pipeline::{bedrock, embeddings, metadata};
use crate::upstream::sigv4::Credentials;
use crate::upstream::{Exchange, UpstreamRequest};

/// The parts of the request head the decision needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// `content-encoding`: a compressed body cannot be translated (415).
    pub content_encoding: Option<&'a str>,
    /// `content-length`, when the client sent one.
    pub content_length: Option<u64>,
    /// The `api-key` header (the Azure OpenAI clients' way to send the key).
    pub api_key: Option<&'a str>,
    /// This worker's key table kept in AWS, when `api_keys_source` is configured.
    pub keys: Option<&'a crate::auth::key_source::KeyState>,
    /// The tenant of an AWS identity the shell has verified with STS.
    pub iam_tenant: Option<&'a str>,
}

/// An endpoint we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    /// Legacy `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`: answered from side calls ([`Prepared::FanOut`]).
    Embeddings,
    /// `POST /v1/responses`: the Responses API, on the same Converse call as chat.
    Responses,
}

/// What a buffered body becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The client's request, rewritten, goes upstream.
    Forward(UpstreamRequest),
    /// The filter makes these calls itself and answers once all are back.
    FanOut(EmbeddingJob),
}

/// A response the filter produces itself, without calling Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The OpenAI `error.type` when the reply is an error (for metrics and the access log).
    pub error_type: Option<crate::error::ErrorType>,
}

impl From<ApiError> for LocalReply {
    fn from(e: ApiError) -> Self {
        Self {
            status: e.status,
            content_type: "application/json",
            body: e.to_body(),
            error_type: Some(e.kind),
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
    /// `GET /v1/usage`: read these tenants' usage from shared data and answer with
    /// [`crate::accounting::usage::report`].
    Usage { tenants: Vec<String> },
}

/// [`on_headers`]' answer: the decision, and the caller's tenant once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'c> {
    pub tenant: Option<&'c Tenant>,
    pub decision: HeadDecision,
    /// The model an Azure deployment path fixes, for [`on_body`].
    pub model_override: Option<String>,
}

fn reply(e: ApiError) -> HeadDecision {
    HeadDecision::Reply(e.into())
}

/// `application/json`, with parameters, or any `+json` type.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Authenticates and routes. Authentication comes first so that unauthenticated callers
/// learn nothing about which paths exist; then method (405), content type (415: a body that
/// says it is not JSON; no `content-type` is accepted) and declared size (413).
pub fn on_headers<'c>(cfg: &'c Config, head: &RequestHead<'_>) -> Head<'c> {
    let route = crate::pipeline::route::normalise(&cfg.path_forms, head.path);
    let authorization = route.authorization(head.authorization, head.api_key);
    let authenticated = crate::auth::caller::authenticate(
        &cfg.tenants,
        cfg.key_source.as_ref(),
        head.keys,
        head.iam_tenant,
        authorization.as_deref(),
    )
    .and_then(|t| route.check().map(|()| t));
    let tenant = match authenticated {
        Ok(t) => t,
        Err(e) => {
            return Head {
                tenant: None,
                decision: reply(e),
                model_override: None,
            }
        }
    };
    let (path, query) = (route.path.as_str(), route.query.as_str());
    let json = |r: Result<Vec<u8>, ApiError>| match r {
        Ok(body) => HeadDecision::Reply(LocalReply {
            status: 200,
            content_type: "application/json",
            body,
            error_type: None,
        }),
        Err(e) => reply(e),
    };
    let wrong_method = |allowed: &str| {
        reply(ApiError::method_not_allowed(format!(
            "{} is not allowed on {path}; use {allowed}",
            head.method
        )))
    };
    let compressed = head
        .content_encoding
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    let read_body = |endpoint: Endpoint| match (head.content_type, head.content_length) {
        _ if compressed => reply(ApiError::unsupported_encoding()),
        (Some(ct), _) if !is_json(ct) => reply(ApiError::unsupported_media_type(ct)),
        (_, Some(n)) if n > cfg.max_request_body_bytes => {
            reply(ApiError::payload_too_large(cfg.max_request_body_bytes))
        }
        _ => HeadDecision::ReadBody(endpoint),
    };
    let model_id = path
        .strip_prefix("/v1/models/")
        .filter(|id| !id.is_empty() && !id.contains('/'));
    let decision = match (path, head.method) {
        ("/v1/chat/completions", "POST") => read_body(Endpoint::ChatCompletions),
        ("/v1/completions", "POST") => read_body(Endpoint::Completions),
        ("/v1/embeddings", "POST") => read_body(Endpoint::Embeddings),
        ("/v1/responses", "POST") => read_body(Endpoint::Responses),
        ("/v1/usage", "GET") => usage_request(cfg, tenant, query),
        ("/v1/models", "GET") => json(metadata::list_models(cfg, tenant)),
        ("/v1/providers", "GET") => json(metadata::providers(cfg, tenant)),
        ("/v1/mappings", "GET") => json(metadata::mappings(cfg, tenant)),
        ("/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/responses", _) => {
            wrong_method("POST")
        }
        ("/v1/usage" | "/v1/models" | "/v1/providers" | "/v1/mappings", _) => wrong_method("GET"),
        _ => match (model_id, head.method) {
            (Some(id), "GET") => json(metadata::retrieve_model(cfg, tenant, id)),
            (Some(_), _) => wrong_method("GET"),
            (None, _) => reply(ApiError::not_found(format!(
                "Unknown request URL: {} {path}",
                head.method
            ))),
        },
    };
    Head {
        tenant: Some(tenant),
        decision,
        model_override: route.model_override().map(String::from),
    }
}

/// `GET /v1/usage[?tenant=<name>]`: a tenant sees its own usage; an admin sees every
/// tenant's, or the one named.
fn usage_request(cfg: &Config, tenant: &Tenant, query: &str) -> HeadDecision {
    let wanted = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "tenant")
        .map(|(_, v)| v);
    if wanted.is_some_and(|name| !crate::auth::tenant::valid_tenant_name(name)) {
        return reply(ApiError::invalid_param(
            "tenant",
            "`tenant` is a tenant name: 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    match wanted {
        None if tenant.admin => HeadDecision::Usage {
            tenants: cfg
                .tenants
                .tenants()
                .iter()
                .map(|t| t.name.clone())
                .collect(),
        },
        None => HeadDecision::Usage {
            tenants: vec![tenant.name.clone()],
        },
        Some(name) if name == tenant.name => HeadDecision::Usage {
            tenants: vec![tenant.name.clone()],
        },
        Some(_) if !tenant.admin => reply(ApiError::forbidden(
            "Only an admin key may read another tenant's usage.",
        )),
        Some(name) => match cfg.tenants.get(name) {
            Some(t) => HeadDecision::Usage {
                tenants: vec![t.name.clone()],
            },
            None => reply(ApiError::no_such(format!("No tenant `{name}`."))),
        },
    }
}

/// 413 once the buffered body is over the limit (for bodies without `content-length`).
pub fn check_body_size(cfg: &Config, buffered: usize) -> Result<(), ApiError> {
    if u64::try_from(buffered).unwrap_or(u64::MAX) > cfg.max_request_body_bytes {
        Err(ApiError::payload_too_large(cfg.max_request_body_bytes))
    } else {
        Ok(())
    }
}

/// Translates and signs the buffered body into the upstream request, after checking that the
/// tenant may use the model actually called. `model_override` is the model an Azure
/// deployment path fixes ([`crate::pipeline::route::Route::model_override`]). Returns the limits that
/// apply to this (tenant, canonical model). `live` holds the credentials the root context
/// refreshed, when a credentials source is configured.
pub fn on_body(
    cfg: &Config,
    tenant: &Tenant,
    endpoint: Endpoint,
    body: &[u8],
    model_override: Option<&str>,
    now: std::time::SystemTime,
    live: Option<&Credentials>,
) -> Result<(Prepared, Exchange, Limits), ApiError> {
    check_body_size(cfg, body.len())?;
    let overridden;
    let body = match model_override {
        Some(model) => {
            overridden = crate::pipeline::route::override_model(body, model)?;
            overridden.as_slice()
        }
        None => body,
    };
    let forward = |(up, ex)| (Prepared::Forward(up), ex);
    let (up, ex) = match endpoint {
        Endpoint::ChatCompletions => {
            bedrock::chat_for(cfg, Some(tenant), body, now, live).map(forward)?
        }
        Endpoint::Completions => {
            bedrock::completion_for(cfg, Some(tenant), body, now, live).map(forward)?
        }
        Endpoint::Responses => {
            bedrock::responses_for(cfg, Some(tenant), body, now, live).map(forward)?
        }
        Endpoint::Embeddings => embeddings::embeddings(cfg, body, now, live)
            .map(|(job, ex)| (Prepared::FanOut(job), ex))?,
    };
    // Decided on the model actually called, after every override.
    if ex.via_bedrock_model && !tenant.allow_bedrock_model {
        return Err(ApiError::forbidden(
            "This key may not choose the Bedrock model with `bedrock_model`; use `model`.",
        )
        .with_param("bedrock_model")
        .with_code("bedrock_model_not_allowed"));
    }
    if !tenant.allows(&ex.canonical_model) {
        return Err(ApiError::model_not_allowed(&ex.model));
    }
    let limits = tenant.limits_for(&ex.canonical_model);
    Ok((up, ex, limits))
}

/// The request id sent upstream and echoed to the client: the client's (or Envoy's)
/// `x-request-id` when it is 1–128 characters of `[A-Za-z0-9._:-]`, else `fallback`.
/// Returns whether the request header must be (re)written.
pub fn request_id(sent: Option<&str>, fallback: impl FnOnce() -> String) -> (String, bool) {
    match sent {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) =>
        {
            (id.to_string(), false)
        }
        _ => (fallback(), true),
    }
}

/// After the limiter: go on, or the 429 to answer (its headers come from
/// [`Decision::headers`]).
pub fn admit(decision: &Decision) -> Result<(), ApiError> {
    if decision.allowed {
        return Ok(());
    }
    let retry = decision.retry_after_secs();
    let exhausted = |q: Option<crate::accounting::ratelimit::Quota>| q.filter(|q| q.remaining == 0);
    Err(match (exhausted(decision.requests), decision.tokens) {
        (Some(q), _) => ApiError::rate_limited("requests", q.limit, retry),
        (None, Some(q)) => ApiError::rate_limited("tokens", q.limit, retry),
        (None, None) => ApiError::rate_limited("requests", 0, retry),
    })
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
                ..RequestHead::default()
            },
        )
        .decision
    }

    fn status(d: HeadDecision) -> u16 {
        match d {
            HeadDecision::Reply(r) => r.status,
            HeadDecision::ReadBody(_) | HeadDecision::Usage { .. } => 0,
        }
    }

    const ACME_SHA: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

    fn tenant_cfg() -> Config {
        Config::parse(
            format!(
                r#"{{"api_keys":["sk-default-key"],"region":"us-east-1","credentials":{{"access_key_id":"AKID","secret_access_key":"s"}},
                "max_request_body_bytes": 100, "model_aliases": {{"gpt-4o": "us.sonnet"}},
                "tenants": {{"acme": {{"key_sha256": ["{ACME_SHA}"], "admin": true, "models": ["gpt-4o"],
                                      "limits": {{"requests_per_minute": 2}}}}}}}}"#
            )
            .as_bytes(),
            &|_| None,
        )
        .unwrap()
    }

    fn head_with<'a>(method: &'a str, path: &'a str, key: &'a str) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            authorization: Some(key),
            ..RequestHead::default()
        }
    }

    #[test]
    fn content_type_and_length() {
        let c = tenant_cfg();
        let key = "Bearer sk-default-key";
        let base = head_with("POST", "/v1/chat/completions", key);
        let d = |h: RequestHead<'_>| on_headers(&c, &h).decision;
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/vnd.api+json",
        ] {
            assert_eq!(
                d(RequestHead {
                    content_type: Some(ct),
                    ..base
                }),
                HeadDecision::ReadBody(Endpoint::ChatCompletions),
                "{ct}"
            );
        }
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(
                status(d(RequestHead {
                    content_type: Some(ct),
                    ..base
                })),
                415,
                "{ct}"
            );
        }
        assert_eq!(
            status(d(RequestHead {
                content_length: Some(101),
                ..base
            })),
            413
        );
        assert_eq!(
            d(RequestHead {
                content_length: Some(100),
                ..base
            }),
            HeadDecision::ReadBody(Endpoint::ChatCompletions)
        );
        assert_eq!(check_body_size(&c, 101).unwrap_err().status, 413);
        assert!(check_body_size(&c, 100).is_ok());
        // auth before anything else
        assert_eq!(
            status(d(RequestHead {
                content_type: Some("text/plain"),
                authorization: None,
                ..base
            })),
            401
        );
    }

    #[test]
    fn usage_visibility() {
        let c = tenant_cfg();
        let admin = "Bearer sk-local-demo";
        let user = "Bearer sk-default-key";
        let d = |m, p, k| on_headers(&c, &head_with(m, p, k)).decision;
        let usage = |names: &[&str]| HeadDecision::Usage {
            tenants: names.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(d("GET", "/v1/usage", user), usage(&["default"]));
        assert_eq!(
            d("GET", "/v1/usage?tenant=default", user),
            usage(&["default"])
        );
        assert_eq!(status(d("GET", "/v1/usage?tenant=acme", user)), 403);
        assert_eq!(d("GET", "/v1/usage", admin), usage(&["default", "acme"]));
        assert_eq!(
            d("GET", "/v1/usage?tenant=default", admin),
            usage(&["default"])
        );
        assert_eq!(status(d("GET", "/v1/usage?tenant=nobody", admin)), 404);
        assert_eq!(status(d("POST", "/v1/usage", admin)), 405);
        assert_eq!(
            on_headers(&c, &head_with("GET", "/v1/usage", admin))
                .tenant
                .map(|t| t.name.as_str()),
            Some("acme")
        );
    }

    #[test]
    fn model_access_and_limits_at_body() {
        let c = tenant_cfg();
        let acme = c.tenants.get("acme").unwrap();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let body =
            |m: &str| format!(r#"{{"model":"{m}","messages":[{{"role":"user","content":"hi"}}]}}"#);
        let (_, ex, limits) = on_body(
            &c,
            acme,
            Endpoint::ChatCompletions,
            body("gpt-4o").as_bytes(),
            None,
            now,
            None,
        )
        .unwrap();
        assert_eq!(ex.bedrock_model, "us.sonnet");
        assert_eq!(limits.requests_per_minute, Some(2));
        let e = on_body(
            &c,
            acme,
            Endpoint::ChatCompletions,
            body("us.haiku").as_bytes(),
            None,
            now,
            None,
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (403, Some("model_not_allowed"))
        );
        let e = on_body(
            &c,
            acme,
            Endpoint::ChatCompletions,
            &[b' '; 101],
            None,
            now,
            None,
        )
        .unwrap_err();
        assert_eq!(e.status, 413);
    }

    #[test]
    fn refusals_name_the_exhausted_limit() {
        let l = Limits {
            requests_per_minute: Some(1),
            tokens_per_minute: Some(10),
        };
        let (s, d) = crate::accounting::ratelimit::try_acquire(None, l, 1_000, 5);
        assert!(admit(&d).is_ok());
        let (_, d) = crate::accounting::ratelimit::try_acquire(Some(&s), l, 2_000, 5);
        let e = admit(&d).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (429, Some("rate_limit_exceeded_requests"))
        );
        let l = Limits {
            requests_per_minute: None,
            tokens_per_minute: Some(10),
        };
        let (_, d) = crate::accounting::ratelimit::try_acquire(Some(&s), l, 2_000, 6);
        assert_eq!(
            admit(&d).unwrap_err().code.as_deref(),
            Some("rate_limit_exceeded_tokens")
        );
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

    /// Two tenants as in the security report: `mini` may call `gpt-4o-mini` only (3 a
    /// minute); `ops` may call anything.
    fn attack_cfg() -> Config {
        Config::parse(
            format!(
                r#"{{"region":"us-east-1","credentials":{{"access_key_id":"AKID","secret_access_key":"s"}},
                "model_aliases": {{"gpt-4o-mini": "us.amazon.nova-lite-v1:0", "gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"}},
                "azure_deployments": {{"mini": "gpt-4o-mini"}},
                "tenants": {{"mini": {{"key_sha256": ["{ACME_SHA}"], "models": ["gpt-4o-mini"],
                                       "limits": {{"requests_per_minute": 3}}}},
                             "ops": {{"key_sha256": ["{}"]}}}}}}"#,
                "b".repeat(64)
            )
            .as_bytes(),
            &|_| None,
        )
        .unwrap()
    }

    fn body_with(fields: &str) -> String {
        format!(r#"{{{fields},"messages":[{{"role":"user","content":"hi"}}]}}"#)
    }

    fn send(
        cfg: &Config,
        tenant: &str,
        body: &str,
        path_model: Option<&str>,
    ) -> Result<Exchange, ApiError> {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let t = cfg.tenants.get(tenant).unwrap();
        on_body(
            cfg,
            t,
            Endpoint::ChatCompletions,
            body.as_bytes(),
            path_model,
            now,
            None,
        )
        .map(|(_, ex, _)| ex)
    }

    #[test]
    fn the_allow_list_is_checked_on_the_model_actually_called() {
        let c = attack_cfg();
        let sonnet = "us.anthropic.claude-3-5-sonnet-20241022-v2:0";
        // bedrock_model naming another model behind an allowed `model`.
        let e = send(
            &c,
            "mini",
            &body_with(&format!(
                r#""model":"gpt-4o-mini","bedrock_model":"{sonnet}""#
            )),
            None,
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (403, Some("model_not_allowed"))
        );
        // Azure: the deployment fixes the model; a bedrock_model beside it is refused.
        let e = send(
            &c,
            "mini",
            &body_with(&format!(r#""model":"x","bedrock_model":"{sonnet}""#)),
            Some("gpt-4o-mini"),
        )
        .unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("bedrock_model")));
        let ex = send(
            &c,
            "mini",
            &body_with(r#""model":"anything""#),
            Some("gpt-4o-mini"),
        )
        .unwrap();
        assert_eq!(ex.bedrock_model, "us.amazon.nova-lite-v1:0");
        // The allowed model by every other name: same canonical id, same limits.
        for name in [
            "gpt-4o-mini",
            "amazon.nova-lite-v1:0",
            "us.amazon.nova-lite-v1:0",
            "eu.amazon.nova-lite-v1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0",
        ] {
            let ex = send(
                &c,
                "mini",
                &body_with(&format!(r#""model":"{name}""#)),
                None,
            )
            .unwrap();
            assert_eq!(ex.canonical_model, "amazon.nova-lite-v1:0", "{name}");
            let t = c.tenants.get("mini").unwrap();
            assert_eq!(
                t.limits_for(&ex.canonical_model).requests_per_minute,
                Some(3)
            );
        }
        // A tenant may be kept from bedrock_model altogether.
        let mut c2 = attack_cfg();
        let ops = c2.tenants.get("ops").unwrap().clone();
        let mut table: Vec<_> = Vec::new();
        let mut ops_no = ops.clone();
        ops_no.allow_bedrock_model = false;
        table.push((ops_no, vec![crate::auth::tenant::digest("sk-ops-key")]));
        c2.tenants = crate::auth::tenant::TenantTable::new(table).unwrap();
        let e = send(
            &c2,
            "ops",
            &body_with(r#""model":"m","bedrock_model":"amazon.nova-lite-v1:0""#),
            None,
        )
        .unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (403, Some("bedrock_model")));
        assert!(send(
            &c2,
            "ops",
            &body_with(r#""model":"amazon.nova-lite-v1:0""#),
            None
        )
        .is_ok());
    }

    #[test]
    fn model_names_that_could_split_a_header_or_grow_state_are_refused() {
        let c = attack_cfg();
        let long = "m".repeat(100_000);
        for (fields, param) in [
            (r#""model":"gpt-4o\r\nx-injected: 1""#.to_string(), "model"),
            (r#""model":"gpt-4o\u0000""#.to_string(), "model"),
            (format!(r#""model":"{long}""#), "model"),
            (r#""model":"a b""#.to_string(), "model"),
            (r#""model":"../../x""#.to_string(), "model"),
            (
                r#""model":"gpt-4o","bedrock_model":"gpt-4o\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK""#.to_string(),
                "bedrock_model",
            ),
            (format!(r#""model":"m","bedrock_model":"{long}""#), "bedrock_model"),
        ] {
            let e = send(&c, "ops", &body_with(&fields), None).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{}", &fields[..fields.len().min(80)]);
            assert!(e.message.len() < 300, "the error does not echo the value");
        }
    }

    #[test]
    fn compressed_bodies_and_bad_query_values_are_refused() {
        let c = tenant_cfg();
        let head = RequestHead {
            content_encoding: Some("gzip"),
            ..head_with("POST", "/v1/chat/completions", "Bearer sk-default-key")
        };
        let d = on_headers(&c, &head).decision;
        let HeadDecision::Reply(r) = d else {
            panic!("{d:?}")
        };
        assert_eq!(r.status, 415);
        assert!(String::from_utf8(r.body)
            .unwrap()
            .contains("content-encoding"));
        let identity = RequestHead {
            content_encoding: Some("identity"),
            ..head
        };
        assert_eq!(
            on_headers(&c, &identity).decision,
            HeadDecision::ReadBody(Endpoint::ChatCompletions)
        );
        let admin = "Bearer sk-local-demo";
        for q in [
            "tenant=a%0d%0ab",
            "tenant=",
            &format!("tenant={}", "x".repeat(65)),
        ] {
            let path = format!("/v1/usage?{q}");
            assert_eq!(
                status(on_headers(&c, &head_with("GET", &path, admin)).decision),
                400,
                "{q}"
            );
        }
    }

    #[test]
    fn request_ids_are_kept_only_when_safe() {
        let made = || "made-1".to_string();
        assert_eq!(
            request_id(Some("0d3e-4f:a.b_c"), made),
            ("0d3e-4f:a.b_c".into(), false)
        );
        for bad in [None, Some(""), Some("a\r\nb"), Some("a b"), Some("é")] {
            assert_eq!(request_id(bad, made), ("made-1".into(), true), "{bad:?}");
        }
        let long = "a".repeat(129);
        assert!(request_id(Some(&long), made).1);
    }
}
