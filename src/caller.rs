//! Who the caller is: a key from the plugin configuration (`api_keys`), a key from the table
//! kept in AWS ([`crate::key_source`]), or an AWS identity already verified by STS
//! ([`crate::iam_auth`]). Every path ends in a tenant name or a 401.

use crate::config::Config;
use crate::error::ApiError;
use crate::key_source::KeyState;

/// The tenant `api_keys` belong to.
pub const CONFIG_KEYS_TENANT: &str = "default";

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    ConfigKey,
    AwsKeyTable,
    Iam,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub via: Via,
}

/// `Bearer <token>` → the token (trimmed); anything else → `""`.
pub fn bearer(authorization: &str) -> &str {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("")
}

/// Decides the caller. `keys` is this worker's key table state (when `api_keys_source` is
/// configured); `iam_tenant` the tenant of an identity the shell has verified with STS.
pub fn authenticate(
    cfg: &Config,
    keys: Option<&KeyState>,
    iam_tenant: Option<&str>,
    authorization: Option<&str>,
) -> Result<Caller, ApiError> {
    if let Some(tenant) = iam_tenant {
        return Ok(Caller {
            tenant: tenant.to_string(),
            via: Via::Iam,
        });
    }
    let Some(authorization) = authorization else {
        return Err(ApiError::unauthorized(
            "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
        ));
    };
    if !cfg.api_keys.is_empty()
        && crate::auth::authenticate(&cfg.api_keys, Some(authorization)).is_ok()
    {
        return Ok(Caller {
            tenant: CONFIG_KEYS_TENANT.to_string(),
            via: Via::ConfigKey,
        });
    }
    if cfg.key_source.is_some() {
        match keys.and_then(KeyState::table) {
            None => {
                return Err(ApiError::unauthorized(
                    "API keys are not available yet: the key table has not been loaded from AWS. Try again shortly.",
                ))
            }
            Some(table) => {
                if let Some(tenant) = table.lookup(bearer(authorization)) {
                    return Ok(Caller {
                        tenant: tenant.to_string(),
                        via: Via::AwsKeyTable,
                    });
                }
            }
        }
    }
    Err(ApiError::unauthorized("Incorrect API key provided."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_source::{digest, KeyTable};

    fn cfg(extra: &str) -> Config {
        Config::parse(
            format!(
                r#"{{"region":"us-east-1","credentials":{{"access_key_id":"AKID","secret_access_key":"s"}}{extra}}}"#
            )
            .as_bytes(),
            &|_| None,
        )
        .unwrap()
    }

    fn loaded(key: &str) -> KeyState {
        let mut st = KeyState::default();
        let table =
            serde_json::json!({"tenants": {"acme": {"key_sha256": [hex::encode(digest(key))]}}});
        st.finished(KeyTable::parse(&table.to_string()));
        st
    }

    #[test]
    fn config_keys_table_keys_and_iam() {
        let c = cfg(
            r#","api_keys":["sk-local-demo"],"api_keys_source":{"service":"secretsmanager","id":"k"}"#,
        );
        let st = loaded("sk-from-aws");
        let who = |keys: Option<&KeyState>, iam: Option<&str>, auth: Option<&str>| {
            authenticate(&c, keys, iam, auth)
        };
        assert_eq!(
            who(Some(&st), None, Some("Bearer sk-local-demo"))
                .unwrap()
                .via,
            Via::ConfigKey
        );
        let t = who(Some(&st), None, Some("Bearer sk-from-aws")).unwrap();
        assert_eq!((t.tenant.as_str(), t.via), ("acme", Via::AwsKeyTable));
        assert_eq!(who(None, Some("ops"), None).unwrap().via, Via::Iam);
        for bad in [None, Some("Bearer nope-nope-nope"), Some("sk-from-aws")] {
            assert_eq!(
                who(Some(&st), None, bad).unwrap_err().status,
                401,
                "{bad:?}"
            );
        }
        // Nothing loaded yet: table keys are refused with a message saying so; config keys work.
        let empty = KeyState::default();
        let e = who(Some(&empty), None, Some("Bearer sk-from-aws")).unwrap_err();
        assert!(e.message.contains("not been loaded"), "{}", e.message);
        assert!(who(Some(&empty), None, Some("Bearer sk-local-demo")).is_ok());
    }

    #[test]
    fn without_a_key_source_the_table_is_ignored() {
        let c = cfg(r#","api_keys":["sk-local-demo"]"#);
        let st = loaded("sk-from-aws");
        assert!(authenticate(&c, Some(&st), None, Some("Bearer sk-from-aws")).is_err());
    }
}
