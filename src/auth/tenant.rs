//! Tenants: who a caller is (API key → tenant), which models it may call, its limits.
//!
//! Keys are held only as SHA-256 digests in a [`DigestTable`]: one constant-time lookup for
//! every key (see [`crate::auth::keys`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::accounting::ratelimit::{Limits, TokenWeights};
use crate::auth::keys::{bearer, DigestTable, KeyDigest};
/// Re-exported for the request phase (a tenant name it is asked for) and its tests.
pub use crate::auth::keys::{digest, valid_tenant_name};
use crate::error::ApiError;
use crate::translate::request::{AutoCache, S3Access};

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
    /// Service tier default and ceiling, guardrails.
    pub policy: crate::translate::policy::RequestPolicy,
    /// The cache points the gateway adds by itself (`prompt_caching`).
    pub prompt_caching: TenantCaching,
    /// What prompt-cache tokens weigh against `tokens_per_minute` (its own, else the top
    /// level's `token_weights`).
    pub token_weights: TokenWeights,
    /// The S3 buckets its `s3://` URLs may name (`s3_buckets`, its own else the top level's).
    pub s3: S3Access,
}

/// A tenant's automatic prompt caching: its default (already over the gateway's) and
/// per-model overrides by canonical id, field by field over the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantCaching {
    pub default: AutoCache,
    pub models: BTreeMap<String, AutoCache>,
}

impl TenantCaching {
    /// The automatic caching for the model with this canonical id.
    pub fn for_model(&self, canonical_model: &str) -> AutoCache {
        self.models
            .get(canonical_model)
            .map_or(self.default, |m| m.or(self.default))
    }
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
    pub(crate) fn limits_for(&self, canonical_model: &str) -> Limits {
        self.model_limits
            .get(canonical_model)
            .map_or(self.limits, |m| m.or(self.limits))
    }
}

/// A key given twice in the tenant table: named by its digest (never the key), with the
/// tenants it is given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGivenTwice {
    /// The SHA-256 hex digest.
    pub sha256: String,
    /// The tenant that already has the key, when it is another one.
    pub other: Option<String>,
    pub tenant: String,
}

impl std::fmt::Display for KeyGivenTwice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            sha256,
            other,
            tenant,
        } = self;
        match other {
            Some(o) => write!(
                f,
                "the key with SHA-256 {sha256} is given to both `{o}` and `{tenant}`"
            ),
            None => write!(
                f,
                "the key with SHA-256 {sha256} is listed twice for `{tenant}`"
            ),
        }
    }
}

impl std::error::Error for KeyGivenTwice {}

/// Key digests → tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTable {
    keys: DigestTable<Tenant>,
}

impl TenantTable {
    /// Builds the table; a digest listed twice (for one tenant or two) is an error naming it.
    pub fn new(entries: Vec<(Tenant, Vec<KeyDigest>)>) -> Result<Self, KeyGivenTwice> {
        let mut keys = DigestTable::default();
        for (tenant, digests) in entries {
            let name = tenant.name.clone();
            keys.push(tenant, digests).map_err(|dup| KeyGivenTwice {
                sha256: hex::encode(dup.digest),
                other: dup
                    .other
                    .and_then(|i| keys.owners().get(i))
                    .map(|o| o.name.clone()),
                tenant: name,
            })?;
        }
        Ok(Self { keys })
    }

    pub fn tenants(&self) -> &[Tenant] {
        self.keys.owners()
    }

    pub fn get(&self, name: &str) -> Option<&Tenant> {
        self.tenants().iter().find(|t| t.name == name)
    }

    pub fn key_count(&self) -> usize {
        self.keys.key_count()
    }

    /// `Authorization: Bearer <key>` → the key's tenant, or 401.
    pub(crate) fn authenticate(&self, authorization: Option<&str>) -> Result<&Tenant, ApiError> {
        let Some(value) = authorization else {
            return Err(ApiError::unauthorized(
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>`.",
            ));
        };
        self.keys
            .lookup(bearer(value))
            .ok_or_else(|| ApiError::unauthorized("Incorrect API key provided."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::parse_digest;

    pub(crate) fn tenant(name: &str) -> Tenant {
        Tenant {
            name: name.into(),
            models: None,
            allow_bedrock_model: true,
            admin: false,
            limits: Limits::default(),
            model_limits: BTreeMap::new(),
            policy: Default::default(),
            prompt_caching: TenantCaching::default(),
            token_weights: TokenWeights::default(),
            s3: S3Access::default(),
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
        .unwrap_err()
        .to_string();
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
        .unwrap_err()
        .to_string();
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
