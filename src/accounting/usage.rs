//! Usage accounting: per tenant, per Bedrock model, requests and input/output tokens (and the
//! prompt-cache reads and writes among the input) over a fixed window (`usage_window_seconds`,
//! default a day), and the `GET /v1/usage` report.
//!
//! Like [`crate::accounting::ratelimit`], these are pure functions over bytes the shell keeps in
//! proxy-wasm shared data (one small binary value per tenant, see [`TenantUsage::encode`], written with
//! compare-and-swap), so every
//! worker thread adds to the same totals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::translate::usage::TokenCounts;

/// The shared-data key of one tenant's usage.
pub fn key(tenant: &str) -> String {
    format!("bedrock_openai/usage/{tenant}")
}

/// First bytes of the stored [`TenantUsage`] (format 2: six counters per model).
const MAGIC: &[u8] = b"U\x02";
/// Format 1 (four counters per model, no cache counters), still read.
const MAGIC_V1: &[u8] = b"U\x01";

/// One tenant's counters for the current window (the shared-data value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUsage {
    /// Unix seconds at which the window opened; 0 before the first request.
    pub window_start: u64,
    pub models: BTreeMap<String, ModelUsage>,
}

/// Counters for one Bedrock model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Requests sent to Bedrock (answered or not).
    pub requests: u64,
    /// Of those, the ones that ended in an error (Bedrock's, or a broken stream).
    pub errors: u64,
    /// Every prompt token, cached or not (OpenAI's `prompt_tokens`).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of `input_tokens`, those read from the prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Of `input_tokens`, those written to the prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

/// What one finished request adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub model: &'a str,
    pub tokens: TokenCounts,
    pub error: bool,
}

impl TenantUsage {
    /// A stored value; anything unreadable (absent, empty initial value) is empty usage. The
    /// JSON form earlier versions stored is still read.
    pub fn decode(bytes: Option<&[u8]>) -> TenantUsage {
        let Some(bytes) = bytes else {
            return TenantUsage::default();
        };
        if let Some(rest) = bytes.strip_prefix(MAGIC) {
            Self::decode_binary(rest, 6)
        } else if let Some(rest) = bytes.strip_prefix(MAGIC_V1) {
            Self::decode_binary(rest, 4)
        } else {
            serde_json::from_slice(bytes).ok()
        }
        .unwrap_or_default()
    }

    /// The stored form: [`MAGIC`], `window_start`, the model count, then per model its id
    /// (length-prefixed) and six counters (requests, errors, input, output, cache read, cache
    /// write); integers little-endian. Every request reads and writes it, so it is not JSON.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.models.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.window_start.to_le_bytes());
        out.extend_from_slice(&(self.models.len() as u32).to_le_bytes());
        for (model, m) in &self.models {
            out.extend_from_slice(&(model.len() as u32).to_le_bytes());
            out.extend_from_slice(model.as_bytes());
            for n in m.counters() {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        out
    }

    /// `counters`: per model, 4 (format 1) or 6 (format 2).
    fn decode_binary(mut b: &[u8], counters: usize) -> Option<TenantUsage> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (b.get(..n)?, b.get(n..)?);
            *b = rest;
            Some(head)
        }
        let u64_ = |b: &mut &[u8]| Some(u64::from_le_bytes(take(b, 8)?.try_into().ok()?));
        let u32_ = |b: &mut &[u8]| Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?));
        let window_start = u64_(&mut b)?;
        let count = u32_(&mut b)?;
        let mut models = BTreeMap::new();
        for _ in 0..count {
            let len = usize::try_from(u32_(&mut b)?).ok()?;
            let model = std::str::from_utf8(take(&mut b, len)?).ok()?.to_string();
            let mut n = [0u64; 6];
            for slot in n.iter_mut().take(counters) {
                *slot = u64_(&mut b)?;
            }
            let m = ModelUsage {
                requests: n[0],
                errors: n[1],
                input_tokens: n[2],
                output_tokens: n[3],
                cache_read_tokens: n[4],
                cache_write_tokens: n[5],
            };
            models.insert(model, m);
        }
        b.is_empty().then_some(TenantUsage {
            window_start,
            models,
        })
    }

    /// The usage in force at `now`: this one, or an empty one if its window is over.
    pub fn current(self, now: u64, window_secs: u64) -> TenantUsage {
        if self.window_start == 0 || now >= self.window_start.saturating_add(window_secs) {
            TenantUsage {
                window_start: now,
                models: BTreeMap::new(),
            }
        } else {
            self
        }
    }
}

