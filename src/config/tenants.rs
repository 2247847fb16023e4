//! `api_keys` and `tenants`: the key digests, models and limits of each tenant
//! ([`crate::auth::tenant::TenantTable`]).

use std::collections::BTreeMap;

use super::raw::{RawLimits, RawTenant};
use super::{err, ConfigError, DEFAULT_TENANT};
use crate::accounting::ratelimit::Limits;
use crate::auth::keys::{self, KeyDigest};
use crate::auth::tenant::{Tenant, TenantTable};

/// `keys_elsewhere`: `api_keys_source` or `iam_auth` is set, so a tenant may list no key.
pub(super) fn tenant_table(
    api_keys: &[String],
    raw: BTreeMap<String, RawTenant>,
    aliases: &BTreeMap<String, String>,
    keys_elsewhere: bool,
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
        };
        entries.push((
            default,
            api_keys.iter().map(|k| keys::digest(k.trim())).collect(),
        ));
    }
    for (name, t) in raw {
        entries.push(tenant(name, t, aliases, keys_elsewhere)?);
    }
    TenantTable::new(entries).map_err(|e| err(format!("`tenants`: {e}")))
}

/// One entry of `tenants`.
fn tenant(
    name: String,
    t: RawTenant,
    aliases: &BTreeMap<String, String>,
    keys_elsewhere: bool,
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
    if let Some(i) = t
        .models
        .as_ref()
        .and_then(|m| m.iter().position(|m| m.trim().is_empty()))
    {
        return Err(err(format!("`{at}.models[{i}]` is empty")));
    }
    let models = match t.models {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .enumerate()
                .map(|(i, m)| canonical_name(aliases, &format!("{at}.models[{i}]"), m))
                .collect::<Result<_, _>>()?,
        ),
    };
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
    let tenant = Tenant {
        policy,
        limits: limits(&format!("{at}.limits"), t.limits)?,
        model_limits,
        name,
        models,
        allow_bedrock_model: t.allow_bedrock_model,
        admin: t.admin,
    };
    Ok((tenant, digests))
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
