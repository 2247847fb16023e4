//! Sampling and length: `inferenceConfig` (`maxTokens`, `temperature`, `topP`,
//! `stopSequences`), adjusted for what the model takes alongside thinking.

use super::capabilities::rejects_temperature_with_top_p;
use super::{Ignored, Target};
use crate::converse::request::InferenceConfig;
use crate::openai::chat::ChatRequest;

/// `maxTokens` room left for the visible answer when the client set no limit but thinking
/// is on (Anthropic requires `max_tokens` > `budget_tokens`).
pub(super) const ANSWER_ROOM: u32 = 8192;

/// OpenAI's temperature (0 to 2) in Bedrock's range (0 to 1).
pub(super) fn temperature(t: Option<f64>) -> Option<f64> {
    t.map(|t| t.min(1.0))
}

/// Stop sequences Bedrock takes (no empty ones).
pub(super) fn stop_sequences(stop: &[String]) -> Vec<String> {
    stop.iter().filter(|s| !s.is_empty()).cloned().collect()
}

/// The inference config for a request whose thinking budget is `thinking_budget`
/// (`anthropic_thinking`: Anthropic extended thinking is on).
pub(super) fn inference_config(
    req: &ChatRequest,
    target: Target<'_>,
    thinking_budget: Option<u32>,
    anthropic_thinking: bool,
    ignored: &mut Ignored,
) -> InferenceConfig {
    let mut temperature = temperature(req.temperature);
    let mut top_p = req.top_p;
    let mut max_tokens = req.max_tokens;
    if anthropic_thinking {
        // Thinking requires the default temperature and top_p.
        if temperature.take().is_some() {
            ignored.add("temperature");
        }
        if top_p.take().is_some() {
            ignored.add("top_p");
        }
    } else if temperature.is_some() && top_p.is_some() && rejects_temperature_with_top_p(target) {
        top_p = None;
        ignored.add("top_p");
    }
    if let Some(budget) = thinking_budget {
        max_tokens = match max_tokens {
            Some(m) if m <= budget => Some(m.saturating_add(budget)),
            Some(m) => Some(m),
            None => Some(budget.saturating_add(ANSWER_ROOM)),
        };
    }
    InferenceConfig {
        max_tokens,
        temperature,
        top_p,
        stop_sequences: stop_sequences(&req.stop),
    }
}
