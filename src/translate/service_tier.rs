//! OpenAI `service_tier` ↔ Bedrock `serviceTier` (and `performanceConfig.latency`), with a
//! tenant's default and ceiling.
//!
//! The tiers line up by what they buy: `flex` (cheaper, slower) < `default` < `priority`
//! (OpenAI's `fast` is the same tier) < `scale` (OpenAI's Scale Tier is committed capacity,
//! which is Bedrock's `reserved`). A tier above the tenant's ceiling is lowered to it and
//! `service_tier` is reported in `x-bedrock-ignored-params`: OpenAI too may serve another tier
//! than the one asked for, and says which in the response's `service_tier`.

use crate::converse::request::{PerformanceConfig, ServiceTier};
use crate::error::ApiError;

/// A service tier in OpenAI's terms, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Flex,
    Default,
    Priority,
    Scale,
}

impl Tier {
    /// An OpenAI request value (`auto` is not a tier: it is the tenant's default).
    pub fn from_openai(s: &str) -> Option<Self> {
        match s {
            "flex" => Some(Self::Flex),
            "default" => Some(Self::Default),
            "priority" | "fast" => Some(Self::Priority),
            "scale" => Some(Self::Scale),
            _ => None,
        }
    }

    /// The name in OpenAI's response `service_tier`.
    pub fn openai_name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Default => "default",
            Self::Priority => "priority",
            Self::Scale => "scale",
        }
    }

    /// The `ServiceTierType` Bedrock takes.
    pub fn bedrock_name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Default => "default",
            Self::Priority => "priority",
            Self::Scale => "reserved",
        }
    }

    pub fn from_bedrock(s: &str) -> Option<Self> {
        match s {
            "flex" => Some(Self::Flex),
            "default" => Some(Self::Default),
            "priority" => Some(Self::Priority),
            "reserved" => Some(Self::Scale),
            _ => None,
        }
    }
}

/// A tenant's `service_tier` configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierPolicy {
    /// Used when the request says nothing or `auto`; `None` leaves the choice to Bedrock.
    pub default: Option<Tier>,
    /// The highest tier the tenant may use; `None` is no ceiling.
    pub max: Option<Tier>,
}

/// Models where OpenAI's `priority` is served by latency-optimized inference
/// (`performanceConfig.latency: optimized`) rather than Bedrock's priority tier
/// (<https://docs.aws.amazon.com/bedrock/latest/userguide/latency-optimized-inference.html>),
/// by canonical id prefix.
const LATENCY_OPTIMIZED: &[&str] = &[
    "anthropic.claude-3-5-haiku-20241022",
    "meta.llama3-1-70b-instruct",
    "meta.llama3-1-405b-instruct",
];

/// What the request body gets, and whether the tier asked for was lowered to the ceiling.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierChoice {
    pub service_tier: Option<ServiceTier>,
    pub performance_config: Option<PerformanceConfig>,
    pub lowered: bool,
}

/// The tier for a request that asked for `requested` (`None`: not sent or `null`) on
/// `model_id`. An unknown value is a 400, as on OpenAI.
pub fn choose(
    requested: Option<&str>,
    policy: &TierPolicy,
    model_id: &str,
) -> Result<TierChoice, ApiError> {
    let asked = match requested {
        None | Some("auto") => policy.default,
        Some(name) => Some(Tier::from_openai(name).ok_or_else(|| {
            ApiError::invalid_param(
                "service_tier",
                "`service_tier` must be one of auto, default, flex, priority, fast or scale",
            )
        })?),
    };
    let Some(asked) = asked else {
        return Ok(TierChoice::default());
    };
    let tier = policy.max.map_or(asked, |max| asked.min(max));
    let canonical = crate::catalog::model_id::canonical(model_id);
    let latency =
        tier == Tier::Priority && LATENCY_OPTIMIZED.iter().any(|p| canonical.starts_with(p));
    Ok(TierChoice {
        service_tier: (!latency).then_some(ServiceTier {
            kind: tier.bedrock_name(),
        }),
        performance_config: latency.then_some(PerformanceConfig {
            latency: "optimized",
        }),
        lowered: tier != asked,
    })
}

