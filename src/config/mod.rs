//! Plugin configuration: parsed and validated once at plugin start (`on_configure`), then
//! shared read-only by every request. A bad config fails start with a message naming the field.
//!
//! ```json
//! {
//!   "api_keys": ["sk-local-demo"],
//!   "tenants": {
//!     "acme": {
//!       "key_sha256": ["<hex SHA-256 of the key>"],
//!       "models": ["gpt-4o"],
//!       "admin": false,
//!       "limits": {"requests_per_minute": 60, "tokens_per_minute": 100000},
//!       "model_limits": {"gpt-4o": {"requests_per_minute": 10}}
//!     }
//!   },
//!   "max_request_body_bytes": 1048576,
//!   "usage_window_seconds": 86400,
//!   "region": "us-east-1",
//!   "bedrock_host": "bedrock-runtime.us-east-1.amazonaws.com",
//!   "credentials": {"access_key_id": "…", "secret_access_key": "…", "session_token": "…"},
//!   "model_aliases": {"gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
//!   "models": [{"id": "acme.model-v1:0", "provider": "acme", "context_window": 32000}],
//!   "builtin_models": true
//! }
//! ```
//! How Bedrock is reached (see [`crate::upstream::Upstream`]), first match wins:
//! - `gateway`: a custom Bedrock gateway with a token header, no SigV4;
//! - `credentials`: static SigV4 credentials;
//! - `credentials_source`: SigV4 with credentials fetched and refreshed from IMDSv2 or the
//!   container credentials endpoint;
//! - `bedrock_api_key`: a Bedrock API key sent as a bearer token;
//! - the Envoy process environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`, else `AWS_BEARER_TOKEN_BEDROCK` (passed to the VM through
//!   `vm_config.environment_variables.host_env_keys`). `region` falls back to `AWS_REGION`.
//!
//! `signing: "envoy"` leaves SigV4 of the Converse calls to Envoy's `aws_request_signing`
//! filter after this one (then the filter's own credentials, if any, sign only its side calls).

mod models;
pub mod path_forms;
mod policy;
mod raw;
mod s3;
mod tenants;
mod upstream;
pub use upstream::EmbeddingsConfig;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use self::path_forms::PathForms;
use self::raw::{
    RawAutoCache, RawCredentialSource, RawCredentials, RawGateway, RawModel, RawTenant,
    RawTokenWeights,
};
use crate::accounting::ratelimit::TokenWeights;
use crate::auth::iam::{IamAuth, RawIamAuth};
use crate::auth::key_source::{KeySource, RawKeySource};
use crate::auth::tenant::TenantTable;
use crate::catalog::Catalog;
use crate::document::{from_json_value, json_error};
use crate::upstream::{AwsAuth, Signing, Upstream};

/// The tenant `api_keys` belong to.
pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_USAGE_WINDOW_SECONDS: u64 = 86_400;
pub const DEFAULT_MAX_USAGE_MODELS_PER_TENANT: usize = 64;

/// The raw JSON shape of the top level (the sections' shapes are in [`raw`]); unknown fields
/// are rejected so typos do not silently disable things. One field per line:
/// `tests/deploy/test_deploy.py` reads the field names from here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api_keys: Vec<String>,
    #[serde(default)]
    tenants: BTreeMap<String, RawTenant>,
    #[serde(default)]
    max_request_body_bytes: Option<u64>,
    #[serde(default)]
    usage_window_seconds: Option<u64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    bedrock_host: Option<String>,
    #[serde(default)]
    credentials: Option<RawCredentials>,
    #[serde(default)]
    credentials_source: Option<RawCredentialSource>,
    #[serde(default)]
    bedrock_api_key: Option<String>,
    #[serde(default)]
    gateway: Option<RawGateway>,
    #[serde(default)]
    signing: Option<String>,
    #[serde(default)]
    model_aliases: BTreeMap<String, String>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default = "raw::yes")]
    builtin_models: bool,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    azure_deployments: BTreeMap<String, String>,
    #[serde(default)]
    api_keys_source: Option<RawKeySource>,
    #[serde(default)]
    iam_auth: Option<RawIamAuth>,
    #[serde(default)]
    rate_limit_descriptors: bool,
    #[serde(default)]
    max_usage_models_per_tenant: Option<usize>,
    #[serde(default)]
    prompt_caching: Option<RawAutoCache>,
    #[serde(default)]
    token_weights: Option<RawTokenWeights>,
    #[serde(default)]
    embeddings: Option<raw::RawEmbeddings>,
    #[serde(default)]
    s3_buckets: Option<Vec<String>>,
    #[serde(default)]
    s3_bucket_owners: BTreeMap<String, String>,
    #[serde(default)]
    fleet: Option<crate::fleet::RawFleet>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// API keys (as SHA-256 digests) → tenants; `api_keys` are the tenant `default`.
    pub tenants: TenantTable,
    /// Larger request bodies are refused with 413 (from `content-length`, or while buffering).
    pub max_request_body_bytes: u64,
    /// Length of the `GET /v1/usage` accounting window.
    pub usage_window_seconds: u64,
    /// The default AWS region (signing scope and host), overridable per model.
    pub region: String,
    /// `:authority` and SigV4 host of the upstream Bedrock endpoint in `region`.
    pub bedrock_host: String,
    /// Whether `bedrock_host` was configured (then it is used for every region).
    pub bedrock_host_explicit: bool,
    /// How requests reach Bedrock and authenticate.
    pub upstream: Upstream,
    /// Who signs the Converse calls: the filter, or Envoy's `aws_request_signing` after it.
    pub signing: Signing,
    pub model_aliases: BTreeMap<String, String>,
    /// Models for `/v1/models`, with aliases.
    pub catalog: Catalog,
    /// Accepted URL forms: `/v1`, `path_prefix`, Azure deployments ([`crate::pipeline::route`]).
    pub path_forms: PathForms,
    /// Where the tenant key table kept in AWS is read from ([`crate::auth::key_source`]).
    pub key_source: Option<KeySource>,
    /// IAM caller authentication through STS ([`crate::auth::iam`]).
    pub iam: Option<IamAuth>,
    /// Set the `x-bedrock-tenant`/`-model-id`/`-token-estimate` request headers for Envoy's
    /// global `ratelimit` filter (whose config must remove them before the upstream).
    pub rate_limit_descriptors: bool,
    /// Distinct models counted per tenant in `/v1/usage`; the rest are counted as `other`.
    pub max_usage_models_per_tenant: usize,
    /// The cache points the gateway adds by itself, under every tenant's own `prompt_caching`.
    pub prompt_caching: crate::translate::request::AutoCache,
    /// What prompt-cache tokens weigh against `tokens_per_minute`, for tenants that do not
    /// say (every tenant carries its own in [`Tenant::token_weights`]).
    pub token_weights: TokenWeights,
    /// How `/v1/embeddings` calls Bedrock.
    pub embeddings: upstream::EmbeddingsConfig,
    /// The S3 buckets `s3://` URLs may name, for tenants that do not say (every tenant
    /// carries its own in [`Tenant::s3`]).
    pub s3: crate::translate::request::S3Access,
    /// Canonical ids of every model the configuration names (catalog, aliases, tenants):
    /// the only ones with their own metric names.
    pub known_models: BTreeSet<String>,
    /// Deprecated fields that were accepted (see [`crate::config::version`]); logged at start.
    pub warnings: Vec<String>,
    /// Fleet mode: limits and usage kept across replicas in DynamoDB ([`crate::fleet`]);
    /// `None`: single-instance mode (shared data).
    pub fleet: Option<crate::fleet::FleetConfig>,
}

