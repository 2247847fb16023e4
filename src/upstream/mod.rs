//! The Bedrock request: path, authority, headers and signed body for one client request,
//! plus the [`Exchange`] the response phase needs to answer in the client's terms.
//!
//! Two upstream modes ([`Upstream`]): **AWS** (Bedrock Runtime itself, SigV4 with static or
//! refreshed credentials, or a Bedrock API key as a bearer token) and **gateway** (a custom
//! Bedrock gateway: its own path template and model aliases, a token header, no SigV4).

pub mod credentials;
pub mod side_call;
pub mod sigv4;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use self::sigv4::Credentials;
use crate::catalog::models;
use crate::error::ApiError;
use crate::stream::OutputFormat;
use crate::translate::tools::OutputMode;
use crate::upstream::credentials::CredentialSource;

/// The custom gateway's default path (seed `bedrock-proxy-custom-gateway.md`).
pub(crate) const GATEWAY_PATH_TEMPLATE: &str = "/v1.0/model/bedrock/model/{model}/{operation}";

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
    /// No credentials in the filter: only with [`Signing::Envoy`], whose credential providers
    /// sign the Converse calls. The filter's own side calls, which it must sign itself, are
    /// answered with a 503 ([`no_filter_credentials`]).
    Absent,
}

/// Who signs the Converse calls of client requests (`signing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Signing {
    /// The filter, with aws-sigv4: SHA-256 runs in Wasm (soft under V8, ~4.5 µs per KB).
    #[default]
    Filter,
    /// Envoy's `aws_request_signing` filter, placed after this one: the filter prepares path,
    /// authority, body and length, and adds no SigV4 header. Side calls (embeddings, the key
    /// table) never pass through the filter chain, so the filter still signs those.
    Envoy,
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
/// `x-envoy-*`, arbitrary custom headers) is removed; `pipeline::bedrock::upstream_head` then sets what
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
pub(crate) fn allowed_upstream(name: &str) -> bool {
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
pub(crate) fn descriptor_headers(tenant: &str, ex: &Exchange) -> [(&'static str, String); 3] {
    [
        ("x-bedrock-tenant", tenant.to_string()),
        ("x-bedrock-model-id", ex.canonical_model.clone()),
        (
            "x-bedrock-token-estimate",
            ex.estimated_input_tokens.to_string(),
        ),
    ]
}

/// 503 while the credentials source has not delivered valid credentials: the request is
/// never sent unsigned.
pub(crate) fn no_credentials() -> ApiError {
    ApiError::service_unavailable(
        "No valid AWS credentials are available yet (the credentials source has not answered, or its credentials expired); retry shortly.",
    )
    .with_code("credentials_unavailable")
}

/// 503 for a call the filter must sign itself (an embeddings `InvokeModel` side call, which
/// does not pass through Envoy's filter chain) when, with `signing: envoy`, it has no AWS
/// credentials of its own.
pub(crate) fn no_filter_credentials() -> ApiError {
    ApiError::service_unavailable(
        "This gateway has Envoy sign its Bedrock calls and holds no AWS credentials for the calls it makes itself (such as embeddings).",
    )
    .with_code("credentials_unavailable")
}

/// Seconds since the epoch, for `created`.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
