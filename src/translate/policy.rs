//! What a tenant's configuration adds to a translated request: the service tier (its
//! default and ceiling) and the guardrail. Applied after translation, before signing.

use crate::converse::request::{ConverseRequest, GuardrailConfig};
use crate::error::ApiError;
use crate::translate::guardrail::{self, GuardrailPolicy};
use crate::translate::service_tier::{self, TierPolicy};

/// A tenant's request policy (`tenants.*.service_tier`, `guardrail`, `model_guardrails`,
/// `allow_request_guardrail`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestPolicy {
    pub service_tier: TierPolicy,
    pub guardrails: GuardrailPolicy,
}

/// What the request itself asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    /// `service_tier` as sent (`None`: absent or null).
    pub service_tier: Option<&'a str>,
    /// The `guardrailConfig` extension.
    pub guardrail: Option<&'a GuardrailConfig>,
}

/// Sets `serviceTier` / `performanceConfig` and `guardrailConfig` on `body` for a call of
/// `model_id`; names lowered or unusable parameters in `ignored`.
pub fn apply(
    policy: &RequestPolicy,
    asked: Asked<'_>,
    body: &mut ConverseRequest,
    model_id: &str,
    stream: bool,
    ignored: &mut Vec<String>,
) -> Result<(), ApiError> {
    let tier = service_tier::choose(asked.service_tier, &policy.service_tier, model_id)?;
    if tier.lowered && !ignored.iter().any(|n| n == "service_tier") {
        ignored.push("service_tier".into());
    }
    body.service_tier = tier.service_tier;
    body.performance_config = tier.performance_config;
    let canonical = crate::catalog::model_id::canonical(model_id);
    let chosen = policy.guardrails.choose(asked.guardrail, canonical)?;
    guardrail::apply(body, chosen, stream, ignored);
    Ok(())
}
