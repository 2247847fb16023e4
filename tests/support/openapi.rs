//! OpenAI's OpenAPI document and enough of a JSON Schema validator for the schemas the stream
//! and conformance tests check.

use serde_json::{json, Value};

/// Enough JSON Schema for the OpenAPI schemas involved: `$ref`, `type` (string or list),
/// `nullable`, `enum`, `required`, `properties`, `additionalProperties: false`, `items`,
/// `anyOf`, `oneOf`, `allOf`.
pub fn validate(spec: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        let target = &spec["components"]["schemas"][name];
        assert!(!target.is_null(), "unresolved {r}");
        // Sibling `nullable` on a `$ref` (OpenAPI 3.0 style) still allows null.
        if v.is_null() && schema.get("nullable") == Some(&json!(true)) {
            return;
        }
        return validate(spec, target, v, path, errors);
    }
    let sub_ok = |s: &Value| {
        let mut e = Vec::new();
        validate(spec, s, v, path, &mut e);
        e.is_empty()
    };
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(sub_ok) {
            errors.push(format!("{path}: matches no anyOf branch: {v}"));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|s| sub_ok(s)).count();
        if n != 1 {
            errors.push(format!("{path}: matches {n} oneOf branches: {v}"));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(spec, s, v, path, errors);
        }
    }
    if v.is_null() && schema.get("nullable") == Some(&json!(true)) {
        return;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{path}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errors.push(format!("{path}: {v} not in enum {e:?}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                errors.push(format!("{path}: missing required `{r}`"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(spec, s, val, &format!("{path}.{k}"), errors),
                None if schema.get("additionalProperties") == Some(&json!(false)) => {
                    errors.push(format!("{path}: unexpected `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(spec, items, item, &format!("{path}[{i}]"), errors);
        }
    }
}

/// OpenAI's OpenAPI document: `$OPENAI_OPENAPI_JSON` (must exist when set; `make conformance`
/// sets it), else the repository's own subset `tests/fixtures/openai/schemas.json`. Nothing
/// outside the repository is looked for, so `cargo test` is the same with or without it.
pub fn openapi() -> Value {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let path = match std::env::var_os("OPENAI_OPENAPI_JSON").filter(|p| !p.is_empty()) {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(manifest).join("tests/fixtures/openai/schemas.json"),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("OpenAI schema {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn schema_errors(spec: &Value, name: &str, v: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(
        spec,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
        v,
        "$",
        &mut errors,
    );
    errors
}