/// A configuration problem, worded to name the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid plugin configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl From<String> for ConfigError {
    fn from(msg: String) -> Self {
        Self(msg)
    }
}

impl From<&str> for ConfigError {
    fn from(msg: &str) -> Self {
        Self(msg.to_string())
    }
}

/// The errors of the sections other layers validate; their texts already name the field.
macro_rules! section_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for ConfigError {
            fn from(e: $t) -> Self {
                Self(e.to_string())
            }
        }
    )*};
}
section_errors!(
    crate::document::DocumentError,
    crate::auth::key_source::KeySourceError,
    crate::auth::iam::IamConfigError,
    crate::fleet::FleetConfigError
);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

fn is_region(r: &str) -> bool {
    !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The Bedrock Runtime host of a region.
pub fn default_host(region: &str) -> String {
    format!("bedrock-runtime.{region}.amazonaws.com")
}

/// Looks up an environment variable of the Envoy process.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A value, `None` when it is absent or blank.
fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl Config {
    /// Parses the plugin configuration; `env` looks up environment variables.
    pub fn parse(bytes: &[u8], env: Env) -> Result<Self, ConfigError> {
        // Errors name the field, never its value: the configuration holds secrets.
        let value = serde_json::from_slice(bytes).map_err(|e| err(json_error(&e, None)))?;
        let (value, warnings) = version::lower(value)?;
        let mut raw: RawConfig = from_json_value(&value, &|_| true)?;

        let keys_elsewhere = raw.api_keys_source.is_some() || raw.iam_auth.is_some();
        check_api_keys(&raw.api_keys, raw.tenants.is_empty(), keys_elsewhere)?;
        models::check_model_names(&raw.model_aliases, &raw.azure_deployments)?;
        let (tenants, prompt_caching, token_weights, s3) =
            tenants_with_defaults(&mut raw, keys_elsewhere)?;
        let max_usage_models_per_tenant = at_least_1(
            "max_usage_models_per_tenant",
            raw.max_usage_models_per_tenant,
            DEFAULT_MAX_USAGE_MODELS_PER_TENANT,
        )?;
        let max_request_body_bytes = at_least_1(
            "max_request_body_bytes",
            raw.max_request_body_bytes,
            DEFAULT_MAX_REQUEST_BODY_BYTES,
        )?;
        let usage_window_seconds = at_least_1(
            "usage_window_seconds",
            raw.usage_window_seconds,
            DEFAULT_USAGE_WINDOW_SECONDS,
        )?;
        let (region, bedrock_host) =
            region_and_host(raw.region, raw.bedrock_host, raw.gateway.is_some(), env)?;
        let (upstream, signing) = upstream::upstream(
            upstream::RawUpstream {
                gateway: raw.gateway,
                credentials: raw.credentials,
                credentials_source: raw.credentials_source,
                bedrock_api_key: raw.bedrock_api_key,
                signing: raw.signing,
            },
            env,
        )?;
        let models = raw
            .models
            .into_iter()
            .enumerate()
            .map(|(i, m)| models::parse_model(i, m))
            .collect::<Result<Vec<_>, _>>()?;
        upstream::envoy_region(signing, &models, &region, bedrock_host.is_some())?;
        let catalog = Catalog::new(raw.builtin_models, models, raw.model_aliases.clone());
        let path_forms = PathForms::new(raw.path_prefix, raw.azure_deployments)?;
        let key_source = key_source(raw.api_keys_source, &region, &upstream)?;
        let iam = iam_auth(raw.iam_auth, &region, &tenants)?;
        let embeddings = upstream::embeddings(raw.embeddings)?;
        let fleet = fleet(raw.fleet, &region, &upstream, env)?;
        Ok(Self {
            fleet,
            embeddings,
            known_models: models::known_models(&catalog, &tenants),
            tenants,
            max_request_body_bytes,
            usage_window_seconds,
            bedrock_host_explicit: bedrock_host.is_some(),
            bedrock_host: bedrock_host.unwrap_or_else(|| default_host(&region)),
            region,
            upstream,
            signing,
            model_aliases: raw.model_aliases,
            catalog,
            path_forms,
            key_source,
            iam,
            rate_limit_descriptors: raw.rate_limit_descriptors,
            max_usage_models_per_tenant,
            prompt_caching,
            token_weights,
            s3,
            warnings,
        })
    }

    /// A model's name in metric names: its canonical id if the configuration names it, else
    /// `other`. Keeps the number of metrics bounded by the configuration.
    pub fn metric_model<'a>(&self, canonical_model: &'a str) -> &'a str {
        if self.known_models.contains(canonical_model) {
            canonical_model
        } else {
            crate::accounting::usage::OTHER_MODELS
        }
    }

    /// Region and host to call a Bedrock model id in: the catalog entry's `region` if it has
    /// one, else the configured region.
    pub fn region_for(&self, bedrock_id: &str) -> (&str, String) {
        match self
            .catalog
            .entry_for(bedrock_id)
            .and_then(|e| e.region.as_deref())
        {
            Some(r) if r != self.region && !self.bedrock_host_explicit => (r, default_host(r)),
            _ => (&self.region, self.bedrock_host.clone()),
        }
    }
}

