//! The Bedrock request: path, authority, headers and signed body for one client request,
//! plus the [`Exchange`] the response phase needs to answer in the client's terms.
//!
//! Two upstream modes ([`Upstream`]): **AWS** (Bedrock Runtime itself, SigV4 with static or
//! refreshed credentials, or a Bedrock API key as a bearer token) and **gateway** (a custom
//! Bedrock gateway: its own path template and model aliases, a token header, no SigV4).

pub mod credentials;
pub mod embeddings;
pub mod responses;
pub mod side_call;
pub mod sigv4;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use self::sigv4::{Credentials, SignRequest};
use crate::auth::tenant::Tenant;
use crate::catalog::content;
use crate::catalog::models;
use crate::catalog::models::Provider;
use crate::config::Config;
use crate::converse::request::ConverseRequest;
use crate::error::{ApiError, ErrorType};
use crate::headers::HeaderList;
use crate::openai::chat::ChatRequest;
use crate::openai::completion::CompletionRequest;
use crate::stream::OutputFormat;
use crate::translate::request::{completion_to_converse, to_converse_request, Target};
use crate::translate::tools::OutputMode;
use crate::upstream::credentials::CredentialSource;

/// The custom gateway's default path (seed `bedrock-proxy-custom-gateway.md`).
pub const GATEWAY_PATH_TEMPLATE: &str = "/v1.0/model/bedrock/model/{model}/{operation}";

/// How Bedrock is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Bedrock Runtime (`bedrock-runtime.{region}.amazonaws.com`).
    Aws(AwsAuth),
    /// A custom Bedrock gateway.
    Gateway(GatewayUpstream),
}

/// How requests to Bedrock Runtime authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAuth {
    /// SigV4 with fixed credentials (configuration or environment).
    SigV4(Credentials),
    /// SigV4 with credentials the root context fetches and refreshes.
    Refreshed(CredentialSource),
    /// A Bedrock API key: `Authorization: Bearer <key>`, no SigV4.
    ApiKey(String),
}

/// A custom Bedrock gateway.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayUpstream {
    /// `:authority` of the gateway.
    pub host: String,
    /// `/…/{model}/{operation}`; operation is `converse` or `converse-stream`.
    pub path_template: String,
    pub token: String,
    /// Header carrying the token (default `authorization-token`).
    pub token_header: String,
    /// Bedrock model id → gateway alias, overriding [`models::gateway_alias`].
    pub aliases: BTreeMap<String, String>,
}

impl std::fmt::Debug for GatewayUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayUpstream")
            .field("host", &self.host)
            .field("path_template", &self.path_template)
            .field("token", &"** redacted **")
            .field("token_header", &self.token_header)
            .field("aliases", &self.aliases)
            .finish()
    }
}

impl GatewayUpstream {
    /// The gateway's name for a Bedrock model id: an explicit alias (by the id, or by the id
    /// without its inference-profile prefix), else the seed's rule.
    pub fn alias_for(&self, bedrock_id: &str) -> String {
        self.aliases
            .get(bedrock_id)
            .or_else(|| {
                self.aliases
                    .get(crate::catalog::strip_profile_prefix(bedrock_id))
            })
            .cloned()
            .unwrap_or_else(|| models::gateway_alias(bedrock_id))
    }

    /// The request path for a model id and Converse operation.
    pub fn path(&self, bedrock_id: &str, stream: bool) -> String {
        self.path_for(bedrock_id, models::operation(stream))
    }

    /// The request path for a model id and operation (`converse`, `invoke`, …).
    pub fn path_for(&self, bedrock_id: &str, operation: &str) -> String {
        let alias = self.alias_for(bedrock_id);
        let encoded = models::encode_segment(&alias);
        self.path_template
            .replace("{model}", &encoded)
            .replace("{operation}", operation)
    }
}

impl Upstream {
    /// `aws` or `gateway`, as reported by `/v1/mappings`.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Aws(_) => "aws",
            Self::Gateway(_) => "gateway",
        }
    }
}

/// What the shell writes into the request before it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub path: String,
    pub authority: String,
    /// Headers to set (replacing any client value): content type, accept, SigV4 headers.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Per-request facts carried from the request phase to the response phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The model name as the client sent it; echoed in responses.
    pub model: String,
    /// The Bedrock model id actually called (checked by [`crate::catalog::model_id::is_bedrock_id`]).
    pub bedrock_model: String,
    /// [`crate::catalog::model_id::canonical`] of `bedrock_model`: what the tenant's allow-list,
    /// limits, usage and metrics are decided on.
    pub canonical_model: String,
    /// The client named the Bedrock id itself with the `bedrock_model` extension.
    pub via_bedrock_model: bool,
    pub stream: bool,
    pub include_usage: bool,
    /// Input-token estimate charged to the token limit until the real usage is known.
    pub estimated_input_tokens: u64,
    /// Request parameters accepted but not honoured: the `x-bedrock-ignored-params` header.
    pub ignored: Vec<String>,
    /// How the answer is read back (JSON-answer tool, dropped tool calls).
    pub output: OutputMode,
    /// Which OpenAI object the answer becomes (chat completion or legacy text completion).
    pub format: OutputFormat,
}

