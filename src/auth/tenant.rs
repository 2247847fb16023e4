//! Tenants: who a caller is (API key → tenant), which models it may call, its limits.
//!
//! Keys are held only as SHA-256 digests. A presented key is hashed once and compared with
//! every configured digest in constant time, without stopping at a match, so neither the
//! timing nor the key's length tells a caller how close a guess was.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::accounting::ratelimit::Limits;
use crate::error::ApiError;

pub type KeyDigest = [u8; 32];

/// One tenant, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `[A-Za-z0-9_-]+`; used in metric names, log fields and shared-data keys.
    pub name: String,
    /// Canonical ids ([`crate::catalog::model_id::canonical`]) of the models the tenant may call,
    /// from the configured aliases and Bedrock ids; `None` is any.
    pub models: Option<BTreeSet<String>>,
    /// May name the Bedrock id itself with `bedrock_model` (still only one of `models`).
    pub allow_bedrock_model: bool,
    /// May read every tenant's usage.
    pub admin: bool,
    /// Default limits for each model.
    pub limits: Limits,
    /// Per-model overrides by canonical id, field by field over `limits`.
    pub model_limits: BTreeMap<String, Limits>,
}

impl Tenant {
    /// Whether the tenant may call the model with this canonical id, however the request
    /// named it (alias, deployment, profile, ARN, `bedrock_model`).
    pub fn allows(&self, canonical_model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.contains(canonical_model))
    }

    /// The limits for the model with this canonical id: its entry over the default.
    pub fn limits_for(&self, canonical_model: &str) -> Limits {
        self.model_limits
            .get(canonical_model)
            .map_or(self.limits, |m| m.or(self.limits))
    }
}

/// Key digests → tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTable {
    keys: Vec<(KeyDigest, usize)>,
    tenants: Vec<Tenant>,
}

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// `"3f…"` (64 hex digits, any case) → digest.
pub fn parse_digest(hex_digest: &str) -> Option<KeyDigest> {
    let bytes = hex::decode(hex_digest.trim()).ok()?;
    bytes.try_into().ok()
}

pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl TenantTable {
    /// Builds the table; a digest listed twice (for one tenant or two) is an error naming it.
    pub fn new(entries: Vec<(Tenant, Vec<KeyDigest>)>) -> Result<Self, String> {
        let mut table = TenantTable::default();
        for (tenant, digests) in entries {
            let index = table.tenants.len();
            for d in digests {
                if let Some((_, other)) = table.keys.iter().find(|(k, _)| *k == d) {
                    // `tenant` is pushed after its keys: a key repeated within it has no
                    // entry in `tenants` yet (indexing it panicked: found by fuzzing).
                    return Err(match table.tenants.get(*other) {
                        Some(o) => format!(
                            "the key with SHA-256 {} is given to both `{}` and `{}`",
                            hex::encode(d),
                            o.name,
                            tenant.name
                        ),
                        None => format!(
                            "the key with SHA-256 {} is listed twice for `{}`",
                            hex::encode(d),
                            tenant.name
                        ),
                    });
                }
                table.keys.push((d, index));
            }
            table.tenants.push(tenant);
        }
        Ok(table)
    }

    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    pub fn get(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// `Authorization: Bearer <key>` → the key's tenant, or 401.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&Tenant, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
            ));
        };
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or("");
        let presented_digest = digest(presented);
        let mut found: Option<usize> = None;
        for (d, index) in &self.keys {
            // Every digest is compared; the match is remembered without branching early.
            let m = constant_time_eq(d, &presented_digest);
            found = if m { Some(*index) } else { found };
        }
        match found {
            Some(i) if !presented.is_empty() => self
                .tenants
                .get(i)
                .ok_or_else(|| ApiError::internal("tenant table is inconsistent")),
            _ => Err(ApiError::unauthorized("Incorrect API key provided.")),
        }
    }
}

