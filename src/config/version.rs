//! `config_version` and the legacy lowering: older spellings of the plugin configuration are
//! rewritten into the current shape before it is parsed (as Kuadrant's wasm-shim does in
//! `legacy_translation.rs`), each with a warning the shell logs at plugin start.
//!
//! - `config_version`: absent, `1` or `"1"` is the current schema. Any other value fails
//!   plugin start with a message naming the versions this build reads, so a configuration
//!   written for a newer filter is never half-understood.
//! - Deprecated names ([`DEPRECATED`]) are accepted and renamed, with a warning; giving both the
//!   deprecated and the current name is an error. They are removed only with a new
//!   `config_version`.
//! - Unknown fields stay an error (the parser names them): lowering never drops anything.

use serde_json::{Map, Value};

use super::{err, ConfigError};

/// The schema version this build writes and reads.
pub const CURRENT: u64 = 1;

/// Versions this build reads (oldest first).
pub const SUPPORTED: &[u64] = &[1];

/// Deprecated field → the current field it is renamed to.
pub const DEPRECATED: &[(&str, &str)] = &[
    ("aws_region", "region"),
    ("bedrock_endpoint", "bedrock_host"),
    ("model_map", "model_aliases"),
    ("url_prefix", "path_prefix"),
];

/// `api_key: "sk-…"` (one key) → `api_keys: ["sk-…"]`.
const SINGLE_KEY: (&str, &str) = ("api_key", "api_keys");

/// Lowers a parsed configuration to the current shape: checks and removes
/// `config_version`, renames deprecated fields. Returns the warnings to log.
pub fn lower(value: Value) -> Result<(Value, Vec<String>), ConfigError> {
    let Value::Object(mut obj) = value else {
        // Not an object: leave it for the parser to reject with its own message.
        return Ok((value, Vec::new()));
    };
    check_version(obj.remove("config_version"))?;
    let mut warnings = Vec::new();
    for (old, new) in DEPRECATED {
        rename(&mut obj, old, new, &mut warnings)?;
    }
    let (old, new) = SINGLE_KEY;
    if let Some(v) = obj.remove(old) {
        let Value::String(key) = v else {
            return Err(err(format!("`{old}` (deprecated) must be a string")));
        };
        let keys = obj.entry(new).or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(keys) = keys else {
            return Err(err(format!("`{new}` must be an array of strings")));
        };
        keys.push(Value::String(key));
        warnings.push(deprecation(old, &format!("`{new}: [\"…\"]`")));
    }
    Ok((Value::Object(obj), warnings))
}

fn check_version(v: Option<Value>) -> Result<(), ConfigError> {
    let version = match &v {
        None => return Ok(()),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match version {
        Some(n) if SUPPORTED.contains(&n) => Ok(()),
        _ => Err(err(format!(
            "`config_version` {} is not supported: this filter reads config_version {} (a newer \
             configuration needs a newer filter; see docs/compatibility.md)",
            // A number is safe to repeat; any other value is not echoed.
            match &v {
                Some(Value::Number(n)) => n.to_string(),
                _ => "(that value)".to_string(),
            },
            SUPPORTED
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn rename(
    obj: &mut Map<String, Value>,
    old: &str,
    new: &str,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let Some(v) = obj.remove(old) else {
        return Ok(());
    };
    if obj.contains_key(new) {
        return Err(err(format!(
            "`{old}` and `{new}` are both set: `{old}` is the deprecated name of `{new}`; keep only `{new}`"
        )));
    }
    obj.insert(new.to_string(), v);
    warnings.push(deprecation(old, &format!("`{new}`")));
    Ok(())
}

fn deprecation(old: &str, instead: &str) -> String {
    format!(
        "plugin configuration: `{old}` is deprecated, use {instead} (accepted for the whole of config_version {CURRENT})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions() {
        for ok in [
            json!({}),
            json!({"config_version": 1}),
            json!({"config_version": "1"}),
        ] {
            let (v, w) = lower(ok.clone()).unwrap();
            assert_eq!(v.get("config_version"), None, "{ok}");
            assert!(w.is_empty());
        }
        for bad in [
            json!({"config_version": 2}),
            json!({"config_version": "1.1"}),
            json!({"config_version": 0}),
            json!({"config_version": null}),
            json!({"config_version": [1]}),
        ] {
            let e = lower(bad.clone()).unwrap_err().0;
            assert!(
                e.contains("config_version") && e.contains("reads config_version 1"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn deprecated_names_are_renamed_with_a_warning() {
        let (v, w) = lower(json!({
            "aws_region": "eu-west-1", "model_map": {"a": "b"}, "api_key": "sk-one-key",
            "api_keys": ["sk-two-key"], "bedrock_endpoint": "h", "url_prefix": "/openai"
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({"region": "eu-west-1", "model_aliases": {"a": "b"}, "api_keys": ["sk-two-key", "sk-one-key"],
                   "bedrock_host": "h", "path_prefix": "/openai"})
        );
        assert_eq!(w.len(), 5);
        assert!(w
            .iter()
            .any(|w| w.contains("`aws_region` is deprecated, use `region`")));
    }

    #[test]
    fn both_names_or_bad_types_are_errors() {
        let e = lower(json!({"aws_region": "a", "region": "b"}))
            .unwrap_err()
            .0;
        assert!(e.contains("`aws_region`") && e.contains("`region`"), "{e}");
        assert!(lower(json!({"api_key": 5}))
            .unwrap_err()
            .0
            .contains("api_key"));
        assert!(lower(json!({"api_key": "k", "api_keys": "x"}))
            .unwrap_err()
            .0
            .contains("api_keys"));
    }

    #[test]
    fn unknown_fields_are_left_for_the_parser() {
        let (v, _) = lower(json!({"regoin": 1})).unwrap();
        assert_eq!(v, json!({"regoin": 1}));
        assert_eq!(lower(json!([1])).unwrap().0, json!([1]));
    }
}
