//! How Bedrock is reached: `gateway`, `credentials`, `credentials_source`,
//! `bedrock_api_key`, else the Envoy environment ([`crate::upstream::Upstream`]).

use std::time::Duration;

use super::raw::{RawCredentialSource, RawCredentials, RawEmbeddings, RawGateway};
use super::{err, nonempty, ConfigError, Env};
use crate::catalog::ModelEntry;
use crate::upstream::credentials::{CredentialSource, SourceKind};
use crate::upstream::sigv4::Credentials;
use crate::upstream::{AwsAuth, GatewayUpstream, Signing, Upstream};

/// The configuration's ways to reach Bedrock, at most one of them set, and who signs.
pub(super) struct RawUpstream {
    pub gateway: Option<RawGateway>,
    pub credentials: Option<RawCredentials>,
    pub credentials_source: Option<RawCredentialSource>,
    pub bedrock_api_key: Option<String>,
    pub signing: Option<String>,
}

pub(super) fn upstream(raw: RawUpstream, env: Env) -> Result<(Upstream, Signing), ConfigError> {
    let signing = signing(&raw)?;
    let set = [
        (raw.credentials.is_some(), "credentials"),
        (raw.credentials_source.is_some(), "credentials_source"),
        (raw.bedrock_api_key.is_some(), "bedrock_api_key"),
    ];
    if let Some(g) = raw.gateway {
        if let Some((_, name)) = set.iter().find(|(set, _)| *set) {
            return Err(err(format!(
                "`gateway` and `{name}` are exclusive: a gateway is called with its token, not AWS credentials"
            )));
        }
        return Ok((Upstream::Gateway(gateway(g, env)?), signing));
    }
    if set.iter().filter(|(set, _)| *set).count() > 1 {
        return Err(err(
            "`credentials`, `credentials_source` and `bedrock_api_key` are exclusive: set one",
        ));
    }
    let auth = if let Some(c) = raw.credentials {
        static_credentials(c)?
    } else if let Some(s) = raw.credentials_source {
        AwsAuth::Refreshed(credential_source(s, env)?)
    } else if let Some(k) = raw.bedrock_api_key {
        if k.trim().is_empty() {
            return Err(err("`bedrock_api_key` is empty"));
        }
        header_safe("`bedrock_api_key`", k.trim())?;
        AwsAuth::ApiKey(k.trim().to_string())
    } else {
        from_environment(env, signing)?
    };
    Ok((Upstream::Aws(auth), signing))
}

/// `signing`, and the modes `envoy` cannot serve: Envoy's `aws_request_signing` signs with
/// SigV4 from its own credential providers, so there is nothing for it to do for a gateway
/// token or a Bedrock API key, and credentials written in the plugin configuration would
/// never reach it.
fn signing(raw: &RawUpstream) -> Result<Signing, ConfigError> {
    let signing = match raw.signing.as_deref() {
        None | Some("filter") => return Ok(Signing::Filter),
        Some("envoy") => Signing::Envoy,
        Some(_) => return Err(err("`signing` is not `filter` or `envoy`")),
    };
    let refused = [
        (
            raw.gateway.is_some(),
            "gateway",
            "a gateway takes its token, not SigV4",
        ),
        (
            raw.bedrock_api_key.is_some(),
            "bedrock_api_key",
            "an API key is a bearer token, not SigV4",
        ),
        (
            raw.credentials.is_some(),
            "credentials",
            "give them to Envoy's aws_request_signing filter instead",
        ),
    ];
    match refused.iter().find(|(set, _, _)| *set) {
        Some((_, name, why)) => Err(err(format!(
            "`signing: envoy` and `{name}` are exclusive: {why}"
        ))),
        None => Ok(signing),
    }
}

/// With `signing: envoy`, Envoy signs every call in the one region of its
/// `aws_request_signing` filter: a model called in another region would fail its signature.
pub(super) fn envoy_region(
    signing: Signing,
    models: &[ModelEntry],
    region: &str,
    host_explicit: bool,
) -> Result<(), ConfigError> {
    if signing != Signing::Envoy || host_explicit {
        return Ok(());
    }
    let other = |m: &ModelEntry| m.region.as_deref().is_some_and(|r| r != region);
    match models.iter().position(other) {
        Some(i) => Err(err(format!(
            "`models[{i}].region` differs from `region`: with `signing: envoy`, Envoy signs every call in one region"
        ))),
        None => Ok(()),
    }
}

