//! `api_keys` and `tenants`: the key digests, models and limits of each tenant
//! ([`crate::auth::tenant::TenantTable`]).

use std::collections::{BTreeMap, BTreeSet};

use super::raw::RawTokenWeights;
use super::raw::{RawAutoCache, RawLimits, RawTenant};
use super::{err, ConfigError, DEFAULT_TENANT};
use crate::accounting::ratelimit::{Limits, TokenWeights};
use crate::auth::keys::{self, KeyDigest};
use crate::auth::tenant::{Tenant, TenantCaching, TenantTable};
use crate::openai::chat::CacheTtl;
use crate::translate::request::{AutoCache, CachePositions, S3Access};

/// What the top level sets under every tenant's own settings.
pub(super) struct Defaults {
    /// `prompt_caching`, under every tenant's.
    pub caching: AutoCache,
    /// `token_weights`, each tenant's default.
    pub weights: TokenWeights,
    /// `s3_buckets`, for tenants without their own.
    pub s3: S3Access,
    /// `s3_bucket_owners`.
    pub s3_owners: BTreeMap<String, String>,
}

/// `keys_elsewhere`: `api_keys_source` or `iam_auth` is set, so a tenant may list no key.
pub(super) fn tenant_table(
    api_keys: &[String],
    raw: BTreeMap<String, RawTenant>,
    aliases: &BTreeMap<String, String>,
    keys_elsewhere: bool,
    defaults: &Defaults,
) -> Result<TenantTable, ConfigError> {
    let mut entries = Vec::new();
    if !api_keys.is_empty() {
        if raw.contains_key(DEFAULT_TENANT) {
            return Err(err(format!(
                "`tenants.{DEFAULT_TENANT}` is reserved for `api_keys`; rename the tenant or move the keys"
            )));
        }
        let default = Tenant {
            name: DEFAULT_TENANT.into(),
            models: None,
            allow_bedrock_model: true,
            admin: false,
            limits: Limits::default(),
            model_limits: BTreeMap::new(),
            policy: Default::default(),
            prompt_caching: TenantCaching {
                default: defaults.caching,
                models: BTreeMap::new(),
            },
            token_weights: defaults.weights,
            s3: defaults.s3.clone(),
        };
        entries.push((
            default,
            api_keys.iter().map(|k| keys::digest(k.trim())).collect(),
        ));
    }
    for (name, t) in raw {
        entries.push(tenant(name, t, aliases, keys_elsewhere, defaults)?);
    }
    TenantTable::new(entries).map_err(|e| err(format!("`tenants`: {e}")))
}

/// One entry of `tenants`.
fn tenant(
    name: String,
    t: RawTenant,
    aliases: &BTreeMap<String, String>,
    keys_elsewhere: bool,
    defaults: &Defaults,
) -> Result<(Tenant, Vec<KeyDigest>), ConfigError> {
    let at = format!("tenants.{name}");
    if !keys::valid_tenant_name(&name) {
        // Repeated only when printable and short: it is not a name, so it may be anything.
        let at = if name.len() <= 64 && name.bytes().all(|b| b.is_ascii_graphic() && b != b'`') {
            at.as_str()
        } else {
            "tenants"
        };
        return Err(err(format!(
            "`{at}`: tenant names are 1-64 characters of [A-Za-z0-9_-]"
        )));
    }
    if t.key_sha256.is_empty() && !keys_elsewhere {
        return Err(err(format!(
            "`{at}.key_sha256` must list at least one key digest"
        )));
    }
    let mut digests = Vec::new();
    for (i, d) in t.key_sha256.iter().enumerate() {
        digests.push(keys::parse_digest(d).ok_or_else(|| {
            err(format!(
                "`{at}.key_sha256[{i}]` is not a SHA-256 digest (64 hex digits, e.g. `printf %s \"$KEY\" | sha256sum`)"
            ))
        })?);
    }
    let models = allowed_models(&at, t.models, aliases)?;
    let model_limits = model_limits(&at, t.model_limits, aliases)?;
    let policy = super::policy::request_policy(
        &at,
        super::policy::RawPolicy {
            service_tier: t.service_tier,
            guardrail: t.guardrail,
            model_guardrails: t.model_guardrails,
            allow_request_guardrail: t.allow_request_guardrail,
        },
        &|field, model| canonical_name(aliases, field, model),
    )?;
    let prompt_caching = tenant_caching(
        &at,
        t.prompt_caching,
        t.model_prompt_caching,
        aliases,
        defaults.caching,
    )?;
    let token_weights = token_weights(
        &format!("{at}.token_weights"),
        t.token_weights,
        defaults.weights,
    )?;
    let s3 = super::s3::access(
        &format!("{at}.s3_buckets"),
        t.s3_buckets,
        &defaults.s3_owners,
        &defaults.s3,
    )?;
    let tenant = Tenant {
        prompt_caching,
        policy,
        token_weights,
        s3,
        limits: limits(&format!("{at}.limits"), t.limits)?,
        model_limits,
        name,
        models,
        allow_bedrock_model: t.allow_bedrock_model,
        admin: t.admin,
    };
    Ok((tenant, digests))
}