impl Exchange {
    /// The completion id the client sees, from the upstream request id (else Envoy's).
    pub fn response_id(&self, request_id: &str) -> String {
        format!("{}{request_id}", self.format.id_prefix())
    }
}

/// Client request headers that may reach the upstream: an allow-list. Everything else the
/// client sent (its credentials, `content-encoding`, `x-amz*`, `x-forwarded-*`, Envoy's own
/// `x-envoy-*`, arbitrary custom headers) is removed; [`upstream_head`] then sets what
/// Bedrock or the gateway needs. `x-forwarded-proto` is Envoy's own (the connection manager
/// sets it); without it Envoy's router finds no route.
pub const UPSTREAM_ALLOWED: [&str; 9] = [
    ":method",
    ":scheme",
    ":path",
    ":authority",
    "x-forwarded-proto",
    "content-type",
    "content-length",
    "accept",
    "x-request-id",
];

/// Whether a client request header may go upstream ([`UPSTREAM_ALLOWED`]).
pub fn allowed_upstream(name: &str) -> bool {
    UPSTREAM_ALLOWED
        .iter()
        .any(|a| a.eq_ignore_ascii_case(name))
}

/// Request headers the filter sets for filters after it when `rate_limit_descriptors` is on
/// (Envoy's `ratelimit` filter in `envoy/envoy-global-ratelimit.yaml` builds its descriptors
/// from them, and that config removes them before the upstream).
pub const DESCRIPTOR_PREFIX: &str = "x-bedrock-";

/// `x-bedrock-tenant`, `x-bedrock-model-id` (the canonical model id, as limits are kept)
/// and `x-bedrock-token-estimate`.
pub fn descriptor_headers(tenant: &str, ex: &Exchange) -> [(&'static str, String); 3] {
    [
        ("x-bedrock-tenant", tenant.to_string()),
        ("x-bedrock-model-id", ex.canonical_model.clone()),
        (
            "x-bedrock-token-estimate",
            ex.estimated_input_tokens.to_string(),
        ),
    ]
}

/// The request head as it goes upstream: the client's headers cut to [`UPSTREAM_ALLOWED`],
/// then path, authority, length, the mode's headers (SigV4 or token) and, if configured,
/// the rate-limit descriptors. Every value passes [`HeaderList::set`]'s check.
pub fn upstream_head(
    h: &mut HeaderList,
    cfg: &Config,
    tenant: &str,
    up: &UpstreamRequest,
    ex: &Exchange,
) {
    h.retain(allowed_upstream);
    h.set(":path", &up.path);
    h.set(":authority", &up.authority);
    h.set("content-length", &up.body.len().to_string());
    for (k, v) in &up.headers {
        h.set(k, v);
    }
    if cfg.rate_limit_descriptors {
        for (k, v) in descriptor_headers(tenant, ex) {
            h.set(k, &v);
        }
    }
}

/// `POST /v1/chat/completions` → signed Converse / ConverseStream call, with the gateway's
/// automatic prompt caching. `live` holds the refreshed credentials, when the configuration
/// uses a credentials source.
pub fn chat(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    chat_for(cfg, None, body, now, live)
}

/// [`chat`] for a tenant, with its automatic prompt caching for the model called.
pub fn chat_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = ChatRequest::parse(body)?;
    converse_for(cfg, tenant, req, OutputFormat::Chat, now, live)
}

/// A parsed chat request (or the one a Responses request stands for) → signed Converse /
/// ConverseStream call, answered in `format`.
pub fn converse_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    req: ChatRequest,
    format: OutputFormat,
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    // Precedence: the `bedrock_model` extension, then a configured alias, then `model` as is.
    let bedrock_model = match &req.bedrock_model {
        Some(id) => id.clone(),
        None => resolve_model(cfg, &req.model)?,
    };
    if crate::translate::embeddings::model_for(&bedrock_model).is_some() {
        return Err(embeddings::not_a_chat_model(&req.model));
    }
    let provider = req
        .model_provider
        .unwrap_or_else(|| Provider::infer(&bedrock_model));
    let canonical_model = crate::catalog::model_id::canonical(&bedrock_model).to_string();
    let translation = to_converse_request(
        &req,
        Target {
            model_id: &bedrock_model,
            provider,
            caching: cfg.catalog.entry_for(&bedrock_model).map_or_else(
                || crate::catalog::caching::infer(&bedrock_model),
                |e| e.prompt_caching,
            ),
            auto: tenant.map_or(cfg.prompt_caching, |t| {
                t.prompt_caching.for_model(&canonical_model)
            }),
            content: cfg
                .catalog
                .entry_for(&bedrock_model)
                .map_or_else(|| content::infer(&bedrock_model), |e| e.content),
            s3: tenant.map_or(&cfg.s3, |t| &t.s3),
        },
    )?;
    let up = call(
        cfg,
        &translation.body,
        &bedrock_model,
        req.stream,
        now,
        live,
    )?;
    let estimated_input_tokens = crate::accounting::usage::estimate_input_tokens(&up.body);
    Ok((
        up,
        Exchange {
            model: req.model,
            canonical_model,
            via_bedrock_model: req.bedrock_model.is_some(),
            bedrock_model,
            stream: req.stream,
            include_usage: req.include_usage,
            format,
            estimated_input_tokens,
            ignored: translation.ignored,
            output: translation.output,
        },
    ))
}