fn static_credentials(c: RawCredentials) -> Result<AwsAuth, ConfigError> {
    if c.access_key_id.trim().is_empty() {
        return Err(err("`credentials.access_key_id` is empty"));
    }
    if c.secret_access_key.is_empty() {
        return Err(err("`credentials.secret_access_key` is empty"));
    }
    let session_token = nonempty(c.session_token);
    header_safe("`credentials.access_key_id`", &c.access_key_id)?;
    header_safe(
        "`credentials.session_token`",
        session_token.as_deref().unwrap_or(""),
    )?;
    Ok(AwsAuth::SigV4(Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token,
    }))
}

/// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
/// `AWS_BEARER_TOKEN_BEDROCK`. With `signing: envoy` the filter needs credentials only for
/// the calls it signs itself (embeddings), so none is fine; a bearer token alone is refused.
fn from_environment(env: Env, signing: Signing) -> Result<AwsAuth, ConfigError> {
    let by_envoy = signing == Signing::Envoy;
    match (
        nonempty(env("AWS_ACCESS_KEY_ID")),
        nonempty(env("AWS_SECRET_ACCESS_KEY")),
        nonempty(env("AWS_BEARER_TOKEN_BEDROCK")),
    ) {
        (Some(access_key_id), Some(secret_access_key), _) => {
            let session_token = nonempty(env("AWS_SESSION_TOKEN"));
            header_safe("AWS_ACCESS_KEY_ID", &access_key_id)?;
            header_safe("AWS_SESSION_TOKEN", session_token.as_deref().unwrap_or(""))?;
            Ok(AwsAuth::SigV4(Credentials {
                access_key_id,
                secret_access_key,
                session_token,
            }))
        }
        (None, None, None) if by_envoy => Ok(AwsAuth::Absent),
        (None, None, Some(_)) if by_envoy => Err(err(
            "`signing: envoy` signs with SigV4, but the environment has only AWS_BEARER_TOKEN_BEDROCK",
        )),
        (None, None, Some(k)) => {
            header_safe("AWS_BEARER_TOKEN_BEDROCK", k.trim())?;
            Ok(AwsAuth::ApiKey(k.trim().to_string()))
        }
        (None, _, _) => Err(err(
            "`credentials` is not set and AWS_ACCESS_KEY_ID is not in the environment",
        )),
        (Some(_), None, _) => Err(err(
            "`credentials` is not set and AWS_SECRET_ACCESS_KEY is not in the environment",
        )),
    }
}

/// Credentials that travel in request headers (the access key id inside `authorization`, the
/// session token, API keys) must be valid header values, or every request fails with a 500
/// when it is signed (found by fuzzing: a DEL in a session token).
fn header_safe(what: &str, value: &str) -> Result<(), ConfigError> {
    if http::HeaderValue::from_str(value).is_err() {
        return Err(err(format!(
            "{what} contains characters not allowed in an HTTP header"
        )));
    }
    Ok(())
}

fn credential_source(s: RawCredentialSource, env: Env) -> Result<CredentialSource, ConfigError> {
    let (cluster, authority, refresh_before, timeout_ms) = match &s {
        RawCredentialSource::Imds(i) => (
            &i.cluster,
            &i.authority,
            i.refresh_before_seconds,
            i.timeout_ms,
        ),
        RawCredentialSource::Container(c) => (
            &c.cluster,
            &c.authority,
            c.refresh_before_seconds,
            c.timeout_ms,
        ),
    };
    if cluster.trim().is_empty() {
        return Err(err("`credentials_source.cluster` is empty"));
    }
    let (cluster, authority) = (cluster.clone(), authority.clone());
    let (kind, default_authority) = match s {
        RawCredentialSource::Imds(i) => (
            SourceKind::Imds {
                role: nonempty(i.role),
            },
            "169.254.169.254",
        ),
        RawCredentialSource::Container(c) => {
            (container(c.path, c.authorization, env)?, "169.254.170.2")
        }
    };
    let refresh_before = refresh_before.unwrap_or(300);
    if refresh_before == 0 {
        return Err(err(
            "`credentials_source.refresh_before_seconds` must be at least 1",
        ));
    }
    let timeout_ms = timeout_ms.unwrap_or(2000);
    if !(100..=60_000).contains(&timeout_ms) {
        return Err(err(
            "`credentials_source.timeout_ms` must be between 100 and 60000",
        ));
    }
    Ok(CredentialSource {
        kind,
        cluster,
        authority: nonempty(authority).unwrap_or_else(|| default_authority.to_string()),
        refresh_before: Duration::from_secs(refresh_before),
        timeout: Duration::from_millis(timeout_ms),
    })
}

