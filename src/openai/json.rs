//! Typed reads of top-level fields of an OpenAI request body, shared by the chat and legacy
//! completion endpoints: each rejection is a 400 whose `param` names the field.

use serde_json::{Map, Value};

use crate::error::ApiError;

pub(crate) fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_param(
            key,
            format!("`{key}` must be a string"),
        )),
    }
}

/// The request body as a JSON object; anything else is a 400.
pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_request(format!("request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::invalid_request(
            "request body must be a JSON object",
        )),
    }
}

/// The required `model` string, checked by [`crate::catalog::model_id::check_client_model`].
pub(crate) fn required_model(obj: &Map<String, Value>) -> Result<String, ApiError> {
    match obj.get("model") {
        Some(Value::String(s)) => {
            crate::catalog::model_id::check_client_model("model", s)?;
            Ok(s.clone())
        }
        None | Some(Value::Null) => Err(ApiError::invalid_param(
            "model",
            "you must provide a model parameter",
        )),
        Some(_) => Err(ApiError::invalid_param("model", "`model` must be a string")),
    }
}

/// `stream_options.include_usage`, false when absent.
pub(crate) fn include_usage(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    match obj.get("stream_options") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(o)) => Ok(opt_bool(o, "include_usage")
            .map_err(|e| e.with_param("stream_options.include_usage"))?
            .unwrap_or(false)),
        Some(_) => Err(ApiError::invalid_param(
            "stream_options",
            "`stream_options` must be an object",
        )),
    }
}

pub(crate) fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid_param(
            key,
            format!("`{key}` must be a boolean"),
        )),
    }
}

pub(crate) fn opt_u32(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::invalid_param(
                key,
                format!("`{key}` must be a positive integer"),
            )),
        },
    }
}

pub(crate) fn opt_number(
    obj: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::invalid_param(
                key,
                format!("`{key}` must be a number between {min} and {max}"),
            )),
        },
    }
}