/// `POST /v1/completions` (legacy) → the same Converse call with the prompt as one user turn.
pub fn completion(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = CompletionRequest::parse(body)?;
    let converse = completion_to_converse(&req)?;
    let bedrock_model = resolve_model(cfg, &req.model)?;
    if crate::translate::embeddings::model_for(&bedrock_model).is_some() {
        return Err(embeddings::not_a_chat_model(&req.model));
    }
    let up = call(cfg, &converse, &bedrock_model, req.stream, now, live)?;
    let estimated_input_tokens = crate::accounting::usage::estimate_input_tokens(&up.body);
    Ok((
        up,
        Exchange {
            model: req.model,
            canonical_model: crate::catalog::model_id::canonical(&bedrock_model).to_string(),
            via_bedrock_model: false,
            bedrock_model,
            stream: req.stream,
            include_usage: req.include_usage,
            format: OutputFormat::Completion {
                echo: req.echo.then_some(req.prompt),
            },
            ignored: Vec::new(),
            output: OutputMode::default(),
            estimated_input_tokens,
        },
    ))
}

/// The Bedrock id a client's `model` calls: its alias target (checked with the
/// configuration), else the name itself, which must then be a Bedrock id.
fn resolve_model(cfg: &Config, model: &str) -> Result<String, ApiError> {
    let id = cfg.catalog.bedrock_id(model);
    crate::catalog::model_id::check_bedrock_id("model", id)?;
    Ok(id.to_string())
}

