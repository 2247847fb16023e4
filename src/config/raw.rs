//! The plugin configuration's JSON shapes below the top level (which is `RawConfig` in
//! `mod.rs`), as written; [`super::Config::parse`] validates them. Unknown fields are
//! rejected everywhere so typos do not silently disable things.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::document as json;

/// `#[serde(default = "yes")]`.
pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTenant {
    /// May be empty (or absent) when the keys come from `api_keys_source` or the tenant's
    /// callers from `iam_auth`.
    #[serde(default)]
    pub key_sha256: Vec<String>,
    #[serde(default)]
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default = "yes")]
    pub allow_bedrock_model: bool,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub model_limits: BTreeMap<String, RawLimits>,
    #[serde(default)]
    pub service_tier: Option<super::policy::RawServiceTier>,
    #[serde(default)]
    pub guardrail: Option<super::policy::RawGuardrail>,
    #[serde(default)]
    pub model_guardrails: BTreeMap<String, super::policy::RawGuardrail>,
    #[serde(default)]
    pub allow_request_guardrail: bool,
    #[serde(default)]
    pub prompt_caching: Option<RawAutoCache>,
    #[serde(default)]
    pub model_prompt_caching: BTreeMap<String, RawAutoCache>,
    #[serde(default)]
    pub token_weights: Option<RawTokenWeights>,
    /// Buckets the tenant's requests may name in `s3://` URLs; absent: the top level's.
    #[serde(default)]
    pub s3_buckets: Option<Vec<String>>,
}

/// `prompt_caching` (top level, a tenant's, or one model's of a tenant): where the filter puts
/// cache points a request did not ask for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutoCache {
    #[serde(default)]
    pub positions: Option<Vec<String>>,
    #[serde(default)]
    pub ttl: Option<String>,
}

/// `models[].prompt_caching`: the model's Bedrock prompt caching.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModelCaching {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub min_tokens: Option<u32>,
    #[serde(default)]
    pub tools: Option<bool>,
    #[serde(default)]
    pub ttl_1h: Option<bool>,
}

/// `token_weights`, at the top level or a tenant's: what a prompt-cache token counts for
/// against `tokens_per_minute`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTokenWeights {
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// `embeddings`: how `/v1/embeddings` calls Bedrock (signed side calls through a cluster).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmbeddings {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// `credentials_source`: its `type` selects the variant, each with only its own fields
/// (`role` is for `imds`, `path` and `authorization` for `container`).
#[derive(Debug)]
pub(super) enum RawCredentialSource {
    Imds(RawImds),
    Container(RawContainer),
}

impl<'de> Deserialize<'de> for RawCredentialSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        json::deserialize_tagged(d, " is not `imds` or `container`", |tag, rest| match tag {
            "imds" => Some(json::variant(rest).map(Self::Imds)),
            "container" => Some(json::variant(rest).map(Self::Container)),
            _ => None,
        })
    }
}

/// `credentials_source` with `type: imds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImds {
    pub cluster: String,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub refresh_before_seconds: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `credentials_source` with `type: container`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContainer {
    pub cluster: String,
    #[serde(default)]
    pub authority: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub authorization: Option<String>,
    #[serde(default)]
    pub refresh_before_seconds: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    pub host: String,
    #[serde(default)]
    pub path_template: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_header: Option<String>,
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub id: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input_modalities: Option<Vec<String>>,
    #[serde(default)]
    pub output_modalities: Option<Vec<String>>,
    #[serde(default)]
    pub context_window: Option<u32>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub streaming: Option<bool>,
    #[serde(default)]
    pub tools: Option<bool>,
    #[serde(default)]
    pub inference_profiles: Option<Vec<String>>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub created: Option<u64>,
    #[serde(default)]
    pub prompt_caching: Option<RawModelCaching>,
    #[serde(default)]
    pub documents: Option<bool>,
    #[serde(default)]
    pub citations: Option<bool>,
    #[serde(default)]
    pub s3_sources: Option<bool>,
    #[serde(default)]
    pub tool_result_images: Option<bool>,
}
