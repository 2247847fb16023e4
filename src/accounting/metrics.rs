//! Observability of one finished request: the metrics to update and the access-log fields,
//! decided here; the shell only calls `define_metric` / `increment_metric` / `record_metric`
//! and `set_property`.
//!
//! Metric names carry the tenant and model in dotted segments, the way Envoy's own stats carry
//! a cluster name (`cluster.<name>.upstream_rq`), so a `stats_tags` rule can turn them into
//! Prometheus labels (see `envoy/envoy.yaml`):
//!
//! ```text
//! bedrock_openai.tenant.<tenant>.model.<model>.requests              counter
//! bedrock_openai.tenant.<tenant>.model.<model>.errors.<error_type>   counter
//! bedrock_openai.tenant.<tenant>.model.<model>.input_tokens          counter
//! bedrock_openai.tenant.<tenant>.model.<model>.output_tokens         counter
//! bedrock_openai.tenant.<tenant>.model.<model>.cache_read_tokens     counter
//! bedrock_openai.tenant.<tenant>.model.<model>.cache_write_tokens    counter
//! bedrock_openai.tenant.<tenant>.model.<model>.time_to_first_token_ms  histogram
//! ```
//!
//! Envoy puts Wasm metrics under the `wasmcustom.` namespace, which `/stats/prometheus`
//! strips: with the shipped tag rules the above become e.g.
//! `bedrock_openai_requests{bedrock_tenant="acme",bedrock_model="us_anthropic_…"}`. Segment
//! values are sanitised to `[A-Za-z0-9_-]` (`.` and `:` in model ids become `_`) so a segment
//! never contains the separator; `-` stands for "not known" (a request refused before its
//! tenant or model was).
//!
//! `input_tokens` is the whole prompt (OpenAI's `prompt_tokens`); `cache_read_tokens` and
//! `cache_write_tokens` are the parts of it Bedrock read from or wrote to the prompt cache,
//! counted only when there are some.

use std::collections::HashMap;

use crate::translate::usage::TokenCounts;

/// Metric kinds the shell defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Counter,
    Histogram,
}

/// One update: add `value` to a counter, or record it in a histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub name: String,
    pub kind: Kind,
    pub value: u64,
}

/// The metrics of one tenant and model, the last segment of their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stat {
    Requests,
    /// `errors.<error_type>`, the type already a name segment ([`segment`]).
    Errors(String),
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    TimeToFirstTokenMs,
}

impl Stat {
    /// The metrics every tenant and model has (the others are [`Stat::Errors`]), in the order
    /// of [`Stat::fixed_index`].
    pub const FIXED: [Stat; 6] = [
        Stat::Requests,
        Stat::InputTokens,
        Stat::OutputTokens,
        Stat::CacheReadTokens,
        Stat::CacheWriteTokens,
        Stat::TimeToFirstTokenMs,
    ];

    /// Where a fixed metric stands in [`Stat::FIXED`]; `None` for [`Stat::Errors`].
    pub fn fixed_index(&self) -> Option<usize> {
        Self::FIXED.iter().position(|f| f == self)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::TimeToFirstTokenMs => Kind::Histogram,
            _ => Kind::Counter,
        }
    }

    /// The last segment(s) of the metric's name: `requests`, `errors.<type>`, ….
    pub fn suffix(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Requests => "requests".into(),
            Self::Errors(t) => format!("errors.{t}").into(),
            Self::InputTokens => "input_tokens".into(),
            Self::OutputTokens => "output_tokens".into(),
            Self::CacheReadTokens => "cache_read_tokens".into(),
            Self::CacheWriteTokens => "cache_write_tokens".into(),
            Self::TimeToFirstTokenMs => "time_to_first_token_ms".into(),
        }
    }
}

/// A finished request's metric updates: one tenant and model (as the [`Outcome`] names
/// them, unsanitised), each metric with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub tenant: Option<String>,
    pub model: Option<String>,
    pub values: Vec<(Stat, u64)>,
}

impl Metrics {
    /// The full metric name of `stat` in this tenant and model.
    pub fn name(&self, stat: &Stat) -> String {
        full_name(self.tenant.as_deref(), self.model.as_deref(), stat)
    }

    /// The updates by full name.
    pub fn named(&self) -> Vec<Update> {
        self.values
            .iter()
            .map(|(stat, value)| Update {
                name: self.name(stat),
                kind: stat.kind(),
                value: *value,
            })
            .collect()
    }
}

fn full_name(tenant: Option<&str>, model: Option<&str>, stat: &Stat) -> String {
    format!(
        "{PREFIX}.tenant.{}.model.{}.{}",
        segment(tenant),
        segment(model),
        stat.suffix()
    )
}

/// A worker's metric ids: each name is defined once (Envoy shares the stat between workers)
/// and then found by tenant and model without building it again. Bounded: tenants are the
/// configured ones, models the configured canonical ids or `other`, error types OpenAI's.
#[derive(Debug, Default)]
pub struct MetricIds {
    scopes: HashMap<String, HashMap<String, ScopeIds>>,
}