/// The response's `service_tier`: `priority` for a latency-optimized answer (the lever
/// `priority` pulled), else Bedrock's `serviceTier.type`; `None` when Bedrock said neither.
pub fn from_response(service_tier: Option<&str>, latency: Option<&str>) -> Option<&'static str> {
    match (service_tier.and_then(Tier::from_bedrock), latency) {
        (_, Some("optimized")) => Some(Tier::Priority.openai_name()),
        (Some(t), _) => Some(t.openai_name()),
        (None, Some("standard")) => Some(Tier::Default.openai_name()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOVA: &str = "us.amazon.nova-micro-v1:0";
    const HAIKU_35: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

    fn sent(c: &TierChoice) -> (Option<&str>, Option<&str>, bool) {
        (
            c.service_tier.as_ref().map(|t| t.kind),
            c.performance_config.as_ref().map(|p| p.latency),
            c.lowered,
        )
    }

    #[test]
    fn every_openai_tier_maps_to_a_bedrock_tier_and_back() {
        let model = crate::test_support::botocore_model();
        let bedrock: Vec<&str> = model["shapes"]["ServiceTierType"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        // Every Bedrock tier has an OpenAI name and every OpenAI tier a Bedrock one.
        for b in &bedrock {
            let t = Tier::from_bedrock(b).unwrap_or_else(|| panic!("{b}"));
            assert_eq!(t.bedrock_name(), *b);
        }
        for (openai, bedrock_tier, back) in [
            ("flex", "flex", "flex"),
            ("default", "default", "default"),
            ("priority", "priority", "priority"),
            ("fast", "priority", "priority"),
            ("scale", "reserved", "scale"),
        ] {
            let c = choose(Some(openai), &TierPolicy::default(), NOVA).unwrap();
            assert_eq!(sent(&c), (Some(bedrock_tier), None, false), "{openai}");
            assert!(bedrock.contains(&bedrock_tier));
            assert_eq!(from_response(Some(bedrock_tier), None), Some(back));
        }
    }

    #[test]
    fn auto_and_absent_use_the_tenant_default() {
        for asked in [None, Some("auto")] {
            assert_eq!(
                choose(asked, &TierPolicy::default(), NOVA).unwrap(),
                TierChoice::default()
            );
            let p = TierPolicy {
                default: Some(Tier::Flex),
                max: None,
            };
            assert_eq!(
                sent(&choose(asked, &p, NOVA).unwrap()),
                (Some("flex"), None, false)
            );
        }
    }

    #[test]
    fn a_tier_above_the_ceiling_is_lowered() {
        let p = TierPolicy {
            default: Some(Tier::Flex),
            max: Some(Tier::Default),
        };
        assert_eq!(
            sent(&choose(Some("priority"), &p, NOVA).unwrap()),
            (Some("default"), None, true)
        );
        assert_eq!(
            sent(&choose(Some("scale"), &p, NOVA).unwrap()),
            (Some("default"), None, true)
        );
        assert_eq!(
            sent(&choose(Some("default"), &p, NOVA).unwrap()),
            (Some("default"), None, false)
        );
        assert_eq!(
            sent(&choose(Some("flex"), &p, NOVA).unwrap()),
            (Some("flex"), None, false)
        );
    }

    #[test]
    fn priority_is_latency_optimized_inference_where_that_is_the_lever() {
        let c = choose(Some("priority"), &TierPolicy::default(), HAIKU_35).unwrap();
        assert_eq!(sent(&c), (None, Some("optimized"), false));
        let c = choose(Some("flex"), &TierPolicy::default(), HAIKU_35).unwrap();
        assert_eq!(sent(&c), (Some("flex"), None, false));
        assert_eq!(from_response(None, Some("optimized")), Some("priority"));
        assert_eq!(
            from_response(Some("default"), Some("optimized")),
            Some("priority")
        );
        assert_eq!(from_response(Some("flex"), Some("standard")), Some("flex"));
        assert_eq!(from_response(None, Some("standard")), Some("default"));
        assert_eq!(from_response(None, None), None);
        assert_eq!(from_response(Some("unheard-of"), None), None);
    }

    #[test]
    fn unknown_tiers_are_refused_naming_the_parameter() {
        for bad in ["reserved", "Priority", "", "turbo"] {
            let e = choose(Some(bad), &TierPolicy::default(), NOVA).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some("service_tier")));
        }
    }
}
