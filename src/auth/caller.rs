//! Who the caller is: a key from the plugin configuration (`api_keys`), a key from the table
//! kept in AWS ([`crate::auth::key_source`]), or an AWS identity already verified by STS
//! ([`crate::auth::iam`]). Every path ends in a configured tenant (its models and limits) or
//! a 401.

use crate::auth::key_source::{KeySource, KeyState};
use crate::auth::keys::bearer;
use crate::auth::tenant::{Tenant, TenantTable};
use crate::error::ApiError;

fn incorrect() -> ApiError {
    ApiError::unauthorized("Incorrect API key provided.")
}

/// Decides the caller's tenant among the configured `tenants`. `key_source` is the
/// configured `api_keys_source` and `keys` this worker's key table state; `iam_tenant` the
/// tenant of an identity the shell has verified with STS. Keys in the configuration
/// (`api_keys`, `tenants.*.key_sha256`) are tried first, then the table kept in AWS.
pub fn authenticate<'c>(
    tenants: &'c TenantTable,
    key_source: Option<&KeySource>,
    keys: Option<&KeyState>,
    iam_tenant: Option<&str>,
    authorization: Option<&str>,
) -> Result<&'c Tenant, ApiError> {
    if let Some(name) = iam_tenant {
        // The configuration guarantees every principal's tenant exists.
        return tenants
            .get(name)
            .ok_or_else(|| ApiError::internal(format!("IAM tenant `{name}` is not configured")));
    }
    let configured = tenants.authenticate(authorization);
    let (Some(authorization), Err(_), Some(_)) = (authorization, &configured, key_source) else {
        return configured;
    };
    let Some(table) = keys.and_then(KeyState::table) else {
        return Err(ApiError::unauthorized(
            "API keys are not available yet: the key table has not been loaded from AWS. Try again shortly.",
        ));
    };
    table
        .lookup(bearer(authorization))
        .and_then(|name| tenants.get(name))
        .ok_or_else(incorrect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::key_source::KeyTable;
    use crate::auth::keys::digest;
    use crate::config::Config;

    fn cfg(extra: &str) -> Config {
        Config::parse(
            format!(
                r#"{{"region":"us-east-1","credentials":{{"access_key_id":"AKID","secret_access_key":"s"}},"tenants":{{"acme":{{}},"ops":{{}}}}{extra}}}"#
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
        st.finished(KeyTable::parse(&table.to_string(), &|_| true));
        st
    }

    #[test]
    fn config_keys_table_keys_and_iam() {
        let c = cfg(
            r#","api_keys":["sk-local-demo"],"api_keys_source":{"service":"secretsmanager","id":"k"}"#,
        );
        let st = loaded("sk-from-aws");
        let who = |keys: Option<&KeyState>, iam: Option<&str>, auth: Option<&str>| {
            authenticate(&c.tenants, c.key_source.as_ref(), keys, iam, auth)
        };
        let name = |r: Result<&Tenant, ApiError>| r.map(|t| t.name.clone()).unwrap();
        assert_eq!(
            name(who(Some(&st), None, Some("Bearer sk-local-demo"))),
            "default"
        );
        assert_eq!(
            name(who(Some(&st), None, Some("Bearer sk-from-aws"))),
            "acme"
        );
        assert_eq!(name(who(None, Some("ops"), None)), "ops");
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
        let c = Config::parse(
            br#"{"region":"us-east-1","credentials":{"access_key_id":"AKID","secret_access_key":"s"},"api_keys":["sk-local-demo"]}"#,
            &|_| None,
        )
        .unwrap();
        let st = loaded("sk-from-aws");
        let auth = Some("Bearer sk-from-aws");
        assert!(authenticate(&c.tenants, c.key_source.as_ref(), Some(&st), None, auth).is_err());
    }
}
