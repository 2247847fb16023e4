//! botocore's `bedrock-runtime` service model, the oracle for what Bedrock accepts, and a
//! check of a Converse request body against it. Shared by the unit tests of the core
//! (`src/lib.rs` includes this file as `test_support`) and the integration tests
//! (`tests/support`), so the model is found and read one way.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// botocore's `bedrock-runtime` service model, the oracle for what Bedrock accepts: the
/// copy shipped in the pinned `botocore` package of the project venv (`make venv`, from
/// `tests/requirements.txt`). `$BOTOCORE_BEDROCK_MODEL` (set by `make unit`) names the
/// file; without it the venv is searched. Missing is a failure, never a skip.
pub fn botocore_model() -> serde_json::Value {
    let path = botocore_model_path().unwrap_or_else(|why| panic!("{why}"));
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("botocore model {}: {e}", path.display()));
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
            .unwrap_or_else(|e| panic!("botocore model {}: {e}", path.display()));
        out
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn botocore_model_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BOTOCORE_BEDROCK_MODEL").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "BOTOCORE_BEDROCK_MODEL={} does not exist (run `make venv`)",
                p.display()
            ))
        };
    }
    // .venv/lib/python3.*/site-packages/botocore/data/bedrock-runtime/<date>/service-2.json[.gz]
    let venv_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let mut found: Vec<PathBuf> = Vec::new();
    for py in read_dir(&venv_lib) {
        let data = py.join("site-packages/botocore/data/bedrock-runtime");
        for dated in read_dir(&data) {
            for name in ["service-2.json", "service-2.json.gz"] {
                let f = dated.join(name);
                if f.is_file() {
                    found.push(f);
                }
            }
        }
    }
    // The newest API version (the dated directory names sort as dates).
    found.sort();
    found.pop().ok_or_else(|| {
        format!(
            "botocore's bedrock-runtime service model not found: set BOTOCORE_BEDROCK_MODEL \
             or run `make venv` (it installs the pinned botocore into {}/.venv)",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The model, read once per test binary.
fn shapes() -> &'static Value {
    static MODEL: OnceLock<Value> = OnceLock::new();
    &MODEL.get_or_init(botocore_model)["shapes"]
}

/// `Ok` if `body` is a `ConverseRequest` as botocore's model describes it (no unknown member,
/// no missing required one, right JSON types, one member per union, enums, minimums;
/// `Document` is free) and follows Bedrock's conversation rules (a user turn first, roles
/// alternating). `modelId` is in the path, not the body.
pub fn check_converse_request(body: &Value) -> Result<(), String> {
    check_shape(shapes(), "ConverseRequest", body, "$")?;
    let msgs = body["messages"]
        .as_array()
        .ok_or("$.messages: not a list")?;
    if msgs.first().is_some_and(|m| m["role"] != "user") {
        return Err("$.messages[0]: the first message must be the user's".into());
    }
    if let Some(i) = msgs.windows(2).position(|w| w[0]["role"] == w[1]["role"]) {
        return Err(format!("$.messages[{}]: roles must alternate", i + 1));
    }
    Ok(())
}

/// Whether all of `s` matches botocore's (Java) `pattern`, which the service applies to the
/// whole value.
fn full_match(pattern: &str, s: &str) -> bool {
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .unwrap_or_else(|e| panic!("botocore pattern `{pattern}`: {e}"));
    re.is_match(s)
}

/// Walks `v` against shape `name` of botocore's `shapes`.
pub fn check_shape(shapes: &Value, name: &str, v: &Value, path: &str) -> Result<(), String> {
    let shape = &shapes[name];
    match shape["type"].as_str().unwrap_or_default() {
        "structure" => {
            let obj = v.as_object().ok_or(format!("{path}: not an object"))?;
            if shape["document"].as_bool() == Some(true) {
                return Ok(());
            }
            let members = shape["members"]
                .as_object()
                .ok_or(format!("{name}: no members"))?;
            for r in shape["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                if r != "modelId" && !obj.contains_key(r) {
                    return Err(format!("{path}: missing required `{r}`"));
                }
            }
            if shape["union"].as_bool() == Some(true) && obj.len() != 1 {
                return Err(format!("{path}: a union takes exactly one member"));
            }
            for (k, child) in obj {
                let m = members
                    .get(k)
                    .ok_or(format!("{path}: `{k}` is not a member of {name}"))?;
                let child_shape = m["shape"].as_str().unwrap_or_default();
                check_shape(shapes, child_shape, child, &format!("{path}.{k}"))?;
            }
        }
        "list" => {
            let items = v.as_array().ok_or(format!("{path}: not a list"))?;
            if let Some(min) = shape["min"].as_u64() {
                if (items.len() as u64) < min {
                    return Err(format!("{path}: fewer than {min} items"));
                }
            }
            if let Some(max) = shape["max"].as_u64() {
                if items.len() as u64 > max {
                    return Err(format!("{path}: more than {max} items"));
                }
            }
            let member = shape["member"]["shape"].as_str().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                check_shape(shapes, member, item, &format!("{path}[{i}]"))?;
            }
        }
        "map" => {
            let obj = v.as_object().ok_or(format!("{path}: not a map"))?;
            let value = shape["value"]["shape"].as_str().unwrap_or_default();
            for (k, child) in obj {
                check_shape(shapes, value, child, &format!("{path}.{k}"))?;
            }
        }
        "string" | "blob" => {
            let s = v.as_str().ok_or(format!("{path}: not a string"))?;
            if let Some(values) = shape["enum"].as_array() {
                if !values.iter().any(|e| e == s) {
                    return Err(format!("{path}: `{s}` not in {name}"));
                }
            }
            if let Some(min) = shape["min"].as_u64() {
                if (s.len() as u64) < min {
                    return Err(format!("{path}: shorter than {min}"));
                }
            }
            // Lengths of strings in characters; a blob's is of its base64 text, so only
            // strings are held to `max`.
            if let Some(max) = shape["max"].as_u64().filter(|_| shape["type"] == "string") {
                if s.chars().count() as u64 > max {
                    return Err(format!("{path}: longer than {max} characters"));
                }
            }
            if let Some(pattern) = shape["pattern"].as_str() {
                if !full_match(pattern, s) {
                    return Err(format!(
                        "{path}: does not match {name}'s pattern `{pattern}`"
                    ));
                }
            }
        }
        "boolean" if !v.is_boolean() => return Err(format!("{path}: not a boolean")),
        "integer" | "long" if !(v.is_u64() || v.is_i64()) => {
            return Err(format!("{path}: not an integer"))
        }
        "float" | "double" if !v.is_number() => return Err(format!("{path}: not a number")),
        "boolean" | "integer" | "long" | "float" | "double" => {}
        other => return Err(format!("{path}: unhandled shape type `{other}` ({name})")),
    }
    Ok(())
}

/// Another service's botocore model (e.g. `dynamodb`, for fleet mode's store calls), from the
/// pinned botocore of the project venv; the newest API version. Missing is a failure.
pub fn service_model(service: &str) -> Value {
    let venv_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
    let mut found: Vec<PathBuf> = Vec::new();
    for py in read_dir(&venv_lib) {
        for dated in read_dir(&py.join("site-packages/botocore/data").join(service)) {
            found.extend(
                ["service-2.json", "service-2.json.gz"]
                    .iter()
                    .map(|n| dated.join(n))
                    .filter(|f| f.is_file()),
            );
        }
    }
    found.sort();
    let path = found
        .pop()
        .unwrap_or_else(|| panic!("botocore's {service} model not found: run `make venv`"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    } else {
        text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