fn container(
    path: Option<String>,
    authorization: Option<String>,
    env: Env,
) -> Result<SourceKind, ConfigError> {
    let path = nonempty(path)
        .or_else(|| nonempty(env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")))
        .ok_or_else(|| {
            err("`credentials_source.path` is not set and AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is not in the environment")
        })?;
    if !path.starts_with('/') {
        return Err(err("`credentials_source.path` must start with `/`"));
    }
    Ok(SourceKind::Container {
        path,
        authorization: nonempty(authorization)
            .or_else(|| nonempty(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"))),
    })
}

fn gateway(g: RawGateway, env: Env) -> Result<GatewayUpstream, ConfigError> {
    let host = g.host.trim().to_string();
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(err(
            "`gateway.host` is not a host[:port] (no scheme, no path)",
        ));
    }
    let path_template = nonempty(g.path_template)
        .unwrap_or_else(|| crate::upstream::GATEWAY_PATH_TEMPLATE.to_string());
    if !path_template.starts_with('/')
        || !path_template.contains("{model}")
        || !path_template.contains("{operation}")
    {
        return Err(err(
            "`gateway.path_template` must start with `/` and contain `{model}` and `{operation}`",
        ));
    }
    let named_env = nonempty(g.token_env);
    // `token_env` is not repeated: a token put there by mistake must not reach the log.
    let missing = match named_env {
        Some(_) => "the variable `gateway.token_env` names",
        None => "BEDROCK_GATEWAY_TOKEN",
    };
    let token_env = named_env.unwrap_or_else(|| "BEDROCK_GATEWAY_TOKEN".to_string());
    let token = nonempty(g.token)
        .or_else(|| nonempty(env(&token_env)))
        .ok_or_else(|| {
            err(format!(
                "`gateway.token` is not set and {missing} is not in the environment"
            ))
        })?;
    let token_header = nonempty(g.token_header)
        .unwrap_or_else(|| "authorization-token".to_string())
        .to_ascii_lowercase();
    if !token_header
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(err("`gateway.token_header` is not a header name"));
    }
    if let Some((id, _)) = g
        .aliases
        .iter()
        .find(|(id, a)| id.is_empty() || a.trim().is_empty() || a.contains('/'))
    {
        return Err(err(format!(
            "`gateway.aliases` entry `{id}` has an empty model id, or an alias that is empty or contains `/`"
        )));
    }
    Ok(GatewayUpstream {
        host,
        path_template,
        token,
        token_header,
        aliases: g.aliases,
    })
}
/// `embeddings`, validated: the Envoy cluster its `InvokeModel` calls go through (the one
/// the route sends Bedrock traffic to, `bedrock` in the shipped configs), how many calls one
/// request may have in flight, and each call's timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingsConfig {
    pub cluster: String,
    pub max_in_flight: usize,
    pub timeout: Duration,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            cluster: "bedrock".to_string(),
            max_in_flight: 8,
            timeout: Duration::from_secs(60),
        }
    }
}