/// `tenants.*.models` as canonical ids (`None`: any model).
fn allowed_models(
    at: &str,
    names: Option<Vec<String>>,
    aliases: &BTreeMap<String, String>,
) -> Result<Option<BTreeSet<String>>, ConfigError> {
    let Some(names) = names else {
        return Ok(None);
    };
    if let Some(i) = names.iter().position(|m| m.trim().is_empty()) {
        return Err(err(format!("`{at}.models[{i}]` is empty")));
    }
    // Inserted one by one, not collected: see `models::known_models`.
    let mut allowed = BTreeSet::new();
    for (i, m) in names.iter().enumerate() {
        allowed.insert(canonical_name(aliases, &format!("{at}.models[{i}]"), m)?);
    }
    Ok(Some(allowed))
}

/// `tenants.*.prompt_caching` over the top level's, and `model_prompt_caching` by canonical
/// id over the tenant's; two names of one model are an error.
fn tenant_caching(
    at: &str,
    own: Option<RawAutoCache>,
    per_model: BTreeMap<String, RawAutoCache>,
    aliases: &BTreeMap<String, String>,
    top: AutoCache,
) -> Result<TenantCaching, ConfigError> {
    let default = auto_cache(&format!("{at}.prompt_caching"), own)?.or(top);
    let mut models = BTreeMap::new();
    for (model, raw) in per_model {
        let field = format!("{at}.model_prompt_caching.{model}");
        let auto = auto_cache(&field, Some(raw))?;
        let id = canonical_name(aliases, &field, &model)?;
        if models.insert(id, auto).is_some() {
            return Err(err(format!(
                "`{field}` names a model another `{at}.model_prompt_caching` entry already names"
            )));
        }
    }
    Ok(TenantCaching { default, models })
}

