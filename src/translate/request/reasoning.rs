//! Reasoning: the client's `thinking` object (passed through) or `reasoning_effort`, mapped
//! to each family's own switch (Anthropic extended thinking, Nova `reasoningConfig`,
//! gpt-oss `reasoning_effort`) in `additionalModelRequestFields`.

use serde_json::{json, Map, Value};

use super::capabilities::{anthropic_thinks, nova_reasons};
use super::{Ignored, Target};
use crate::catalog::models::Provider;
use crate::openai::chat::{ChatRequest, ReasoningEffort};

/// Extended-thinking budgets for `reasoning_effort` on Anthropic models.
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal | ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(4096),
        ReasoningEffort::High => Some(16384),
        ReasoningEffort::XHigh => Some(32768),
    }
}

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u32 = 1024;

/// The reasoning part of the request.
pub(super) struct Reasoning {
    /// `additionalModelRequestFields` (empty: none sent).
    pub additional: Map<String, Value>,
    /// The thinking budget, when thinking is enabled with one.
    pub budget_tokens: Option<u32>,
}

/// `thinking` passthrough wins over `reasoning_effort`; an effort the model has no switch
/// for is ignored.
pub(super) fn reasoning(req: &ChatRequest, target: Target<'_>, ignored: &mut Ignored) -> Reasoning {
    let mut additional = Map::new();
    let mut budget_tokens: Option<u32> = None;
    if let Some(t) = &req.thinking {
        if t.get("type").and_then(Value::as_str) == Some("enabled") {
            budget_tokens = t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .and_then(|b| u32::try_from(b).ok());
        }
        additional.insert("thinking".into(), t.clone());
        if req.reasoning_effort.is_some() {
            ignored.add("reasoning_effort");
        }
    } else if let Some(effort) = req.reasoning_effort.filter(|e| *e != ReasoningEffort::None) {
        let level = match effort {
            ReasoningEffort::Minimal | ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            _ => "high",
        };
        match target.provider {
            Provider::Anthropic if anthropic_thinks(target) => {
                let mut budget = thinking_budget(effort).unwrap_or(MIN_THINKING_BUDGET);
                if let Some(max) = req.max_tokens {
                    // OpenAI's max_completion_tokens covers reasoning too: keep half for it.
                    budget = budget.min((max / 2).max(MIN_THINKING_BUDGET));
                }
                budget_tokens = Some(budget);
                additional.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
            Provider::Amazon if nova_reasons(target) => {
                additional.insert(
                    "reasoningConfig".into(),
                    json!({"type": "enabled", "maxReasoningEffort": level}),
                );
            }
            Provider::OpenAi => {
                additional.insert("reasoning_effort".into(), json!(level));
            }
            _ => ignored.add("reasoning_effort"),
        }
    }
    Reasoning {
        additional,
        budget_tokens,
    }
}