impl ModelUsage {
    /// The stored order of the counters.
    fn counters(&self) -> [u64; 6] {
        [
            self.requests,
            self.errors,
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
        ]
    }
}

/// Where requests to models past a tenant's `max_usage_models_per_tenant` are counted.
pub const OTHER_MODELS: &str = "other";

/// Adds one request to a tenant's stored usage; returns the value to write back. A tenant's
/// value holds at most `max_models` models plus [`OTHER_MODELS`], so callers naming ever new
/// models cannot grow it (or the `/v1/usage` answer) without bound.
pub fn record(
    state: Option<&[u8]>,
    now: u64,
    window_secs: u64,
    max_models: usize,
    r: &Record<'_>,
) -> Vec<u8> {
    let mut u = TenantUsage::decode(state).current(now, window_secs);
    let named = u.models.keys().filter(|k| *k != OTHER_MODELS).count();
    let model = if u.models.contains_key(r.model) || named < max_models {
        r.model
    } else {
        OTHER_MODELS
    };
    let m = u.models.entry(model.to_string()).or_default();
    m.requests = m.requests.saturating_add(1);
    m.errors = m.errors.saturating_add(u64::from(r.error));
    let t = &r.tokens;
    m.input_tokens = m.input_tokens.saturating_add(t.prompt());
    m.output_tokens = m.output_tokens.saturating_add(t.output);
    m.cache_read_tokens = m.cache_read_tokens.saturating_add(t.cache_read);
    m.cache_write_tokens = m.cache_write_tokens.saturating_add(t.cache_write);
    u.encode()
}

#[derive(Serialize)]
struct Report<'a> {
    object: &'static str,
    window_seconds: u64,
    data: Vec<TenantReport<'a>>,
    /// Fleet mode: where the totals come from ([`FleetInfo`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet: Option<&'a FleetInfo>,
}

/// Fleet mode's addition to the report: how many writers the totals sum, as of when, and how
/// far behind they may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetInfo {
    pub writers: usize,
    /// Unix seconds of the read.
    pub as_of: u64,
    pub sync_interval_ms: u64,
    /// `true`: the store could not be read; the totals are this replica's own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

#[derive(Serialize)]
struct TenantReport<'a> {
    tenant: &'a str,
    /// Unix seconds; `null` before the tenant's first request in this window.
    window_start: Option<u64>,
    window_end: Option<u64>,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    models: Vec<ModelReport<'a>>,
}

#[derive(Serialize)]
struct ModelReport<'a> {
    model: &'a str,
    #[serde(flatten)]
    usage: ModelUsage,
    /// Fleet mode: the Bedrock region the model was called in.
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
}

/// One tenant in a report: its name, usage in the window, and (fleet mode) each model's
/// region.
pub type TenantLine<'a> = (&'a str, TenantUsage, BTreeMap<String, String>);

/// The `GET /v1/usage` body for the given tenants (name, stored value), in that order.
pub fn report(tenants: &[(&str, Option<Vec<u8>>)], now: u64, window_secs: u64) -> Vec<u8> {
    let usages: Vec<TenantLine<'_>> = tenants
        .iter()
        .map(|(name, bytes)| {
            let u = TenantUsage::decode(bytes.as_deref());
            let expired = u.window_start == 0 || now >= u.window_start.saturating_add(window_secs);
            let u = if expired { TenantUsage::default() } else { u };
            (*name, u, BTreeMap::new())
        })
        .collect();
    render(&usages, window_secs, None)
}

