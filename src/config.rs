//! Plugin configuration: parsed and validated once at plugin start (`on_configure`), then
//! shared read-only by every request. A bad config fails start with a message naming the field.
//!
//! ```json
//! {
//!   "api_keys": ["sk-local-demo"],
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

use crate::iam_auth::{IamAuth, RawIamAuth};
use crate::key_source::{KeySource, RawKeySource};
use crate::route::PathForms;
use crate::sigv4::Credentials;

/// The raw JSON shape; unknown fields are rejected so typos do not silently disable things.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api_keys: Vec<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    bedrock_host: Option<String>,
    #[serde(default)]
    credentials: Option<RawCredentials>,
    #[serde(default)]
    model_aliases: BTreeMap<String, String>,
    #[serde(default)]
    path_prefix: Option<String>,
    #[serde(default)]
    azure_deployments: BTreeMap<String, String>,
    #[serde(default)]
    api_keys_source: Option<RawKeySource>,
    #[serde(default)]
    iam_auth: Option<RawIamAuth>,
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
    pub api_keys: Vec<String>,
    pub region: String,
    /// `:authority` and SigV4 host of the upstream Bedrock endpoint.
    pub bedrock_host: String,
    pub credentials: Credentials,
    pub model_aliases: BTreeMap<String, String>,
    /// Accepted URL forms: `/v1`, `path_prefix`, Azure deployments ([`crate::route`]).
    pub path_forms: PathForms,
    /// Where the tenant key table kept in AWS is read from ([`crate::key_source`]).
    pub key_source: Option<KeySource>,
    /// IAM caller authentication through STS ([`crate::iam_auth`]).
    pub iam: Option<IamAuth>,
    /// Deprecated fields that were accepted (see [`crate::config_version`]); logged at start.
    pub warnings: Vec<String>,
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
        let value = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        let (value, warnings) = crate::config_version::lower(value).map_err(err)?;
        let raw: RawConfig = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());

        if raw.api_keys.is_empty() && raw.api_keys_source.is_none() && raw.iam_auth.is_none() {
            return Err(err(
                "`api_keys` must list at least one key (or set `api_keys_source` or `iam_auth`)",
            ));
        }
        if let Some(i) = raw.api_keys.iter().position(|k| k.trim().len() < 8) {
            return Err(err(format!("`api_keys[{i}]` is shorter than 8 characters")));
        }

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

        let path_forms = PathForms::new(raw.path_prefix, raw.azure_deployments).map_err(err)?;
        let key_source = raw
            .api_keys_source
            .map(|k| KeySource::from_raw(k, &region))
            .transpose()
            .map_err(err)?;
        let iam = raw
            .iam_auth
            .map(|i| IamAuth::from_raw(i, &region))
            .transpose()
            .map_err(err)?;

        Ok(Self {
            path_forms,
            key_source,
            iam,
            warnings,
            api_keys: raw.api_keys,
            region,
            bedrock_host,
            credentials,
            model_aliases: raw.model_aliases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
