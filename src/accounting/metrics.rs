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
    fn base(&self) -> String {
        format!(
            "{PREFIX}.tenant.{}.model.{}",
            segment(self.tenant.as_deref()),
            segment(self.metric_model.as_deref())
        )
    }

    /// The metric updates for this request.
    pub fn updates(&self) -> Vec<Update> {
        let base = self.base();
        let counter = |suffix: &str, value: u64| Update {
            name: format!("{base}.{suffix}"),
            kind: Kind::Counter,
            value,
        };
        let mut out = vec![counter("requests", 1)];
        if let Some(t) = &self.error_type {
            out.push(counter(&format!("errors.{}", segment(Some(t))), 1));
        }
        if let Some(t) = self.tokens {
            // Envoy refuses to add 0 to a counter (embeddings have no output tokens).
            for (suffix, n) in [
                ("input_tokens", t.prompt()),
                ("output_tokens", t.output),
                ("cache_read_tokens", t.cache_read),
                ("cache_write_tokens", t.cache_write),
            ] {
                if n > 0 {
                    out.push(counter(suffix, n));
                }
            }
        }
        if let Some(ms) = self.time_to_first_token_ms {
            out.push(Update {
                name: format!("{base}.time_to_first_token_ms"),
                kind: Kind::Histogram,
                value: ms,
            });
        }
        out
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
