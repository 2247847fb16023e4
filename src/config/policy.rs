//! A tenant's request policy: `service_tier` (default and ceiling), `guardrail`,
//! `model_guardrails` and `allow_request_guardrail`
//! ([`crate::translate::policy::RequestPolicy`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{err, ConfigError};
use crate::converse::guardrail::{
    valid_identifier, valid_version, GuardrailConfig, GuardrailTrace, StreamProcessingMode,
};
use crate::translate::guardrail::GuardrailPolicy;
use crate::translate::policy::RequestPolicy;
use crate::translate::service_tier::{Tier, TierPolicy};

/// `tenants.*.service_tier`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServiceTier {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
}

/// `tenants.*.guardrail` and the entries of `tenants.*.model_guardrails`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuardrail {
    pub identifier: String,
    pub version: String,
    #[serde(default)]
    pub trace: Option<String>,
    #[serde(default)]
    pub stream_processing_mode: Option<String>,
}

/// The raw policy fields of one tenant.
pub(super) struct RawPolicy {
    pub service_tier: Option<RawServiceTier>,
    pub guardrail: Option<RawGuardrail>,
    pub model_guardrails: BTreeMap<String, RawGuardrail>,
    pub allow_request_guardrail: bool,
}

/// Validates the policy of the tenant at `at` (`tenants.<name>`); `canonical` turns a
/// configured model name into the canonical id requests are matched on.
pub(super) fn request_policy(
    at: &str,
    raw: RawPolicy,
    canonical: &dyn Fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<RequestPolicy, ConfigError> {
    let service_tier = match raw.service_tier {
        None => TierPolicy::default(),
        Some(t) => tier_policy(&format!("{at}.service_tier"), t)?,
    };
    let default = match raw.guardrail {
        None => None,
        Some(g) => Some(guardrail(&format!("{at}.guardrail"), g)?),
    };
    let mut per_model = BTreeMap::new();
    for (model, g) in raw.model_guardrails {
        let field = format!("{at}.model_guardrails.{model}");
        let g = guardrail(&field, g)?;
        if per_model.insert(canonical(&field, &model)?, g).is_some() {
            return Err(err(format!(
                "`{field}` names a model another `{at}.model_guardrails` entry already names"
            )));
        }
    }
    Ok(RequestPolicy {
        service_tier,
        guardrails: GuardrailPolicy {
            default,
            per_model,
            allow_request: raw.allow_request_guardrail,
        },
    })
}

fn tier_policy(at: &str, raw: RawServiceTier) -> Result<TierPolicy, ConfigError> {
    let tier = |name: &str, v: Option<String>| match v {
        None => Ok(None),
        Some(v) => Tier::from_openai(&v).map(Some).ok_or_else(|| {
            err(format!(
                "`{at}.{name}` must be one of flex, default, priority, fast or scale"
            ))
        }),
    };
    let p = TierPolicy {
        default: tier("default", raw.default)?,
        max: tier("max", raw.max)?,
    };
    if let (Some(d), Some(m)) = (p.default, p.max) {
        if d > m {
            return Err(err(format!("`{at}.default` is above `{at}.max`")));
        }
    }
    Ok(p)
}

fn guardrail(at: &str, raw: RawGuardrail) -> Result<GuardrailConfig, ConfigError> {
    if !valid_identifier(&raw.identifier) {
        return Err(err(format!(
            "`{at}.identifier` must be a guardrail id ([a-z0-9]+) or a guardrail ARN"
        )));
    }
    if !valid_version(&raw.version) {
        return Err(err(format!(
            "`{at}.version` must be DRAFT or a version number"
        )));
    }
    let trace = match raw.trace.as_deref() {
        None => None,
        Some(t) => Some(GuardrailTrace::from_name(t).ok_or_else(|| {
            err(format!(
                "`{at}.trace` must be enabled, disabled or enabled_full"
            ))
        })?),
    };
    let mode = match raw.stream_processing_mode.as_deref() {
        None => None,
        Some(m) => Some(StreamProcessingMode::from_name(m).ok_or_else(|| {
            err(format!(
                "`{at}.stream_processing_mode` must be sync or async"
            ))
        })?),
    };
    Ok(GuardrailConfig {
        guardrail_identifier: raw.identifier,
        guardrail_version: raw.version,
        trace,
        stream_processing_mode: mode,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::translate::service_tier::Tier;
    use serde_json::{json, Value};

    /// SHA-256 of `sk-local-demo`.
    const DEMO_SHA: &str = "4ff444b1a79536cc47732956cf5bc6256abf64bc1b8adff6843fac08bbb6be9f";

    fn env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKIDENV".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
            _ => None,
        }
    }

    fn parse(tenant: Value) -> Result<Config, String> {
        let mut t = json!({"key_sha256": [DEMO_SHA]});
        for (k, v) in tenant.as_object().unwrap() {
            t[k] = v.clone();
        }
        let c = json!({"region": "us-east-1", "model_aliases": {"nova": "amazon.nova-pro-v1:0"},
                       "tenants": {"acme": t}});
        Config::parse(c.to_string().as_bytes(), &env).map_err(|e| e.0)
    }

    #[test]
    fn reads_a_tenants_tier_and_guardrails() {
        let c = parse(json!({
            "service_tier": {"default": "flex", "max": "default"},
            "guardrail": {"identifier": "abc123", "version": "2", "trace": "enabled", "stream_processing_mode": "async"},
            "model_guardrails": {"nova": {"identifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/xyz", "version": "DRAFT"}},
            "allow_request_guardrail": true
        }))
        .unwrap();
        let t = c.tenants.get("acme").unwrap();
        assert_eq!(
            (t.policy.service_tier.default, t.policy.service_tier.max),
            (Some(Tier::Flex), Some(Tier::Default))
        );
        let g = &t.policy.guardrails;
        assert!(g.allow_request);
        assert_eq!(g.default.as_ref().unwrap().guardrail_identifier, "abc123");
        // The alias is resolved to the canonical id requests are matched on.
        let nova = g.choose(None, "amazon.nova-pro-v1:0").unwrap().unwrap();
        assert_eq!(nova.guardrail_version, "DRAFT");
        // Absent: nothing applied, requests may not choose.
        let plain = parse(json!({})).unwrap();
        let p = &plain.tenants.get("acme").unwrap().policy;
        assert_eq!(*p, Default::default());
        assert!(!p.guardrails.allow_request);
    }

    #[test]
    fn refuses_bad_policies_naming_the_field() {
        for (tenant, field) in [
            (
                json!({"service_tier": {"default": "turbo"}}),
                "`tenants.acme.service_tier.default`",
            ),
            (
                json!({"service_tier": {"max": "auto"}}),
                "`tenants.acme.service_tier.max`",
            ),
            (
                json!({"service_tier": {"default": "priority", "max": "flex"}}),
                "`tenants.acme.service_tier.default` is above",
            ),
            (json!({"service_tier": {"ceiling": "flex"}}), "ceiling"),
            (
                json!({"guardrail": {"identifier": "Bad Id", "version": "1"}}),
                "`tenants.acme.guardrail.identifier`",
            ),
            (
                json!({"guardrail": {"identifier": "abc", "version": "0"}}),
                "`tenants.acme.guardrail.version`",
            ),
            (
                json!({"guardrail": {"identifier": "abc", "version": "1", "trace": "yes"}}),
                "`tenants.acme.guardrail.trace`",
            ),
            (
                json!({"guardrail": {"identifier": "abc", "version": "1", "stream_processing_mode": "x"}}),
                "`tenants.acme.guardrail.stream_processing_mode`",
            ),
            (json!({"guardrail": {"identifier": "abc"}}), "version"),
            (
                json!({"model_guardrails": {"not a model": {"identifier": "abc", "version": "1"}}}),
                "`tenants.acme.model_guardrails.not a model`",
            ),
            (
                json!({"model_guardrails": {"nova": {"identifier": "a", "version": "1"},
                    "amazon.nova-pro-v1:0": {"identifier": "b", "version": "1"}}}),
                "already names",
            ),
        ] {
            let e = parse(tenant.clone()).unwrap_err();
            assert!(e.contains(field), "{tenant}: {e}");
            assert!(!e.contains("Bad Id"), "{e}");
        }
    }
}