/// `tenants.*.model_limits`, by canonical id; two names of one model are an error.
fn model_limits(
    at: &str,
    raw: BTreeMap<String, RawLimits>,
    aliases: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Limits>, ConfigError> {
    let mut model_limits = BTreeMap::new();
    for (model, l) in raw {
        let field = format!("{at}.model_limits.{model}");
        let l = limits(&field, Some(l))?;
        let id = canonical_name(aliases, &field, &model)?;
        if model_limits.insert(id, l).is_some() {
            return Err(err(format!(
                "`{field}` names a model another `{at}.model_limits` entry already names"
            )));
        }
    }
    Ok(model_limits)
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

/// A `prompt_caching` section (`field` names it): `positions` among `tools`, `system`,
/// `history` (an empty list turns automatic caching off), `ttl` `5m` or `1h`.
pub(super) fn auto_cache(field: &str, raw: Option<RawAutoCache>) -> Result<AutoCache, ConfigError> {
    let Some(raw) = raw else {
        return Ok(AutoCache::default());
    };
    let positions = match raw.positions {
        None => None,
        Some(names) => {
            let mut p = CachePositions::default();
            for (i, name) in names.iter().enumerate() {
                match name.as_str() {
                    "tools" => p.tools = true,
                    "system" => p.system = true,
                    "history" => p.history = true,
                    _ => {
                        return Err(err(format!(
                            "`{field}.positions[{i}]` is not `tools`, `system` or `history`"
                        )))
                    }
                }
            }
            Some(p)
        }
    };
    let ttl = match raw.ttl.as_deref() {
        None => None,
        Some("5m") => Some(CacheTtl::FiveMinutes),
        Some("1h") => Some(CacheTtl::OneHour),
        Some(_) => return Err(err(format!("`{field}.ttl` is `5m` or `1h`"))),
    };
    Ok(AutoCache { positions, ttl })
}

/// Heaviest accepted weight: a cache token counted as a hundred ordinary ones.
const MAX_TOKEN_WEIGHT: f64 = 100.0;

/// `token_weights` at `field`: each weight a number from 0 to [`MAX_TOKEN_WEIGHT`], kept in
/// thousandths; an absent one is `defaults`'.
pub(super) fn token_weights(
    field: &str,
    raw: Option<RawTokenWeights>,
    defaults: TokenWeights,
) -> Result<TokenWeights, ConfigError> {
    let raw = raw.unwrap_or_default();
    let milli = |name: &str, v: Option<f64>, default: u32| match v {
        None => Ok(default),
        Some(w) if w.is_finite() && (0.0..=MAX_TOKEN_WEIGHT).contains(&w) => {
            // In range, so the cast neither truncates nor saturates.
            Ok((w * 1000.0).round() as u32)
        }
        Some(_) => Err(err(format!(
            "`{field}.{name}` must be a number from 0 to {MAX_TOKEN_WEIGHT}"
        ))),
    };
    Ok(TokenWeights {
        cache_read_milli: milli("cache_read", raw.cache_read, defaults.cache_read_milli)?,
        cache_write_milli: milli("cache_write", raw.cache_write, defaults.cache_write_milli)?,
    })
}

/// A configured model name (alias or Bedrock id) → the canonical id it calls.
fn canonical_name(
    aliases: &BTreeMap<String, String>,
    field: &str,
    name: &str,
) -> Result<String, ConfigError> {
    let id = crate::catalog::models::resolve(aliases, name.trim());
    if !crate::catalog::model_id::is_bedrock_id(id) {
        return Err(err(format!(
            "`{field}` is neither an alias in `model_aliases` nor a Bedrock model id"
        )));
    }
    Ok(crate::catalog::model_id::canonical(id).to_string())
}

#[cfg(test)]
mod tests {
    use crate::catalog::caching::PromptCaching;
    use crate::config::Config;
    use crate::openai::chat::CacheTtl;
    use crate::translate::request::{AutoCache, CachePositions};
    use serde_json::{json, Value};

    /// SHA-256 of `sk-local-demo`.
    const DEMO_SHA: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

    fn parse(extra: Value) -> Result<Config, String> {
        let mut v = json!({"region": "us-east-1", "api_keys": ["sk-plain-key-1"],
            "credentials": {"access_key_id": "AKID", "secret_access_key": "s"},
            "model_aliases": {"gpt-4o": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Config::parse(v.to_string().as_bytes(), &|_| None).map_err(|e| e.to_string())
    }

    fn at(positions: &[&str], ttl: Option<CacheTtl>) -> AutoCache {
        AutoCache {
            positions: Some(CachePositions {
                tools: positions.contains(&"tools"),
                system: positions.contains(&"system"),
                history: positions.contains(&"history"),
            }),
            ttl,
        }
    }

    #[test]
    fn automatic_caching_is_gateway_then_tenant_then_model() {
        let c = parse(json!({
            "prompt_caching": {"positions": ["system", "tools"], "ttl": "5m"},
            "tenants": {"acme": {"key_sha256": [DEMO_SHA],
                "prompt_caching": {"ttl": "1h"},
                "model_prompt_caching": {"gpt-4o": {"positions": ["history"]}}}}
        }))
        .unwrap();
        let five = Some(CacheTtl::FiveMinutes);
        let hour = Some(CacheTtl::OneHour);
        assert_eq!(c.prompt_caching, at(&["system", "tools"], five));
        let plain = c.tenants.get("default").unwrap();
        assert_eq!(
            plain.prompt_caching.for_model("x"),
            at(&["system", "tools"], five)
        );
        let acme = c.tenants.get("acme").unwrap();
        assert_eq!(
            acme.prompt_caching.for_model("x"),
            at(&["system", "tools"], hour)
        );
        let sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            acme.prompt_caching.for_model(sonnet),
            at(&["history"], hour)
        );
        // An empty list turns it off.
        let off = parse(json!({"prompt_caching": {"positions": []}})).unwrap();
        assert_eq!(off.prompt_caching, at(&[], None));
    }

    #[test]
    fn bad_caching_fields_are_named() {
        let cases = [
            (
                json!({"prompt_caching": {"positions": ["system", "prefix"]}}),
                "`prompt_caching.positions[1]`",
            ),
            (
                json!({"prompt_caching": {"ttl": "24h"}}),
                "`prompt_caching.ttl`",
            ),
            (json!({"prompt_caching": {"where": []}}), "where"),
            (
                json!({"tenants": {"acme": {"key_sha256": [DEMO_SHA], "prompt_caching": {"ttl": "2h"}}}}),
                "`tenants.acme.prompt_caching.ttl`",
            ),
            (
                json!({"tenants": {"acme": {"key_sha256": [DEMO_SHA], "model_prompt_caching": {"no model here": {}}}}}),
                "`tenants.acme.model_prompt_caching.no model here`",
            ),
            (
                json!({"models": [{"id": "acme.model-v1:0", "prompt_caching": {"tools": true}}]}),
                "`models[0].prompt_caching`",
            ),
        ];
        for (extra, field) in cases {
            let e = parse(extra.clone()).unwrap_err();
            assert!(e.contains(field), "{extra}: {e}");
        }
    }

    #[test]
    fn catalog_entries_carry_prompt_caching() {
        let c = parse(json!({"models": [
            {"id": "acme.model-v1:0", "prompt_caching": {"min_tokens": 2048}},
            {"id": "amazon.nova-pro-v1:0", "prompt_caching": {"enabled": false}},
            {"id": "anthropic.claude-3-5-sonnet-20241022-v2:0", "prompt_caching": {"min_tokens": 1024, "tools": true}}
        ]}))
        .unwrap();
        let caching = |id: &str| c.catalog.entry_for(id).unwrap().prompt_caching;
        assert_eq!(
            caching("acme.model-v1:0"),
            Some(PromptCaching {
                min_tokens: 2048,
                tools: false,
                ttl_1h: false
            })
        );
        assert_eq!(caching("amazon.nova-pro-v1:0"), None);
        assert_eq!(
            caching("us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            Some(PromptCaching {
                min_tokens: 1024,
                tools: true,
                ttl_1h: false
            })
        );
        assert_eq!(
            caching("anthropic.claude-3-7-sonnet-20250219-v1:0").map(|p| p.min_tokens),
            Some(1024)
        );
    }
}