fn constant_time_eq(a: &KeyDigest, b: &KeyDigest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tenant(name: &str) -> Tenant {
        Tenant {
            name: name.into(),
            models: None,
            allow_bedrock_model: true,
            admin: false,
            limits: Limits::default(),
            model_limits: BTreeMap::new(),
        }
    }

    fn table() -> TenantTable {
        let mut a = tenant("acme");
        a.models = Some(["sonnet".to_string()].into_iter().collect());
        a.limits = Limits {
            requests_per_minute: Some(10),
            tokens_per_minute: Some(1000),
        };
        a.model_limits.insert(
            "haiku".into(),
            Limits {
                requests_per_minute: Some(2),
                tokens_per_minute: None,
            },
        );
        TenantTable::new(vec![
            (a, vec![digest("sk-acme-key-1"), digest("sk-acme-key-2")]),
            (tenant("beta"), vec![digest("sk-beta-key-1")]),
        ])
        .unwrap()
    }

    #[test]
    fn keys_map_to_their_tenant() {
        let t = table();
        for (auth, name) in [
            ("Bearer sk-acme-key-1", "acme"),
            ("Bearer sk-acme-key-2", "acme"),
            ("bearer  sk-beta-key-1 ", "beta"),
        ] {
            assert_eq!(t.authenticate(Some(auth)).unwrap().name, name);
        }
        for bad in [
            None,
            Some(""),
            Some("Bearer "),
            Some("sk-acme-key-1"),
            Some("Bearer sk-acme-key-"),
            Some("Basic sk-acme-key-1"),
            Some("Bearer sk-acme-key-1X"),
        ] {
            let e = t.authenticate(bad).unwrap_err();
            assert_eq!(e.status, 401, "{bad:?}");
            assert_eq!(e.code.as_deref(), Some("invalid_api_key"));
        }
    }

    #[test]
    fn empty_key_never_matches_even_if_its_digest_is_configured() {
        let t = TenantTable::new(vec![(tenant("x"), vec![digest("")])]).unwrap();
        assert!(t.authenticate(Some("Bearer ")).is_err());
    }

    #[test]
    fn model_access_and_limits() {
        let t = table();
        let acme = t.get("acme").unwrap();
        assert!(acme.allows("sonnet"));
        assert!(!acme.allows("haiku"));
        assert!(t.get("beta").unwrap().allows("anything"));
        assert_eq!(
            acme.limits_for("haiku"),
            Limits {
                requests_per_minute: Some(2),
                tokens_per_minute: Some(1000)
            }
        );
        assert_eq!(acme.limits_for("sonnet"), acme.limits);
    }

    #[test]
    fn a_key_belongs_to_one_tenant() {
        let e = TenantTable::new(vec![
            (tenant("a"), vec![digest("sk-shared-key")]),
            (tenant("b"), vec![digest("sk-shared-key")]),
        ])
        .unwrap_err();
        assert!(e.contains("`a`") && e.contains("`b`"), "{e}");
    }

    #[test]
    fn a_key_listed_twice_for_one_tenant_is_an_error_not_a_panic() {
        // Regression (fuzz target `config`): this indexed the tenant list before the tenant
        // was in it, and the plugin aborted at start instead of naming the problem.
        let e = TenantTable::new(vec![(
            tenant("a"),
            vec![digest("sk-twice-key"), digest("sk-twice-key")],
        )])
        .unwrap_err();
        assert!(e.contains("listed twice for `a`"), "{e}");
        let e = crate::config::Config::parse(
            br#"{"api_keys":["sk-aaaaaaaa","sk-aaaaaaaa"],"region":"us-east-1",
                 "credentials":{"access_key_id":"a","secret_access_key":"b"}}"#,
            &|_| None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
    }

    #[test]
    fn digests_and_names() {
        let d = digest("sk-local-demo");
        assert_eq!(parse_digest(&hex::encode(d)), Some(d));
        assert_eq!(parse_digest(&hex::encode(d).to_uppercase()), Some(d));
        assert_eq!(parse_digest("abcd"), None);
        assert_eq!(parse_digest("zz"), None);
        assert!(valid_tenant_name("team-a_1"));
        for bad in ["", "a.b", "a b", "ä", &"x".repeat(65)] {
            assert!(!valid_tenant_name(bad), "{bad}");
        }
    }
}
