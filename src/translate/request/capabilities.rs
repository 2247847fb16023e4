//! What each model family accepts, as far as the translation must know: the one place to
//! look when a new model behaves differently. Decided from the provider and the model id.

use super::Target;
use crate::catalog::models::{claude_version, Provider};
use crate::catalog::reasoning;

/// Whether Bedrock's native structured output (`outputConfig.textFormat`) is used for
/// `json_schema`: Anthropic Claude 4.5 and later. Other models get the forced-tool fallback.
pub fn native_structured_output(t: Target<'_>) -> bool {
    t.provider == Provider::Anthropic && claude_version(t.model_id).is_some_and(|v| v >= (4, 5))
}

/// Whether the model takes a forced `toolChoice` (`any` / `tool`): Anthropic and Amazon Nova.
pub(super) fn forced_tool_choice(t: Target<'_>) -> bool {
    matches!(t.provider, Provider::Anthropic | Provider::Amazon)
}

/// Newer Anthropic models (Claude 4 and later) reject `temperature` together with `top_p`.
pub(super) fn rejects_temperature_with_top_p(t: Target<'_>) -> bool {
    t.provider == Provider::Anthropic && claude_version(t.model_id).is_none_or(|v| v >= (4, 0))
}

/// Whether `reasoning_effort` maps onto Anthropic extended thinking (Claude 3.7 and later).
pub(super) fn anthropic_thinks(t: Target<'_>) -> bool {
    reasoning::claude_thinks(t.model_id)
}

/// Amazon Nova first-generation models have no reasoning config.
pub(super) fn nova_reasons(t: Target<'_>) -> bool {
    reasoning::nova_reasons(t.model_id)
}