/// The upstream request for a Converse body, in the configured mode.
pub fn call(
    cfg: &Config,
    converse: &ConverseRequest,
    bedrock_model: &str,
    stream: bool,
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<UpstreamRequest, ApiError> {
    let body = serde_json::to_vec(converse)
        .map_err(|e| ApiError::internal(format!("serialising the Converse body: {e}")))?;
    let operation = models::operation(stream);
    let accept = if stream {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    request_for(cfg, body, bedrock_model, operation, accept, now, live)
}

/// The upstream request for a JSON body to `/model/{id}/{operation}` (`converse`,
/// `converse-stream`, `invoke`), in the configured mode: signed with SigV4, with the Bedrock
/// API key, or with the gateway's token on its path template.
pub fn request_for(
    cfg: &Config,
    body: Vec<u8>,
    bedrock_model: &str,
    operation: &str,
    accept: &str,
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<UpstreamRequest, ApiError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match &cfg.upstream {
        Upstream::Gateway(g) => {
            // The gateway documents `accept: application/json` for every operation.
            headers.push(("accept".to_string(), "application/json".to_string()));
            headers.push((g.token_header.clone(), g.token.clone()));
            Ok(UpstreamRequest {
                path: g.path_for(bedrock_model, operation),
                authority: g.host.clone(),
                headers,
                body,
            })
        }
        Upstream::Aws(auth) => {
            let path = models::model_path(bedrock_model, operation);
            headers.push(("accept".to_string(), accept.to_string()));
            let (region, host) = cfg.region_for(bedrock_model);
            let credentials = match auth {
                AwsAuth::ApiKey(key) => {
                    headers.push(("authorization".to_string(), format!("Bearer {key}")));
                    None
                }
                AwsAuth::SigV4(c) => Some(c),
                AwsAuth::Refreshed(_) => Some(live.ok_or_else(no_credentials)?),
            };
            if let Some(credentials) = credentials {
                let signed = [("content-type", "application/json")];
                let auth = sigv4::sign(
                    credentials,
                    region,
                    "bedrock",
                    &SignRequest {
                        method: "POST",
                        host: &host,
                        path: &path,
                        headers: &signed,
                        body: &body,
                    },
                    now,
                )
                .map_err(|e| {
                    ApiError::internal(format!("signing the Bedrock request failed: {e}"))
                })?;
                headers.extend(auth);
            }
            Ok(UpstreamRequest {
                path,
                authority: host,
                headers,
                body,
            })
        }
    }
}

/// 503 while the credentials source has not delivered valid credentials: the request is
/// never sent unsigned.
pub fn no_credentials() -> ApiError {
    ApiError::new(
        503,
        ErrorType::ServiceUnavailableError,
        "No valid AWS credentials are available yet (the credentials source has not answered, or its credentials expired); retry shortly.",
    )
    .with_code("credentials_unavailable")
}

/// Seconds since the epoch, for `created`.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
                 "credentials":{"access_key_id":"AKID","secret_access_key":"s","session_token":"tok"}}"#,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn builds_a_signed_converse_stream_call() {
        let (up, ex) = chat(
            &cfg(),
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            None,
        )
        .unwrap();
        assert_eq!(
            up.path,
            "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"
        );
        assert_eq!(up.authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let h = |n: &str| {
            up.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("accept"), Some("application/vnd.amazon.eventstream"));
        assert!(h("authorization").unwrap().starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/bedrock/aws4_request"
        ));
        assert_eq!(h("x-amz-date"), Some("20231114T221320Z"));
        assert_eq!(h("x-amz-security-token"), Some("tok"));
        assert_eq!(ex.model, "gpt-4o");
        assert_eq!(
            ex.bedrock_model,
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert!(ex.stream);
        let body: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
    }

    #[test]
    fn bedrock_model_wins_over_alias_and_model_provider_over_inference() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let call = |body: &str| chat(&cfg(), body.as_bytes(), now, None).unwrap();
        // Alias only.
        let (up, ex) = call(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(
            ex.bedrock_model,
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert!(up.path.contains("claude-3-5-sonnet"));
        // bedrock_model over the alias; the client still sees its own model name.
        let (up, ex) = call(
            r#"{"model":"gpt-4o","bedrock_model":"amazon.nova-pro-v1:0","messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(ex.bedrock_model, "amazon.nova-pro-v1:0");
        assert_eq!(ex.model, "gpt-4o");
        assert_eq!(up.path, "/model/amazon.nova-pro-v1%3A0/converse");
        // A provisioned-model ARN says nothing about its family: model_provider does. Here it
        // turns on the Claude 4 temperature/top_p policy, reported in `ignored`.
        let arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456";
        let body = format!(
            r#"{{"model":"x","bedrock_model":"{arn}","messages":[{{"role":"user","content":"hi"}}],"temperature":0.5,"top_p":0.5,"seed":3}}"#
        );
        let (_, ex) = call(&body);
        assert_eq!(ex.ignored, vec!["seed"]);
        let body = body.replace(
            r#""model":"x""#,
            r#""model":"x","model_provider":"anthropic""#,
        );
        let (up, ex) = call(&body);
        assert_eq!(ex.ignored, vec!["seed", "top_p"]);
        let sent: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert!(sent["inferenceConfig"].get("topP").is_none());
    }

    #[test]
    fn only_allowed_client_headers_go_upstream() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let (up, ex) = chat(
            &cfg(),
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            now,
            None,
        )
        .unwrap();
        let client = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/v1/chat/completions"),
            (":authority", "localhost:10000"),
            ("content-type", "application/json"),
            ("content-length", "70"),
            ("content-encoding", "gzip"),
            ("authorization", "Bearer sk-local-demo"),
            ("x-api-key", "k"),
            ("x-amz-security-token", "forged"),
            ("x-amzn-trace-id", "t"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "http"),
            ("x-envoy-original-path", "/evil"),
            ("x-bedrock-tenant", "forged"),
            ("x-custom", "1"),
            ("cookie", "c"),
            ("openai-organization", "o"),
            ("x-request-id", "rid-1"),
        ];
        let run = |descriptors: bool| {
            let mut c = cfg();
            c.rate_limit_descriptors = descriptors;
            let mut h = HeaderList::new(
                client
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            upstream_head(&mut h, &c, "acme", &up, &ex);
            h
        };
        let h = run(false);
        let mut names: Vec<&str> = h.entries().iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                ":authority",
                ":method",
                ":path",
                ":scheme",
                "accept",
                "authorization",
                "content-length",
                "content-type",
                "x-amz-date",
                "x-amz-security-token",
                "x-forwarded-proto",
                "x-request-id"
            ]
        );
        assert_eq!(
            h.get(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert!(h
            .get("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256"));
        assert_eq!(h.get("x-amz-security-token"), Some("tok"));
        assert_eq!(
            h.get("content-length"),
            Some(up.body.len().to_string().as_str())
        );
        // Descriptors only when configured, with the canonical model.
        let h = run(true);
        assert_eq!(h.get("x-bedrock-tenant"), Some("acme"));
        assert_eq!(
            h.get("x-bedrock-model-id"),
            Some("anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
        assert!(h.get("x-bedrock-token-estimate").is_some());
    }
}