pub(super) fn embeddings(raw: Option<RawEmbeddings>) -> Result<EmbeddingsConfig, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = EmbeddingsConfig::default();
    let cluster =
        match raw.cluster {
            None => d.cluster,
            Some(c) if !c.is_empty() && c.len() <= 256 && !c.chars().any(char::is_control) => c,
            Some(_) => return Err(err(
                "`embeddings.cluster` must be an Envoy cluster name (1-256 printable characters)",
            )),
        };
    let max_in_flight = raw.max_in_flight.unwrap_or(d.max_in_flight);
    if !(1..=64).contains(&max_in_flight) {
        return Err(err("`embeddings.max_in_flight` must be between 1 and 64"));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(60_000);
    if !(100..=900_000).contains(&timeout_ms) {
        return Err(err(
            "`embeddings.timeout_ms` must be between 100 and 900000",
        ));
    }
    Ok(EmbeddingsConfig {
        cluster,
        max_in_flight,
        timeout: Duration::from_millis(timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::upstream::{AwsAuth, Signing, Upstream};
    use serde_json::json;

    fn demo_env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            "AWS_REGION" => Some("us-east-1".into()),
            _ => None,
        }
    }

    fn region_only(k: &str) -> Option<String> {
        (k == "AWS_REGION").then(|| "us-east-1".into())
    }

    fn parse(
        extra: serde_json::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let mut cfg = json!({"api_keys": ["sk-local-demo"]});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        Config::parse(cfg.to_string().as_bytes(), env).map_err(|e| e.to_string())
    }

    #[test]
    fn signing_defaults_to_the_filter() {
        let c = parse(json!({}), &demo_env).unwrap();
        assert_eq!(c.signing, Signing::Filter);
        let c = parse(json!({"signing": "filter"}), &demo_env).unwrap();
        assert_eq!(c.signing, Signing::Filter);
    }

    #[test]
    fn envoy_signing_keeps_environment_credentials_for_side_calls() {
        let c = parse(json!({"signing": "envoy"}), &demo_env).unwrap();
        assert_eq!(c.signing, Signing::Envoy);
        assert!(matches!(c.upstream, Upstream::Aws(AwsAuth::SigV4(_))));
        let c = parse(
            json!({"signing": "envoy", "credentials_source": {"type": "imds", "cluster": "imds"}}),
            &demo_env,
        )
        .unwrap();
        assert!(matches!(c.upstream, Upstream::Aws(AwsAuth::Refreshed(_))));
    }

    #[test]
    fn envoy_signing_needs_no_credentials_in_the_filter() {
        let c = parse(json!({"signing": "envoy"}), &region_only).unwrap();
        assert_eq!(c.upstream, Upstream::Aws(AwsAuth::Absent));
        // Without `signing: envoy` the same environment is refused.
        let e = parse(json!({}), &region_only).unwrap_err();
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
    }

    #[test]
    fn envoy_signing_refuses_what_it_cannot_sign() {
        let cases = [
            (
                json!({"signing": "envoy", "gateway": {"host": "gw.example", "token": "t"}}),
                "`signing: envoy` and `gateway`",
            ),
            (
                json!({"signing": "envoy", "bedrock_api_key": "k"}),
                "`signing: envoy` and `bedrock_api_key`",
            ),
            (
                json!({"signing": "envoy", "credentials": {"access_key_id": "A", "secret_access_key": "s"}}),
                "`signing: envoy` and `credentials`",
            ),
            (
                json!({"signing": "Envoy"}),
                "`signing` is not `filter` or `envoy`",
            ),
            (json!({"signing": 1}), "signing"),
            (
                json!({"signing": "envoy", "models": [{"id": "acme.m-v1:0", "provider": "acme", "region": "eu-west-1"}]}),
                "`models[0].region` differs from `region`",
            ),
        ];
        for (cfg, want) in cases {
            let e = parse(cfg.clone(), &demo_env).unwrap_err();
            assert!(e.contains(want), "{cfg}: {e}");
            // The secret-looking values are never repeated.
            assert!(!e.contains("gw.example") && !e.contains("\"k\""), "{e}");
        }
        let bearer_only = |k: &str| match k {
            "AWS_BEARER_TOKEN_BEDROCK" => Some("bedrock-key".into()),
            _ => region_only(k),
        };
        let e = parse(json!({"signing": "envoy"}), &bearer_only).unwrap_err();
        assert!(
            e.contains("AWS_BEARER_TOKEN_BEDROCK") && !e.contains("bedrock-key"),
            "{e}"
        );
    }

    #[test]
    fn envoy_signing_allows_a_model_region_under_an_explicit_host() {
        // With `bedrock_host` every model is called (and signed) in `region`.
        let models = json!([{"id": "acme.m-v1:0", "provider": "acme", "region": "eu-west-1"}]);
        let c = parse(
            json!({"signing": "envoy", "models": models, "bedrock_host": "bedrock.internal"}),
            &demo_env,
        )
        .unwrap();
        assert_eq!(c.region_for("acme.m-v1:0").0, "us-east-1");
        let models = json!([{"id": "acme.m-v1:0", "provider": "acme", "region": "us-east-1"}]);
        assert!(parse(json!({"signing": "envoy", "models": models}), &demo_env).is_ok());
    }
}
