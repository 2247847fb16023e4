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
//!   "model_aliases": {"gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"}
//! }
//! ```
//! `region` and `credentials` fall back to the Envoy process environment (`AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, passed to the VM
//! through `vm_config.environment_variables.host_env_keys`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ratelimit::Limits;
use crate::sigv4::Credentials;
use crate::tenant::{self, Tenant, TenantTable};

/// The tenant `api_keys` belong to.
pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_USAGE_WINDOW_SECONDS: u64 = 86_400;

/// The raw JSON shape; unknown fields are rejected so typos do not silently disable things.
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
    model_aliases: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    key_sha256: Vec<String>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    model_limits: BTreeMap<String, RawLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default)]
    requests_per_minute: Option<u64>,
    #[serde(default)]
    tokens_per_minute: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
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
    pub region: String,
    /// `:authority` and SigV4 host of the upstream Bedrock endpoint.
    pub bedrock_host: String,
    pub credentials: Credentials,
    pub model_aliases: BTreeMap<String, String>,
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

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl Config {
    /// Parses the plugin configuration; `env` looks up environment variables.
    pub fn parse(bytes: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());

        if raw.api_keys.is_empty() && raw.tenants.is_empty() {
            return Err(err(
                "`api_keys` or `tenants` must list at least one key (`api_keys` is missing or empty)",
            ));
        }
        if let Some(i) = raw.api_keys.iter().position(|k| k.trim().len() < 8) {
            return Err(err(format!("`api_keys[{i}]` is shorter than 8 characters")));
        }
        let tenants = tenant_table(&raw.api_keys, raw.tenants)?;
        let max_request_body_bytes = match raw.max_request_body_bytes {
            Some(0) => return Err(err("`max_request_body_bytes` must be at least 1")),
            Some(n) => n,
            None => DEFAULT_MAX_REQUEST_BODY_BYTES,
        };
        let usage_window_seconds = match raw.usage_window_seconds {
            Some(0) => return Err(err("`usage_window_seconds` must be at least 1")),
            Some(n) => n,
            None => DEFAULT_USAGE_WINDOW_SECONDS,
        };

        let region = nonempty(raw.region)
            .or_else(|| nonempty(env("AWS_REGION")))
            .ok_or_else(|| err("`region` is not set and AWS_REGION is not in the environment"))?;
        if !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(err(format!(
                "`region` `{region}` is not an AWS region name"
            )));
        }
        let bedrock_host = nonempty(raw.bedrock_host)
            .unwrap_or_else(|| format!("bedrock-runtime.{region}.amazonaws.com"));

        let credentials = match raw.credentials {
            Some(c) => {
                if c.access_key_id.trim().is_empty() {
                    return Err(err("`credentials.access_key_id` is empty"));
                }
                if c.secret_access_key.is_empty() {
                    return Err(err("`credentials.secret_access_key` is empty"));
                }
                Credentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                    session_token: nonempty(c.session_token),
                }
            }
            None => Credentials {
                access_key_id: nonempty(env("AWS_ACCESS_KEY_ID")).ok_or_else(|| {
                    err("`credentials` is not set and AWS_ACCESS_KEY_ID is not in the environment")
                })?,
                secret_access_key: nonempty(env("AWS_SECRET_ACCESS_KEY")).ok_or_else(|| {
                    err("`credentials` is not set and AWS_SECRET_ACCESS_KEY is not in the environment")
                })?,
                session_token: nonempty(env("AWS_SESSION_TOKEN")),
            },
        };

        if let Some((alias, _)) = raw
            .model_aliases
            .iter()
            .find(|(a, id)| a.is_empty() || id.trim().is_empty())
        {
            return Err(err(format!(
                "`model_aliases` entry `{alias}` has an empty name or model id"
            )));
        }

        Ok(Self {
            tenants,
            max_request_body_bytes,
            usage_window_seconds,
            region,
            bedrock_host,
            credentials,
            model_aliases: raw.model_aliases,
        })
    }
}