fn check_api_keys(
    api_keys: &[String],
    no_tenants: bool,
    keys_elsewhere: bool,
) -> Result<(), ConfigError> {
    if api_keys.is_empty() && no_tenants && !keys_elsewhere {
        return Err(err(
            "`api_keys` or `tenants` must list at least one key (`api_keys` is missing or empty; or set `api_keys_source` or `iam_auth`)",
        ));
    }
    if let Some(i) = api_keys.iter().position(|k| k.trim().len() < 8) {
        return Err(err(format!("`api_keys[{i}]` is shorter than 8 characters")));
    }
    Ok(())
}

/// A count that is absent (the default) or at least 1.
fn at_least_1<T: Copy + PartialEq + From<u8>>(
    field: &str,
    value: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        Some(n) if n == T::from(0) => Err(err(format!("`{field}` must be at least 1"))),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

/// The region (`region`, else `AWS_REGION`) and the configured `bedrock_host`, if any.
fn region_and_host(
    region: Option<String>,
    bedrock_host: Option<String>,
    gateway_mode: bool,
    env: Env,
) -> Result<(String, Option<String>), ConfigError> {
    let region = match nonempty(region).or_else(|| nonempty(env("AWS_REGION"))) {
        Some(r) => r,
        // A gateway does not need a region; it is only reported in /v1/mappings.
        None if gateway_mode => "us-east-1".to_string(),
        None => {
            return Err(err(
                "`region` is not set and AWS_REGION is not in the environment",
            ))
        }
    };
    if !is_region(&region) {
        return Err(err("`region` is not an AWS region name"));
    }
    let host = nonempty(bedrock_host);
    // Found by fuzzing: a host SigV4 cannot sign used to pass here and fail every request
    // with a 500.
    let checked = host.clone().unwrap_or_else(|| default_host(&region));
    if crate::upstream::sigv4::check_host(&checked).is_err() {
        return Err(err(
            "`bedrock_host` is not a host[:port] (no scheme, no path)",
        ));
    }
    Ok((region, host))
}

/// `api_keys_source`: read with the filter's own AWS credentials.
fn key_source(
    raw: Option<RawKeySource>,
    region: &str,
    upstream: &Upstream,
) -> Result<Option<KeySource>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let source = KeySource::from_raw(raw, region)?;
    if !matches!(
        upstream,
        Upstream::Aws(AwsAuth::SigV4(_) | AwsAuth::Refreshed(_))
    ) {
        return Err(err(
            "`api_keys_source` is read with AWS credentials: set `credentials`, `credentials_source` or the AWS_* environment (not `gateway` or `bedrock_api_key`)",
        ));
    }
    Ok(Some(source))
}

/// `fleet`: the store is called with the filter's own AWS credentials.
fn fleet(
    raw: Option<crate::fleet::RawFleet>,
    region: &str,
    upstream: &Upstream,
    env: Env,
) -> Result<Option<crate::fleet::FleetConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let fleet = crate::fleet::FleetConfig::from_raw(raw, region, env)?;
    if !matches!(
        upstream,
        Upstream::Aws(AwsAuth::SigV4(_) | AwsAuth::Refreshed(_))
    ) {
        return Err(err(
            "`fleet` calls DynamoDB with AWS credentials: set `credentials`, `credentials_source` or the AWS_* environment (not `gateway` or `bedrock_api_key`)",
        ));
    }
    Ok(Some(fleet))
}

/// `iam_auth`: every principal's tenant must be configured.
fn iam_auth(
    raw: Option<RawIamAuth>,
    region: &str,
    tenants: &TenantTable,
) -> Result<Option<IamAuth>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let iam = IamAuth::from_raw(raw, region)?;
    // The tenant (a value) is not repeated; the ARN is the entry's key.
    if let Some(arn) = iam
        .principals
        .iter()
        .find_map(|(arn, t)| tenants.get(t).is_none().then_some(arn))
    {
        return Err(err(format!(
            "`iam_auth.principals` maps `{arn}` to a tenant that is not in `tenants` (add it there for its models and limits)"
        )));
    }
    Ok(Some(iam))
}

impl Config {
    /// Shared-data keys the shell creates (empty) at plugin start if absent: each tenant's
    /// usage, and the rate-limit bucket of every model a limited tenant lists. Buckets of
    /// models not listed are created on first use.
    pub fn shared_data_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for t in self.tenants.tenants() {
            keys.push(crate::accounting::usage::key(&t.name));
            for m in t.models.iter().flatten() {
                if !t.limits_for(m).is_unlimited() {
                    keys.push(crate::accounting::ratelimit::bucket_key(
                        self.region_for(m).0,
                        &t.name,
                        m,
                    ));
                }
            }
        }
        keys
    }
}

