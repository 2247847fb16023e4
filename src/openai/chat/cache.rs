//! Prompt-caching fields: `cache_control` (Anthropic's form, which LiteLLM and Anthropic-style
//! clients put on content parts, messages and tools), OpenAI's `prompt_cache_breakpoint` on
//! content parts, and the request-wide `prompt_cache_retention`, `prompt_cache_options` and
//! `prompt_cache_key`. Where Bedrock puts the cache points, and which it drops, is decided by
//! the translation (`translate::request::cache`).

use serde_json::{Map, Value};

use super::types::{CacheMark, CacheRequest, CacheTtl};
use crate::error::ApiError;

/// Whether an object names a cache point at all (then [`mark`] reads it).
pub(super) fn asks(obj: &Map<String, Value>) -> bool {
    obj.contains_key("cache_control") || obj.contains_key("prompt_cache_breakpoint")
}

/// The cache point an object (content part, message, tool or function) asks for, if any:
/// `cache_control: {"type": "ephemeral", "ttl"?: "5m" | "1h"}` or
/// `prompt_cache_breakpoint: {"mode": "explicit"}`. `param` names the object.
pub(super) fn mark(
    param: &str,
    obj: &Map<String, Value>,
    after_part: Option<usize>,
) -> Result<Option<CacheMark>, ApiError> {
    let mut found = None;
    if let Some(cc) = obj.get("cache_control").filter(|v| !v.is_null()) {
        let ttl = cache_control(&format!("{param}.cache_control"), cc)?;
        found = Some(CacheMark { after_part, ttl });
    }
    if let Some(bp) = obj.get("prompt_cache_breakpoint").filter(|v| !v.is_null()) {
        let at = format!("{param}.prompt_cache_breakpoint");
        let mode = bp
            .as_object()
            .map(|o| o.get("mode").and_then(Value::as_str));
        if !matches!(mode, Some(None | Some("explicit"))) {
            return Err(ApiError::invalid_param(
                at,
                "`prompt_cache_breakpoint` must be an object with `mode: \"explicit\"`",
            ));
        }
        found = found.or(Some(CacheMark {
            after_part,
            ttl: None,
        }));
    }
    Ok(found)
}

/// `cache_control`: its `ttl`, if any.
fn cache_control(param: &str, v: &Value) -> Result<Option<CacheTtl>, ApiError> {
    let Value::Object(o) = v else {
        return Err(ApiError::invalid_param(
            param,
            "`cache_control` must be an object like {\"type\": \"ephemeral\"}",
        ));
    };
    if o.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return Err(ApiError::invalid_param(
            format!("{param}.type"),
            "the only `cache_control` type is `ephemeral`",
        ));
    }
    match o.get("ttl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t == "5m" => Ok(Some(CacheTtl::FiveMinutes)),
        Some(Value::String(t)) if t == "1h" => Ok(Some(CacheTtl::OneHour)),
        Some(_) => Err(ApiError::invalid_param(
            format!("{param}.ttl"),
            "`cache_control.ttl` is `5m` or `1h`",
        )),
    }
}

/// `prompt_cache_retention` (`in_memory` | `24h`), `prompt_cache_options`
/// (`{mode?: "implicit" | "explicit", ttl?: "30m"}`) and `prompt_cache_key` (a string, which
/// Bedrock has no use for: reported ignored).
pub(super) fn request(obj: &Map<String, Value>) -> Result<CacheRequest, ApiError> {
    let mut out = CacheRequest::default();
    match obj.get("prompt_cache_retention") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r == "in_memory" || r == "in-memory" => {}
        Some(Value::String(r)) if r == "24h" => out.longer_ttl = Some("prompt_cache_retention"),
        Some(_) => {
            return Err(ApiError::invalid_param(
                "prompt_cache_retention",
                "`prompt_cache_retention` is `in_memory` or `24h`",
            ))
        }
    }
    if let Some(opts) = obj.get("prompt_cache_options").filter(|v| !v.is_null()) {
        let at = |f: &str| format!("prompt_cache_options{f}");
        let Value::Object(o) = opts else {
            return Err(ApiError::invalid_param(
                at(""),
                "`prompt_cache_options` must be an object",
            ));
        };
        match o.get("mode") {
            None | Some(Value::Null) => {}
            Some(Value::String(m)) if m == "implicit" => {}
            Some(Value::String(m)) if m == "explicit" => out.explicit_only = true,
            Some(_) => {
                return Err(ApiError::invalid_param(
                    at(".mode"),
                    "`prompt_cache_options.mode` is `implicit` or `explicit`",
                ))
            }
        }
        match o.get("ttl") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t == "30m" => {
                out.longer_ttl = out.longer_ttl.or(Some("prompt_cache_options"))
            }
            Some(_) => {
                return Err(ApiError::invalid_param(
                    at(".ttl"),
                    "`prompt_cache_options.ttl` is `30m`",
                ))
            }
        }
    }
    if obj
        .get("prompt_cache_key")
        .is_some_and(|v| !v.is_null() && !v.is_string())
    {
        return Err(ApiError::invalid_param(
            "prompt_cache_key",
            "`prompt_cache_key` must be a string",
        ));
    }
    Ok(out)
}