#[derive(Debug, Default)]
struct ScopeIds {
    /// Ids of [`Stat::FIXED`], in its order.
    fixed: [Option<u32>; 6],
    errors: Vec<(String, u32)>,
}

impl MetricIds {
    /// The id of `stat` for `tenant` and `model`; on first use `define(kind, name)` defines
    /// it (`None`: not defined, asked again next time).
    pub fn id(
        &mut self,
        tenant: Option<&str>,
        model: Option<&str>,
        stat: &Stat,
        define: &mut dyn FnMut(Kind, &str) -> Option<u32>,
    ) -> Option<u32> {
        let (t, m) = (tenant.unwrap_or_default(), model.unwrap_or_default());
        if !self.scopes.contains_key(t) {
            self.scopes.insert(t.to_string(), HashMap::new());
        }
        let models = self.scopes.get_mut(t)?;
        if !models.contains_key(m) {
            models.insert(m.to_string(), ScopeIds::default());
        }
        let ids = models.get_mut(m)?;
        let slot = match stat {
            Stat::Errors(e) => match ids.errors.iter().find(|(k, _)| k == e) {
                Some((_, id)) => return Some(*id),
                None => None,
            },
            fixed => {
                let at = fixed.fixed_index()?;
                if let Some(id) = ids.fixed[at] {
                    return Some(id);
                }
                Some(at)
            }
        };
        let id = define(stat.kind(), &full_name(tenant, model, stat))?;
        match (slot, stat) {
            (Some(at), _) => ids.fixed[at] = Some(id),
            (None, Stat::Errors(e)) => ids.errors.push((e.clone(), id)),
            (None, _) => {}
        }
        Some(id)
    }
}

/// What is known about a request when it is over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub request_id: String,
    pub tenant: Option<String>,
    /// The Bedrock model id called.
    pub model: Option<String>,
    /// The model's name in metric names: its canonical id when the configuration knows it,
    /// else `other` ([`crate::config::Config::metric_model`]), so callers cannot mint stats.
    pub metric_model: Option<String>,
    /// The `:path` the client sent, before the filter rewrote it ([`log_path`]).
    pub path: Option<String>,
    /// OpenAI `error.type` of the answer (or of the SSE error event), or `upstream_reset`.
    pub error_type: Option<String>,
    /// What Bedrock reported, when the answer said.
    pub tokens: Option<TokenCounts>,
    /// Bedrock's `stopReason`.
    pub stop_reason: Option<String>,
    /// Milliseconds from sending the request upstream to the first byte for the client.
    pub time_to_first_token_ms: Option<u64>,
    pub stream: bool,
}

pub const PREFIX: &str = "bedrock_openai";

/// Longest metric name segment; longer values are cut.
pub const MAX_SEGMENT_CHARS: usize = 64;

/// `[A-Za-z0-9_-]` kept, anything else `_`, at most [`MAX_SEGMENT_CHARS`]; empty or absent
/// is `-`.
pub fn segment(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v
            .chars()
            .take(MAX_SEGMENT_CHARS)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => "-".into(),
    }
}

/// The path as the access log shows it: control characters replaced, at most 1,024
/// characters. It is the `:path` the filter received, so a client's `x-envoy-original-path`
/// cannot change what is logged.
pub fn log_path(path: &str) -> String {
    crate::headers::printable(path, 1024)
}

impl Outcome {
    /// The metric updates for this request, by tenant and model.
    pub fn metrics(&self) -> Metrics {
        let mut values = vec![(Stat::Requests, 1)];
        if let Some(t) = &self.error_type {
            values.push((Stat::Errors(segment(Some(t))), 1));
        }
        if let Some(t) = self.tokens {
            // Envoy refuses to add 0 to a counter (embeddings have no output tokens).
            for (stat, n) in [
                (Stat::InputTokens, t.prompt()),
                (Stat::OutputTokens, t.output),
                (Stat::CacheReadTokens, t.cache_read),
                (Stat::CacheWriteTokens, t.cache_write),
            ] {
                if n > 0 {
                    values.push((stat, n));
                }
            }
        }
        if let Some(ms) = self.time_to_first_token_ms {
            values.push((Stat::TimeToFirstTokenMs, ms));
        }
        Metrics {
            tenant: self.tenant.clone(),
            model: self.metric_model.clone(),
            values,
        }
    }

    /// The metric updates for this request, by full name.
    pub fn updates(&self) -> Vec<Update> {
        self.metrics().named()
    }