/// The report body of tenants' usage (a tenant with `window_start` 0 has none yet).
pub fn render(usages: &[TenantLine<'_>], window_secs: u64, fleet: Option<&FleetInfo>) -> Vec<u8> {
    let data = usages
        .iter()
        .map(|(name, u, regions)| {
            let sum = |f: fn(&ModelUsage) -> u64| {
                u.models.values().map(f).fold(0u64, u64::saturating_add)
            };
            let open = u.window_start > 0;
            TenantReport {
                tenant: name,
                window_start: open.then_some(u.window_start),
                window_end: open.then_some(u.window_start.saturating_add(window_secs)),
                requests: sum(|m| m.requests),
                input_tokens: sum(|m| m.input_tokens),
                output_tokens: sum(|m| m.output_tokens),
                cache_read_tokens: sum(|m| m.cache_read_tokens),
                cache_write_tokens: sum(|m| m.cache_write_tokens),
                models: u
                    .models
                    .iter()
                    .map(|(model, usage)| ModelReport {
                        model,
                        usage: *usage,
                        region: regions.get(model).map(String::as_str),
                    })
                    .collect(),
            }
        })
        .collect();
    serde_json::to_vec(&Report {
        object: "usage",
        window_seconds: window_secs,
        data,
        fleet,
    })
    .unwrap_or_default()
}

/// A rough input-token estimate for rate limiting before the call: a quarter of the text's
/// characters (rounded up), over every `text` string in the Converse body. The real count
/// replaces it once Bedrock reports usage.
///
/// The body is walked as it is read, without building a `serde_json::Value` tree: this runs
/// on every request, and the tree (one allocation per string, map and array) cost as much
/// as the translation itself.
pub fn estimate_input_tokens(converse_body: &[u8]) -> u64 {
    let mut de = serde_json::Deserializer::from_slice(converse_body);
    let chars = match serde::de::DeserializeSeed::deserialize(TextChars(false), &mut de) {
        Ok(n) if de.end().is_ok() => n,
        _ => 0,
    };
    chars.div_ceil(4).max(1)
}

/// Counts the characters of the strings under `text` keys, at any depth; the flag says
/// whether the value being read is one.
struct TextChars(bool);

impl<'de> serde::de::DeserializeSeed<'de> for TextChars {
    type Value = u64;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TextChars {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<u64, E> {
        Ok(if self.0 { v.chars().count() as u64 } else { 0 })
    }

    fn visit_bool<E>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_i64<E>(self, _: i64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_u64<E>(self, _: u64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_f64<E>(self, _: f64) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_unit<E>(self) -> Result<u64, E> {
        Ok(0)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        while let Some(c) = seq.next_element_seed(TextChars(false))? {
            n = n.saturating_add(c);
        }
        Ok(n)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut n = 0u64;
        while let Some(is_text) = map.next_key_seed(IsText)? {
            n = n.saturating_add(map.next_value_seed(TextChars(is_text))?);
        }
        Ok(n)
    }
}

/// Reads a map key as "is it `text`?", without allocating it.
struct IsText;

impl<'de> serde::de::DeserializeSeed<'de> for IsText {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for IsText {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == "text")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const DAY: u64 = 86_400;

    fn rec(model: &str, i: u64, o: u64, error: bool) -> Record<'_> {
        Record {
            model,
            tokens: TokenCounts {
                uncached_input: i,
                output: o,
                ..TokenCounts::default()
            },
            error,
        }
    }

    #[test]
    fn accumulates_per_model_and_reports() {
        let mut s: Option<Vec<u8>> = None;
        for r in [
            rec("m1", 3, 4, false),
            rec("m1", 2, 0, true),
            rec("m2", 10, 20, false),
        ] {
            s = Some(record(s.as_deref(), 1000, DAY, 64, &r));
        }
        let body = report(&[("acme", s), ("idle", None)], 1500, DAY);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"object": "usage", "window_seconds": DAY, "data": [
                {"tenant": "acme", "window_start": 1000, "window_end": 1000 + DAY,
                 "requests": 3, "input_tokens": 15, "output_tokens": 24,
                 "cache_read_tokens": 0, "cache_write_tokens": 0, "models": [
                    {"model": "m1", "requests": 2, "errors": 1, "input_tokens": 5, "output_tokens": 4,
                     "cache_read_tokens": 0, "cache_write_tokens": 0},
                    {"model": "m2", "requests": 1, "errors": 0, "input_tokens": 10, "output_tokens": 20,
                     "cache_read_tokens": 0, "cache_write_tokens": 0}]},
                {"tenant": "idle", "window_start": null, "window_end": null,
                 "requests": 0, "input_tokens": 0, "output_tokens": 0,
                 "cache_read_tokens": 0, "cache_write_tokens": 0, "models": []}]})
        );
    }

    #[test]
    fn models_past_the_cap_are_counted_as_other() {
        let mut s: Option<Vec<u8>> = None;
        for i in 0..10 {
            let name = format!("m{}", i % 5);
            s = Some(record(s.as_deref(), 1000, DAY, 3, &rec(&name, 1, 1, false)));
        }
        let u = TenantUsage::decode(s.as_deref());
        let names: Vec<&str> = u.models.keys().map(String::as_str).collect();
        assert_eq!(names, ["m0", "m1", "m2", OTHER_MODELS]);
        // Known models keep counting under their name; nothing is lost.
        assert_eq!(u.models["m0"].requests, 2);
        assert_eq!(u.models[OTHER_MODELS].requests, 4);
        let total: u64 = u.models.values().map(|m| m.requests).sum();
        assert_eq!(total, 10);
    }

    #[test]
    fn window_rolls_over() {
        let s = record(None, 1000, 60, 64, &rec("m", 1, 1, false));
        let s2 = record(Some(&s), 1059, 60, 64, &rec("m", 1, 1, false));
        assert_eq!(TenantUsage::decode(Some(&s2)).models["m"].requests, 2);
        let s3 = record(Some(&s2), 1060, 60, 64, &rec("m", 1, 1, false));
        let u = TenantUsage::decode(Some(&s3));
        assert_eq!((u.window_start, u.models["m"].requests), (1060, 1));
        // an expired window reads as empty
        let v: Value = serde_json::from_slice(&report(&[("t", Some(s3))], 2000, 60)).unwrap();
        assert_eq!(v["data"][0]["requests"], 0);
    }

    #[test]
    fn garbage_state_is_empty_usage() {
        assert_eq!(
            TenantUsage::decode(Some(b"not json")),
            TenantUsage::default()
        );
        let s = record(Some(b""), 5, DAY, 64, &rec("m", 1, 2, false));
        assert_eq!(TenantUsage::decode(Some(&s)).models["m"].output_tokens, 2);
    }

    #[test]
    fn stored_usage_round_trips_and_old_or_broken_values_are_handled() {
        let mut u = TenantUsage {
            window_start: 1_700_000_000,
            ..TenantUsage::default()
        };
        assert_eq!(TenantUsage::decode(Some(&u.encode())), u);
        for (model, n) in [
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", 1),
            ("m", u64::MAX),
            ("ünï", 7),
        ] {
            u.models.insert(
                model.into(),
                ModelUsage {
                    requests: n,
                    errors: 1,
                    input_tokens: n / 2,
                    output_tokens: 3,
                    cache_read_tokens: n / 3,
                    cache_write_tokens: 5,
                },
            );
        }
        let bytes = u.encode();
        assert!(bytes.starts_with(MAGIC));
        assert_eq!(TenantUsage::decode(Some(&bytes)), u);
        // What earlier versions stored (JSON) is still read.
        assert_eq!(
            TenantUsage::decode(Some(&serde_json::to_vec(&u).unwrap())),
            u
        );
        // Any truncation, or a byte too many, is empty usage, never a panic.
        for cut in 0..bytes.len() {
            assert_eq!(
                TenantUsage::decode(Some(&bytes[..cut])),
                TenantUsage::default(),
                "cut {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(TenantUsage::decode(Some(&long)), TenantUsage::default());
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&0u64.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(TenantUsage::decode(Some(&huge)), TenantUsage::default());
    }

    #[test]
    fn cache_reads_and_writes_are_counted_apart_within_the_input() {
        let r = Record {
            model: "m",
            tokens: TokenCounts {
                uncached_input: 2,
                output: 5,
                cache_read: 1322,
                cache_write: 10,
            },
            error: false,
        };
        let s = record(None, 1000, DAY, 64, &r);
        let s = record(Some(&s), 1001, DAY, 64, &r);
        let v: Value = serde_json::from_slice(&report(&[("t", Some(s))], 1002, DAY)).unwrap();
        let t = &v["data"][0];
        assert_eq!(
            (
                &t["input_tokens"],
                &t["cache_read_tokens"],
                &t["cache_write_tokens"]
            ),
            (&json!(2668), &json!(2644), &json!(20))
        );
        assert_eq!(t["models"][0]["cache_read_tokens"], 2644);
        assert_eq!(t["output_tokens"], 10);
    }

    #[test]
    fn format_1_values_are_still_read() {
        // What the previous version stored: four counters per model.
        let mut old = MAGIC_V1.to_vec();
        old.extend_from_slice(&1000u64.to_le_bytes());
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(b"m");
        for n in [3u64, 1, 12, 17] {
            old.extend_from_slice(&n.to_le_bytes());
        }
        let u = TenantUsage::decode(Some(&old));
        assert_eq!(
            u.models["m"],
            ModelUsage {
                requests: 3,
                errors: 1,
                input_tokens: 12,
                output_tokens: 17,
                ..ModelUsage::default()
            }
        );
        // Truncated or overlong old values are empty usage too.
        assert_eq!(
            TenantUsage::decode(Some(&old[..old.len() - 1])),
            TenantUsage::default()
        );
        let mut long = old.clone();
        long.extend_from_slice(&0u64.to_le_bytes());
        assert_eq!(TenantUsage::decode(Some(&long)), TenantUsage::default());
        // Counting on goes on in the new format, the old counts kept.
        let s = record(Some(&old), 1001, DAY, 64, &rec("m", 1, 1, false));
        assert!(s.starts_with(MAGIC));
        assert_eq!(TenantUsage::decode(Some(&s)).models["m"].input_tokens, 13);
        // JSON of the earliest versions, without the cache counters.
        let json = br#"{"window_start":5,"models":{"m":{"requests":1,"errors":0,"input_tokens":2,"output_tokens":3}}}"#;
        assert_eq!(TenantUsage::decode(Some(json)).models["m"].output_tokens, 3);
    }

    #[test]
    fn estimate_counts_text_characters() {
        let body = json!({"system": [{"text": "abcd"}], "messages": [
            {"role": "user", "content": [{"text": "abcdefgh"}, {"image": {"format": "png"}}]},
            {"role": "assistant", "content": [{"text": "x"}]}],
            "inferenceConfig": {"maxTokens": 10}});
        assert_eq!(estimate_input_tokens(body.to_string().as_bytes()), 4);
        assert_eq!(estimate_input_tokens(b"{}"), 1);
        assert_eq!(estimate_input_tokens(b"nope"), 1);
        // Truncated JSON counts nothing, as unreadable JSON always has.
        assert_eq!(estimate_input_tokens(br#"{"text":"abcdefghijkl","x":"#), 1);
        // Strings under other keys, and strings in arrays, do not count; escapes do.
        let odd = json!({"text": "é\né\n", "name": "abcdefgh", "list": ["abcdefgh"],
            "text2": "abcdefgh", "deep": [{"a": {"text": "abcd"}}], "n": [1, 2.5, -3, true, null]});
        assert_eq!(estimate_input_tokens(odd.to_string().as_bytes()), 2);
    }

    /// The old estimate (a `serde_json::Value` walk), the oracle for the streaming one.
    fn estimate_via_value(body: &[u8]) -> u64 {
        fn walk(v: &Value, chars: &mut u64) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        match v {
                            Value::String(s) if k == "text" => *chars += s.chars().count() as u64,
                            other => walk(other, chars),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| walk(i, chars)),
                _ => {}
            }
        }
        let mut chars = 0;
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            walk(&v, &mut chars);
        }
        chars.div_ceil(4).max(1)
    }

    #[test]
    fn estimate_matches_the_value_walk_on_translated_requests() {
        let cfg = crate::config::Config::parse(
            br#"{"api_keys":["sk-usage-test"],"region":"us-east-1","credentials":{"access_key_id":"AKID","secret_access_key":"s"}}"#,
            &|_| None,
        )
        .unwrap();
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let bodies = [
            json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "messages": [
                {"role": "system", "content": "Be brief. ünïcödé"},
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "add", "arguments": "{\"text\": \"nested text key\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "4"}],
             "tools": [{"type": "function", "function": {"name": "add", "description": "adds",
                "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}]}),
            json!({"model": "anthropic.claude-3-haiku-20240307-v1:0", "stream": true,
                   "messages": [{"role": "user", "content": "x".repeat(5000)}]}),
        ];
        for body in bodies {
            let (up, ex) =
                crate::pipeline::bedrock::chat(&cfg, body.to_string().as_bytes(), now, None)
                    .unwrap();
            assert_eq!(
                ex.estimated_input_tokens,
                estimate_via_value(&up.body),
                "{body}"
            );
            assert!(ex.estimated_input_tokens > 1);
        }
    }
}