impl Config {
    /// Shared-data keys the shell creates (empty) at plugin start if absent: each tenant's
    /// usage, and the rate-limit bucket of every model a limited tenant lists. Buckets of
    /// models not listed are created on first use.
    pub fn shared_data_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for t in self.tenants.tenants() {
            keys.push(crate::usage::key(&t.name));
            for m in t.models.iter().flatten() {
                let id = crate::models::resolve(&self.model_aliases, m);
                if !t.limits_for(m, id).is_unlimited() {
                    keys.push(crate::ratelimit::bucket_key(&self.region, &t.name, id));
                }
            }
        }
        keys
    }
}

fn limits(field: &str, raw: Option<RawLimits>) -> Result<Limits, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Limits::default());
    };
    for (name, v) in [
        ("requests_per_minute", raw.requests_per_minute),
        ("tokens_per_minute", raw.tokens_per_minute),
    ] {
        if v == Some(0) {
            return Err(err(format!(
                "`{field}.{name}` must be at least 1 (leave it out for no limit)"
            )));
        }
    }
    Ok(Limits {
        requests_per_minute: raw.requests_per_minute,
        tokens_per_minute: raw.tokens_per_minute,
    })
}

fn tenant_table(
    api_keys: &[String],
    raw: BTreeMap<String, RawTenant>,
) -> Result<TenantTable, ConfigError> {
    let mut entries = Vec::new();
    if !api_keys.is_empty() {
        if raw.contains_key(DEFAULT_TENANT) {
            return Err(err(format!(
                "`tenants.{DEFAULT_TENANT}` is reserved for `api_keys`; rename the tenant or move the keys"
            )));
        }
        entries.push((
            Tenant {
                name: DEFAULT_TENANT.into(),
                models: None,
                admin: false,
                limits: Limits::default(),
                model_limits: BTreeMap::new(),
            },
            api_keys.iter().map(|k| tenant::digest(k.trim())).collect(),
        ));
    }
    for (name, t) in raw {
        let at = format!("tenants.{name}");
        if !tenant::valid_tenant_name(&name) {
            return Err(err(format!(
                "`{at}`: tenant names are 1-64 characters of [A-Za-z0-9_-]"
            )));
        }
        if t.key_sha256.is_empty() {
            return Err(err(format!(
                "`{at}.key_sha256` must list at least one key digest"
            )));
        }
        let mut digests = Vec::new();
        for (i, d) in t.key_sha256.iter().enumerate() {
            digests.push(tenant::parse_digest(d).ok_or_else(|| {
                err(format!(
                    "`{at}.key_sha256[{i}]` is not a SHA-256 digest (64 hex digits, e.g. `printf %s \"$KEY\" | sha256sum`)"
                ))
            })?);
        }
        if let Some(i) = t
            .models
            .as_ref()
            .and_then(|m| m.iter().position(|m| m.trim().is_empty()))
        {
            return Err(err(format!("`{at}.models[{i}]` is empty")));
        }
        let mut model_limits = BTreeMap::new();
        for (model, l) in t.model_limits {
            let l = limits(&format!("{at}.model_limits.{model}"), Some(l))?;
            model_limits.insert(model, l);
        }
        entries.push((
            Tenant {
                limits: limits(&format!("{at}.limits"), t.limits)?,
                name,
                models: t.models.map(|m| m.into_iter().collect()),
                admin: t.admin,
                model_limits,
            },
            digests,
        ));
    }
    TenantTable::new(entries).map_err(|e| err(format!("`tenants`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
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
            acme.limits_for("gpt-4o", "x"),
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
        assert!(d.allows("any", "model") && !d.admin && d.limits.is_unlimited());
        assert_eq!(c.tenants.key_count(), 2);
    }

    fn no_env(_: &str) -> Option<String> {
        None
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
        assert_eq!(c.credentials.access_key_id, "AKIDENV");
        assert_eq!(c.credentials.session_token, None);
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
        assert_eq!(c.credentials.session_token.as_deref(), Some("t"));
        assert_eq!(c.model_aliases["gpt-4o"], "x:0");
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
}