    /// Access-log fields, set as Envoy filter state `wasm.<name>` (read in the access log
    /// format as `%FILTER_STATE(wasm.bedrock_tenant:PLAIN)%`). Unknown values are `-`.
    pub fn log_fields(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<&str>| v.unwrap_or("-").to_string();
        let num = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
        vec![
            ("bedrock_path", opt(self.path.as_deref())),
            ("bedrock_tenant", opt(self.tenant.as_deref())),
            ("bedrock_model", opt(self.model.as_deref())),
            ("bedrock_input_tokens", num(self.tokens.map(|t| t.prompt()))),
            ("bedrock_output_tokens", num(self.tokens.map(|t| t.output))),
            (
                "bedrock_cache_read_tokens",
                num(self.tokens.map(|t| t.cache_read)),
            ),
            (
                "bedrock_cache_write_tokens",
                num(self.tokens.map(|t| t.cache_write)),
            ),
            ("bedrock_stop_reason", opt(self.stop_reason.as_deref())),
            ("bedrock_error_type", opt(self.error_type.as_deref())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tag_friendly() {
        let o = Outcome {
            tenant: Some("acme".into()),
            model: Some("us.anthropic.claude-3-5-sonnet-20241022-v2:0".into()),
            metric_model: Some("anthropic.claude-3-5-sonnet-20241022-v2:0".into()),
            error_type: Some("rate_limit_error".into()),
            tokens: Some(TokenCounts {
                uncached_input: 1,
                output: 5,
                cache_read: 2,
                cache_write: 0,
            }),
            time_to_first_token_ms: Some(42),
            ..Outcome::default()
        };
        let u = o.updates();
        let base = "bedrock_openai.tenant.acme.model.anthropic_claude-3-5-sonnet-20241022-v2_0";
        let names: Vec<_> = u
            .iter()
            .map(|u| (u.name.as_str(), u.kind, u.value))
            .collect();
        assert_eq!(
            names,
            [
                (format!("{base}.requests").as_str(), Kind::Counter, 1),
                (
                    format!("{base}.errors.rate_limit_error").as_str(),
                    Kind::Counter,
                    1
                ),
                (format!("{base}.input_tokens").as_str(), Kind::Counter, 3),
                (format!("{base}.output_tokens").as_str(), Kind::Counter, 5),
                (
                    format!("{base}.cache_read_tokens").as_str(),
                    Kind::Counter,
                    2
                ),
                (
                    format!("{base}.time_to_first_token_ms").as_str(),
                    Kind::Histogram,
                    42
                ),
            ]
        );
    }

    #[test]
    fn ids_are_defined_once_per_name() {
        let mut ids = MetricIds::default();
        let mut defined = Vec::new();
        let mut define = |kind: Kind, name: &str| {
            defined.push((kind, name.to_string()));
            u32::try_from(defined.len()).ok()
        };
        let errors = Stat::Errors("rate_limit_error".into());
        let mut got = Vec::new();
        for _ in 0..3 {
            for (t, m, stat) in [
                (Some("acme"), Some("m.1:0"), &Stat::Requests),
                (Some("acme"), Some("m.1:0"), &Stat::TimeToFirstTokenMs),
                (Some("acme"), Some("m.1:0"), &errors),
                (Some("acme"), Some("m.2"), &Stat::Requests),
                (None, None, &Stat::Requests),
            ] {
                got.push(ids.id(t, m, stat, &mut define));
            }
        }
        assert_eq!(got[..5], [Some(1), Some(2), Some(3), Some(4), Some(5)]);
        assert_eq!(got[5..10], got[..5]);
        assert_eq!(got[10..], got[..5]);
        let base = "bedrock_openai.tenant.acme.model.m_1_0";
        assert_eq!(
            defined,
            [
                (Kind::Counter, format!("{base}.requests")),
                (Kind::Histogram, format!("{base}.time_to_first_token_ms")),
                (Kind::Counter, format!("{base}.errors.rate_limit_error")),
                (
                    Kind::Counter,
                    "bedrock_openai.tenant.acme.model.m_2.requests".into()
                ),
                (
                    Kind::Counter,
                    "bedrock_openai.tenant.-.model.-.requests".into()
                ),
            ]
        );
        // A name Envoy refused is asked for again, not cached.
        let mut refused = 0;
        let mut refuse = |_: Kind, _: &str| {
            refused += 1;
            None
        };
        let fresh = Stat::OutputTokens;
        assert_eq!(
            ids.id(Some("acme"), Some("m.1:0"), &fresh, &mut refuse),
            None
        );
        assert_eq!(
            ids.id(Some("acme"), Some("m.1:0"), &fresh, &mut refuse),
            None
        );
        assert_eq!(refused, 2);
    }

    #[test]
    fn unknown_parts_are_dashes() {
        let o = Outcome {
            error_type: Some("authentication_error".into()),
            ..Outcome::default()
        };
        assert_eq!(
            o.updates()[1].name,
            "bedrock_openai.tenant.-.model.-.errors.authentication_error"
        );
        let f: std::collections::BTreeMap<_, _> = o.log_fields().into_iter().collect();
        assert_eq!(f["bedrock_tenant"], "-");
        assert_eq!(f["bedrock_input_tokens"], "-");
        assert_eq!(f["bedrock_cache_read_tokens"], "-");
        assert_eq!(f["bedrock_error_type"], "authentication_error");
        assert_eq!(segment(Some("a b/c.d")), "a_b_c_d");
    }
}