/// The tenant table, and the top-level defaults every tenant inherits field by field
/// (automatic prompt caching, token weights, S3 buckets).
fn tenants_with_defaults(
    raw: &mut RawConfig,
    keys_elsewhere: bool,
) -> Result<
    (
        TenantTable,
        crate::translate::request::AutoCache,
        TokenWeights,
        crate::translate::request::S3Access,
    ),
    ConfigError,
> {
    let prompt_caching = tenants::auto_cache("prompt_caching", raw.prompt_caching.take())?;
    let token_weights = tenants::token_weights(
        "token_weights",
        raw.token_weights.take(),
        TokenWeights::default(),
    )?;
    let s3_owners = s3::bucket_owners(std::mem::take(&mut raw.s3_bucket_owners))?;
    let s3 = s3::access(
        "s3_buckets",
        raw.s3_buckets.take(),
        &s3_owners,
        &Default::default(),
    )?;
    let tenants = tenants::tenant_table(
        &raw.api_keys,
        std::mem::take(&mut raw.tenants),
        &raw.model_aliases,
        keys_elsewhere,
        &tenants::Defaults {
            caching: prompt_caching,
            weights: token_weights,
            s3: s3.clone(),
            s3_owners,
        },
    )?;
    Ok((tenants, prompt_caching, token_weights, s3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::ratelimit::Limits;
    use crate::upstream::credentials::SourceKind;
    use crate::upstream::sigv4::Credentials;
    use serde_json::json;

    /// SHA-256 of `sk-local-demo`.
    const DEMO_SHA: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

    #[test]
    fn tenants_and_api_keys() {
        let c = Config::parse(
            json!({"api_keys": ["sk-plain-key-1"], "tenants": {"acme": {
                "key_sha256": [DEMO_SHA], "models": ["gpt-4o"], "admin": true,
                "limits": {"requests_per_minute": 5},
                "model_limits": {"gpt-4o": {"tokens_per_minute": 100}}}}})
            .to_string()
            .as_bytes(),
            &demo_env,
        )
        .unwrap();
        assert_eq!(c.max_request_body_bytes, DEFAULT_MAX_REQUEST_BODY_BYTES);
        assert_eq!(c.usage_window_seconds, DEFAULT_USAGE_WINDOW_SECONDS);
        let acme = c
            .tenants
            .authenticate(Some("Bearer sk-local-demo"))
            .unwrap();
        assert_eq!(acme.name, "acme");
        assert!(acme.admin);
        assert_eq!(
            acme.limits_for("gpt-4o"),
            Limits {
                requests_per_minute: Some(5),
                tokens_per_minute: Some(100)
            }
        );
        let d = c
            .tenants
            .authenticate(Some("Bearer sk-plain-key-1"))
            .unwrap();
        assert_eq!(d.name, DEFAULT_TENANT);
        assert!(d.allows("any") && !d.admin && d.limits.is_unlimited());
        assert_eq!(c.tenants.key_count(), 2);
    }

    #[test]
    fn token_weights_default_per_field_from_the_top_level() {
        let c = Config::parse(
            json!({"api_keys": ["sk-other-key"], "region": "us-east-1",
                "credentials": {"access_key_id": "AKID", "secret_access_key": "s"},
                "token_weights": {"cache_read": 0.0125, "cache_write": 2},
                "tenants": {"acme": {"key_sha256": [DEMO_SHA], "token_weights": {"cache_write": 0}}}})
            .to_string()
            .as_bytes(),
            &no_env,
        )
        .unwrap();
        let w = |read, write| TokenWeights {
            cache_read_milli: read,
            cache_write_milli: write,
        };
        assert_eq!(c.token_weights, w(13, 2000));
        assert_eq!(c.tenants.get("default").unwrap().token_weights, w(13, 2000));
        assert_eq!(c.tenants.get("acme").unwrap().token_weights, w(13, 0));
    }

    #[test]
    fn tenant_models_and_limits_are_kept_by_canonical_id() {
        let c = Config::parse(
            json!({"region": "us-east-1", "credentials": {"access_key_id": "AKID", "secret_access_key": "s"},
                "model_aliases": {"gpt-4o-mini": "us.amazon.nova-lite-v1:0"},
                "rate_limit_descriptors": true, "max_usage_models_per_tenant": 3,
                "tenants": {"acme": {"key_sha256": [DEMO_SHA], "allow_bedrock_model": false,
                    "models": ["gpt-4o-mini", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"],
                    "model_limits": {"gpt-4o-mini": {"requests_per_minute": 3}}}}})
            .to_string()
            .as_bytes(),
            &no_env,
        )
        .unwrap();
        let acme = c.tenants.get("acme").unwrap();
        let want: std::collections::BTreeSet<String> =
            ["amazon.nova-lite-v1:0", "amazon.nova-pro-v1:0"]
                .map(String::from)
                .into();
        assert_eq!(acme.models.as_ref(), Some(&want));
        assert_eq!(
            acme.limits_for("amazon.nova-lite-v1:0").requests_per_minute,
            Some(3)
        );
        assert!(!acme.allow_bedrock_model);
        assert!(c.rate_limit_descriptors);
        assert_eq!(c.max_usage_models_per_tenant, 3);
        assert_eq!(acme.token_weights, TokenWeights::default());
        assert_eq!(
            c.metric_model("amazon.nova-lite-v1:0"),
            "amazon.nova-lite-v1:0"
        );
        assert_eq!(c.metric_model("made.up-model"), "other");
    }

    #[test]
    fn model_names_in_the_configuration_are_checked() {
        let base = || json!({"region": "us-east-1", "credentials": {"access_key_id": "AKID", "secret_access_key": "s"}, "api_keys": ["sk-local-demo"]});
        let cases = [
            (
                json!({"model_aliases": {"a": "bad id\r\n"}}),
                "model_aliases",
            ),
            (
                json!({"model_aliases": {"a\r\nx": "amazon.nova-pro-v1:0"}}),
                "model_aliases",
            ),
            (json!({"model_aliases": {"a": "x/y"}}), "model_aliases"),
            (
                json!({"azure_deployments": {"d": "not an id"}}),
                "azure_deployments.d",
            ),
            (
                json!({"models": [{"id": "a b", "provider": "p"}]}),
                "models[0].id",
            ),
            (
                json!({"tenants": {"t": {"key_sha256": [DEMO_SHA], "models": ["a/b"]}}}),
                "tenants.t.models[0]",
            ),
            (
                json!({"model_aliases": {"m": "us.amazon.nova-pro-v1:0"}, "tenants": {"t": {"key_sha256": [DEMO_SHA],
                    "model_limits": {"m": {"requests_per_minute": 1}, "amazon.nova-pro-v1:0": {"requests_per_minute": 2}}}}}),
                "model_limits",
            ),
            (
                json!({"max_usage_models_per_tenant": 0}),
                "max_usage_models_per_tenant",
            ),
        ];
        for (extra, field) in cases {
            let mut v = base();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            let e = Config::parse(v.to_string().as_bytes(), &no_env).unwrap_err();
            assert!(e.0.contains(field), "{field}: {e}");
            assert!(!e.0.contains('\r') && !e.0.contains('\n'), "{e}");
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn sigv4(c: &Config) -> &Credentials {
        match &c.upstream {
            Upstream::Aws(AwsAuth::SigV4(creds)) => creds,
            other => panic!("not static SigV4: {other:?}"),
        }
    }

    fn demo_env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDENV".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            "AWS_REGION" => Some("eu-west-1".into()),
            _ => None,
        }
    }

    #[test]
    fn minimal_config_takes_region_and_credentials_from_env() {
        let c = Config::parse(
            json!({"api_keys": ["sk-local-demo"]})
                .to_string()
                .as_bytes(),
            &demo_env,
        )
        .unwrap();
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.bedrock_host, "bedrock-runtime.eu-west-1.amazonaws.com");
        assert_eq!(sigv4(&c).access_key_id, "AKIDENV");
        assert_eq!(sigv4(&c).session_token, None);
    }

    #[test]
    fn explicit_values_win_over_env() {
        let c = Config::parse(
            json!({"api_keys": ["sk-local-demo"], "region": "us-west-2", "bedrock_host": "bedrock.internal",
                   "credentials": {"access_key_id": "AKID", "secret_access_key": "s", "session_token": "t"},
                   "model_aliases": {"gpt-4o": "x:0"}})
            .to_string()
            .as_bytes(),
            &demo_env,
        )
        .unwrap();
        assert_eq!(
            (c.region.as_str(), c.bedrock_host.as_str()),
            ("us-west-2", "bedrock.internal")
        );
        assert_eq!(sigv4(&c).session_token.as_deref(), Some("t"));
        assert_eq!(c.model_aliases["gpt-4o"], "x:0");
    }

    #[test]
    fn a_bedrock_host_that_cannot_be_signed_fails_start() {
        // Regression (fuzz target `config`): accepted, then every request failed with a 500.
        for host in [
            "bedrock.i?nternal[",
            "user@host",
            "https://bedrock.example",
            "a b",
        ] {
            let e = Config::parse(
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1", "bedrock_host": host,
                       "credentials": {"access_key_id": "a", "secret_access_key": "b"}})
                .to_string()
                .as_bytes(),
                &|_| None,
            )
            .unwrap_err();
            assert!(e.to_string().contains("`bedrock_host`"), "{host}: {e}");
        }
        for host in [
            "bedrock.internal",
            "127.0.0.1:18080",
            "vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com",
        ] {
            let c = Config::parse(
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1", "bedrock_host": host,
                       "credentials": {"access_key_id": "a", "secret_access_key": "b"}})
                .to_string()
                .as_bytes(),
                &|_| None,
            )
            .unwrap();
            assert_eq!(c.bedrock_host, host);
        }
    }

    #[test]
    fn credentials_that_cannot_go_in_a_header_fail_start() {
        // Regression (fuzz target `config`): a DEL in the session token was accepted, then
        // signing failed on every request with a 500.
        for (creds, field) in [
            (
                json!({"access_key_id": "AKID", "secret_access_key": "s", "session_token": "t\u{7f}"}),
                "session_token",
            ),
            (
                json!({"access_key_id": "AK\nID", "secret_access_key": "s"}),
                "access_key_id",
            ),
        ] {
            let e = Config::parse(
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1", "credentials": creds})
                    .to_string()
                    .as_bytes(),
                &|_| None,
            )
            .unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        let env = |k: &str| match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("s".to_string()),
            "AWS_SESSION_TOKEN" => Some("tok\u{1}".to_string()),
            _ => None,
        };
        let e = Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1"}"#,
            &env,
        )
        .unwrap_err();
        assert!(e.to_string().contains("AWS_SESSION_TOKEN"), "{e}");
        // A secret key is only hashed, never sent: anything goes.
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","credentials":{"access_key_id":"AKID","secret_access_key":"s\u007f\n"}}"#,
            &|_| None,
        )
        .unwrap();
    }

    /// Found in review: errors quoted values (serde's `invalid type: string "…"`, and a few
    /// of this module's own), and Envoy logs them at start. A secret put in the wrong place
    /// must not reach the log: errors name the field, never its value.
    #[test]
    fn errors_never_repeat_a_value() {
        const S: &str = "sk-SECRET-MARKER-1";
        let base = json!({"api_keys": ["sk-local-demo"], "region": "us-east-1",
            "credentials": {"access_key_id": "AKID", "secret_access_key": "s"}});
        let with = |k: &str, v: serde_json::Value| {
            let mut c = base.clone();
            c[k] = v;
            c
        };
        let cases = [
            (
                with("api_keys", json!(S)),
                "`api_keys`: invalid type: string",
            ),
            (
                with("api_keys", json!([{"key": S}])),
                "`api_keys[0]`: invalid type: map",
            ),
            (
                with("credentials", json!(S)),
                "`credentials`: invalid type: string",
            ),
            (
                with(
                    "credentials",
                    json!({"access_key_id": "AKID", "secret_access_key": [S]}),
                ),
                "`credentials.secret_access_key`: invalid type: sequence, expected a string",
            ),
            (
                with(
                    "credentials",
                    json!({"access_key_id": "AKID", "secret_acces_key": S}),
                ),
                "`credentials`: unknown field `secret_acces_key`",
            ),
            (
                with(
                    "credentials",
                    json!({"access_key_id": "AKID", "secret_access_key": "s", S: S}),
                ),
                "`credentials`: unknown field, expected one of",
            ),
            (with(S, json!(S)), "unknown field, expected one of"),
            (with("secret", json!(S)), "unknown field `secret`"),
            (
                with("bedrock_api_key", json!({"k": S})),
                "`bedrock_api_key`: invalid type: map",
            ),
            (
                with("max_request_body_bytes", json!(S)),
                "`max_request_body_bytes`: invalid type: string",
            ),
            (
                with("builtin_models", json!(S)),
                "`builtin_models`: invalid type: string",
            ),
            (
                with("region", json!(format!("{S} x"))),
                "`region` is not an AWS region name",
            ),
            (
                with("bedrock_host", json!(format!("https://{S}/x"))),
                "`bedrock_host` is not a host",
            ),
            (
                with("tenants", json!({"acme": {"key_sha256": S}})),
                "`tenants.acme.key_sha256`: invalid type: string, expected a sequence",
            ),
            (
                with("tenants", json!({"acme": {"key_sha256": [S]}})),
                "`tenants.acme.key_sha256[0]`",
            ),
            (
                with("tenants", json!({format!("{S} x"): {}})),
                "`tenants`: tenant names",
            ),
            (
                with(
                    "tenants",
                    json!({"acme": {"limits": {"requests_per_minute": S}}}),
                ),
                "`tenants.acme.limits.requests_per_minute`: invalid type: string, expected u64",
            ),
            (
                with(
                    "models",
                    json!([{"id": "m", "provider": "p", "region": format!("{S}/x")}]),
                ),
                "`models[0].region` is not an AWS region name",
            ),
            (
                with(
                    "models",
                    json!([{"id": "m", "provider": "p", "inference_profiles": ["us", S]}]),
                ),
                "`models[0].inference_profiles[1]` is not one of",
            ),
            (
                with("api_keys_source", json!({"service": S, "id": "x"})),
                "`api_keys_source.service` must be",
            ),
            (
                with("iam_auth", json!({"principals": {S: "acme"}})),
                "entry #1",
            ),
            (
                with(
                    "iam_auth",
                    json!({"principals": {"arn:aws:iam::1:role/r": S}}),
                ),
                "maps `arn:aws:iam::1:role/r` to a tenant that is not in `tenants`",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "gateway": {"host": format!("{S} /x"), "token": "t"}}),
                "`gateway.host` is not a host",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "gateway": {"host": "gw", "token_env": S}}),
                "the variable `gateway.token_env` names is not in the environment",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "gateway": {"host": "gw", "token": [S]}}),
                "`gateway.token`: invalid type: sequence",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1", "credentials_source": {"type": S, "cluster": "c"}}),
                "`credentials_source.type` is not",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1", "credentials_source": {"type": "container", "cluster": "c", "authorization": [S]}}),
                "`credentials_source.authorization`: invalid type: sequence",
            ),
        ];
        for (cfg, says) in cases {
            let e = Config::parse(cfg.to_string().as_bytes(), &no_env)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("SECRET"), "{cfg}: {e}");
            assert!(e.contains(says), "{cfg}: {e}");
        }
        for broken in [
            format!(r#"{{"credentials": {{"secret_access_key": "{S}"#),
            format!(r#"{{"credentials": {{"secret_access_key": {S}}}}}"#),
            format!(r#"{{"api_keys": ["{S}" "x"]}}"#),
        ] {
            let e = Config::parse(broken.as_bytes(), &no_env)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("SECRET") && e.contains("not valid JSON"), "{e}");
            assert!(e.contains("line 1, column"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({}), "api_keys"),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "r", "tenants": {"default": {"key_sha256": [DEMO_SHA]}}}),
                "tenants.default",
            ),
            (
                json!({"region": "r", "tenants": {"a.b": {"key_sha256": [DEMO_SHA]}}}),
                "tenants.a.b",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": []}}}),
                "tenants.a.key_sha256",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": ["abc"]}}}),
                "tenants.a.key_sha256[0]",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "limit": {}}}}),
                "limit",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "limits": {"rpm": 1}}}}),
                "rpm",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "limits": {"requests_per_minute": 0}}}}),
                "tenants.a.limits.requests_per_minute",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "model_limits": {"m": {"tokens_per_minute": 0}}}}}),
                "tenants.a.model_limits.m.tokens_per_minute",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "models": [""]}}}),
                "tenants.a.models[0]",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "token_weights": {"cache_read": -0.1}}),
                "token_weights.cache_read",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "token_weights": {"cache_write": 101}}),
                "token_weights.cache_write",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "token_weights": {"cache_reads": 1}}),
                "cache_reads",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "token_weights": {"cache_read": "0.1"}}),
                "token_weights.cache_read",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA], "token_weights": {"cache_write": -1}}}}),
                "tenants.a.token_weights.cache_write",
            ),
            (
                json!({"region": "r", "tenants": {"a": {"key_sha256": [DEMO_SHA]}, "b": {"key_sha256": [DEMO_SHA]}}}),
                "tenants",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "max_request_body_bytes": 0}),
                "max_request_body_bytes",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "usage_window_seconds": 0}),
                "usage_window_seconds",
            ),
            (json!({"api_keys": []}), "api_keys"),
            (json!({"api_keys": ["short"]}), "api_keys[0]"),
            (
                json!({"api_keys": ["sk-local-demo"], "regoin": "x"}),
                "regoin",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "us-east-1"}),
                "AWS_ACCESS_KEY_ID",
            ),
            (json!({"api_keys": ["sk-local-demo"]}), "region"),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "us east"}),
                "region",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "r", "credentials": {"access_key_id": ""}}),
                "secret_access_key",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "r", "credentials": {"access_key_id": "", "secret_access_key": "s"}}),
                "credentials.access_key_id",
            ),
            (
                json!({"api_keys": ["sk-local-demo"], "region": "r", "credentials": {"access_key_id": "a", "secret_access_key": "s"}, "model_aliases": {"a": ""}}),
                "model_aliases",
            ),
        ];
        for (cfg, field) in cases {
            let e = Config::parse(cfg.to_string().as_bytes(), &no_env).unwrap_err();
            assert!(e.to_string().contains(field), "{cfg}: {e}");
        }
        assert!(Config::parse(b"not json", &no_env).is_err());
    }

    #[test]
    fn gateway_mode_takes_token_from_config_or_env() {
        let env = |k: &str| (k == "MY_TOKEN").then(|| "tok-env".to_string());
        let c = Config::parse(
            json!({"api_keys": ["sk-local-demo"], "gateway": {"host": "air-api.example.com", "token_env": "MY_TOKEN",
                   "aliases": {"amazon.nova-pro-v1:0": "nova"}}})
            .to_string()
            .as_bytes(),
            &env,
        )
        .unwrap();
        let Upstream::Gateway(g) = &c.upstream else {
            panic!()
        };
        assert_eq!(
            (g.token.as_str(), g.token_header.as_str()),
            ("tok-env", "authorization-token")
        );
        assert_eq!(
            g.path("us.anthropic.claude-3-5-sonnet-20241022-v2:0", true),
            "/v1.0/model/bedrock/model/claude-35-sonnet/converse-stream"
        );
        assert_eq!(
            g.path("us.amazon.nova-pro-v1:0", false),
            "/v1.0/model/bedrock/model/nova/converse"
        );
        assert!(!format!("{g:?}").contains("tok-env"));
        assert_eq!(c.upstream.mode(), "gateway");
    }

    #[test]
    fn aws_auth_modes() {
        let parse = |cfg: serde_json::Value, env: &dyn Fn(&str) -> Option<String>| {
            Config::parse(cfg.to_string().as_bytes(), env).map(|c| c.upstream)
        };
        let key_env = |k: &str| match k {
            "AWS_BEARER_TOKEN_BEDROCK" => Some("bedrock-api-key-env".to_string()),
            "AWS_REGION" => Some("us-east-1".to_string()),
            _ => None,
        };
        assert_eq!(
            parse(json!({"api_keys": ["sk-local-demo"]}), &key_env).unwrap(),
            Upstream::Aws(AwsAuth::ApiKey("bedrock-api-key-env".into()))
        );
        // Environment SigV4 keys win over an API key in the environment.
        let both = |k: &str| key_env(k).or_else(|| demo_env(k));
        assert!(matches!(
            parse(json!({"api_keys": ["sk-local-demo"]}), &both).unwrap(),
            Upstream::Aws(AwsAuth::SigV4(_))
        ));
        assert_eq!(
            parse(
                json!({"api_keys": ["sk-local-demo"], "bedrock_api_key": "k"}),
                &demo_env
            )
            .unwrap(),
            Upstream::Aws(AwsAuth::ApiKey("k".into()))
        );
        let Upstream::Aws(AwsAuth::Refreshed(s)) = parse(
            json!({"api_keys": ["sk-local-demo"], "credentials_source": {"type": "imds", "cluster": "imds"}}),
            &demo_env,
        )
        .unwrap() else { panic!() };
        assert_eq!(
            (s.authority.as_str(), s.refresh_before.as_secs()),
            ("169.254.169.254", 300)
        );
        let container_env = |k: &str| match k {
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" => Some("/v2/credentials/x".to_string()),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some("auth".to_string()),
            _ => demo_env(k),
        };
        let Upstream::Aws(AwsAuth::Refreshed(s)) = parse(
            json!({"api_keys": ["sk-local-demo"], "credentials_source": {"type": "container", "cluster": "ecs"}}),
            &container_env,
        )
        .unwrap() else { panic!() };
        assert_eq!(
            s.kind,
            SourceKind::Container {
                path: "/v2/credentials/x".into(),
                authorization: Some("auth".into())
            }
        );
    }

    #[test]
    fn new_fields_name_themselves_in_errors() {
        let cases = [
            (json!({"gateway": {"host": "h"}}), "gateway.token"),
            (
                json!({"gateway": {"host": "https://h/x", "token": "t"}}),
                "gateway.host",
            ),
            (
                json!({"gateway": {"host": "h", "token": "t", "path_template": "/x/{model}"}}),
                "gateway.path_template",
            ),
            (
                json!({"gateway": {"host": "h", "token": "t", "tokn": "t"}}),
                "tokn",
            ),
            (
                json!({"gateway": {"host": "h", "token": "t"}, "bedrock_api_key": "k"}),
                "bedrock_api_key",
            ),
            (
                json!({"credentials_source": {"type": "imds", "cluster": "c"}, "bedrock_api_key": "k"}),
                "exclusive",
            ),
            (
                json!({"credentials_source": {"type": "sso", "cluster": "c"}}),
                "credentials_source.type",
            ),
            (
                json!({"credentials_source": {"type": "container", "cluster": "c"}}),
                "credentials_source.path",
            ),
            (
                json!({"credentials_source": {"type": "imds", "cluster": "c", "timeout_ms": 1}}),
                "timeout_ms",
            ),
            (json!({"bedrock_api_key": " "}), "bedrock_api_key"),
            (json!({"models": [{"id": ""}]}), "models[0].id"),
            (
                json!({"models": [{"id": "noprovider"}]}),
                "models[0].provider",
            ),
            (
                json!({"models": [{"id": "a.b", "inference_profiles": ["mars"]}]}),
                "models[0].inference_profiles",
            ),
            (
                json!({"models": [{"id": "a.b", "region": "us east"}]}),
                "models[0].region",
            ),
            (json!({"models": [{"id": "a.b", "context": 1}]}), "context"),
            (json!({"fleet": {"table": "fleet", "tabel": "x"}}), "tabel"),
            (json!({"fleet": {}}), "table"),
            (
                json!({"fleet": {"table": "fleet", "store": "redis"}}),
                "fleet.store",
            ),
            (
                json!({"fleet": {"table": "fleet", "on_store_failure": "maybe"}}),
                "fleet.on_store_failure",
            ),
            (
                json!({"fleet": {"table": "fleet", "sync_interval_ms": 10}}),
                "fleet.sync_interval_ms",
            ),
            (
                json!({"fleet": {"table": "fleet"}, "bedrock_api_key": "k"}),
                "`fleet` calls DynamoDB with AWS credentials",
            ),
        ];
        for (mut cfg, field) in cases {
            cfg["api_keys"] = json!(["sk-local-demo"]);
            let e = Config::parse(cfg.to_string().as_bytes(), &demo_env).unwrap_err();
            assert!(e.to_string().contains(field), "{cfg}: {e}");
        }
    }

    #[test]
    fn per_model_region_changes_host_unless_the_host_is_explicit() {
        let cfg = json!({"api_keys": ["sk-local-demo"], "models": [{"id": "amazon.nova-pro-v1:0", "region": "eu-west-3"}]});
        let c = Config::parse(cfg.to_string().as_bytes(), &demo_env).unwrap();
        assert_eq!(
            c.region_for("amazon.nova-pro-v1:0"),
            (
                "eu-west-3",
                "bedrock-runtime.eu-west-3.amazonaws.com".to_string()
            )
        );
        assert_eq!(c.region_for("eu.amazon.nova-pro-v1:0").0, "eu-west-3");
        assert_eq!(c.region_for("amazon.nova-lite-v1:0").0, "eu-west-1");
        // The override keeps the built-in facts it does not set.
        assert_eq!(
            c.catalog
                .entry_for("amazon.nova-pro-v1:0")
                .unwrap()
                .context_window,
            300_000
        );
        let mut cfg = cfg;
        cfg["bedrock_host"] = json!("vpce.example");
        let c = Config::parse(cfg.to_string().as_bytes(), &demo_env).unwrap();
        assert_eq!(
            c.region_for("amazon.nova-pro-v1:0"),
            ("eu-west-1", "vpce.example".to_string())
        );
    }

    /// `credentials_source` is a `type`-tagged enum: each variant takes only its own fields,
    /// and errors inside it keep their field path wherever the section is in the document.
    #[test]
    fn tagged_sections_keep_their_field_paths() {
        for (section, says) in [
            (
                json!({"credentials_source": {"type": "imds", "cluster": "c", "path": "/x"}}),
                "`credentials_source`: unknown field `path`",
            ),
            (
                json!({"credentials_source": {"type": "container", "cluster": "c", "role": "r"}}),
                "`credentials_source`: unknown field `role`",
            ),
            (
                json!({"credentials_source": {"cluster": "c"}}),
                "`credentials_source`: missing field `type`",
            ),
            (
                json!({"credentials_source": {"type": 7, "cluster": "c"}}),
                "`credentials_source.type` is not `imds` or `container`",
            ),
            (
                json!({"credentials_source": {"type": "imds", "cluster": "c", "timeout_ms": "x"}}),
                "`credentials_source.timeout_ms`: invalid type: string, expected u64",
            ),
            (
                json!({"credentials_source": "imds"}),
                "`credentials_source`: invalid type: string, expected an object",
            ),
            (
                json!({"api_keys_source": {"id": "x", "service": "kms"}}),
                "`api_keys_source.service` must be `secretsmanager` or `ssm`",
            ),
            (
                json!({"api_keys_source": {"id": "x", "service": 3}}),
                "`api_keys_source.service`: invalid type: integer, expected a string",
            ),
        ] {
            // Last in the document, and followed by other fields.
            for extra in [json!({}), json!({"region": "us-east-1"})] {
                let mut cfg = json!({"api_keys": ["sk-local-demo"]});
                for (k, v) in section
                    .as_object()
                    .unwrap()
                    .iter()
                    .chain(extra.as_object().unwrap())
                {
                    cfg[k] = v.clone();
                }
                let e = Config::parse(cfg.to_string().as_bytes(), &demo_env).unwrap_err();
                assert!(e.to_string().contains(says), "{cfg}: {e}");
            }
        }
    }
}
