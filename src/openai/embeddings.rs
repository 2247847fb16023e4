//! `POST /v1/embeddings`: the request as we accept it and the list we answer with (OpenAPI
//! `CreateEmbeddingRequest` / `CreateEmbeddingResponse`).
//!
//! `input` is a string or an array of strings; token-id arrays are refused (400 naming
//! `input`): Bedrock's embedding models take text, and we hold no tokenizer to turn ids back.
//! `user` is accepted and ignored. `input_type` is our extension for Cohere
//! (`search_document` by default, `search_query`, `classification`, `clustering`).

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::openai::json::{json_object, opt_string, opt_u32, required_model};

/// Most inputs one request may carry (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

/// How vectors are written in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    #[default]
    Float,
    /// Little-endian float32, base64: what the SDKs decode.
    Base64,
}

/// Cohere's `input_type`, from the `input_type` extension.
pub const INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// The fields of an embeddings request that the translation uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingsRequest {
    pub model: String,
    /// In the client's order; never empty, no empty string.
    pub input: Vec<String>,
    pub encoding_format: EncodingFormat,
    pub dimensions: Option<u32>,
    /// One of [`INPUT_TYPES`], when the client said.
    pub input_type: Option<String>,
}

fn reject(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_param(param, message)
}

impl EmbeddingsRequest {
    /// Parses and validates a request body; every failure is a 400 naming its field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = json_object(body)?;
        let model = required_model(&obj)?;
        let input = parse_input(obj.get("input"))?;
        let encoding_format = match opt_string(&obj, "encoding_format")?.as_deref() {
            None | Some("float") => EncodingFormat::Float,
            Some("base64") => EncodingFormat::Base64,
            Some(_) => {
                return Err(reject(
                    "encoding_format",
                    "`encoding_format` must be `float` or `base64`",
                ))
            }
        };
        let dimensions = opt_u32(&obj, "dimensions")?;
        opt_string(&obj, "user")?;
        let input_type = input_type(&obj)?;
        Ok(Self {
            model,
            input,
            encoding_format,
            dimensions,
            input_type,
        })
    }
}

fn input_type(obj: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match opt_string(obj, "input_type")? {
        Some(t) if INPUT_TYPES.contains(&t.as_str()) => Ok(Some(t)),
        Some(_) => Err(reject(
            "input_type",
            format!("`input_type` must be one of {}", INPUT_TYPES.join(", ")),
        )),
        None => Ok(None),
    }
}

fn parse_input(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let tokens = || {
        reject(
            "input",
            "token-id arrays are not supported: send `input` as a string or an array of strings",
        )
    };
    let one = |s: &str| {
        if s.is_empty() {
            Err(reject("input", "`input` must not be an empty string"))
        } else {
            Ok(s.to_string())
        }
    };
    match v {
        None | Some(Value::Null) => Err(reject("input", "you must provide an `input`")),
        Some(Value::String(s)) => Ok(vec![one(s)?]),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(reject("input", "`input` must not be an empty array"))
        }
        Some(Value::Array(items)) if items.len() > MAX_INPUTS => Err(reject(
            "input",
            format!("`input` may hold at most {MAX_INPUTS} items"),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => one(s),
                Value::Number(_) | Value::Array(_) => Err(tokens()),
                _ => Err(reject("input", "every item of `input` must be a string")),
            })
            .collect(),
        Some(_) => Err(reject(
            "input",
            "`input` must be a string or an array of strings",
        )),
    }
}

/// One vector, written as the request asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

impl Vector {
    pub fn encode(values: Vec<f32>, format: EncodingFormat) -> Self {
        match format {
            EncodingFormat::Float => Self::Float(values),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
                Self::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

/// One item of `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embedding {
    pub object: &'static str,
    pub index: usize,
    pub embedding: Vector,
}

/// `usage` of an embeddings answer: input tokens only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// The answer: `{"object": "list", "data", "model", "usage"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: EmbeddingUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<EmbeddingsRequest, ApiError> {
        EmbeddingsRequest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn strings_and_arrays_of_strings_are_read_in_order() {
        let r = parse(serde_json::json!({"model": "m", "input": "a"})).unwrap();
        assert_eq!(r.input, ["a"]);
        assert_eq!(r.encoding_format, EncodingFormat::Float);
        let r = parse(
            serde_json::json!({"model": "m", "input": ["b", "a"], "encoding_format": "base64",
            "dimensions": 256, "user": "u", "input_type": "search_query"}),
        )
        .unwrap();
        assert_eq!(r.input, ["b", "a"]);
        assert_eq!(
            (r.encoding_format, r.dimensions, r.input_type.as_deref()),
            (EncodingFormat::Base64, Some(256), Some("search_query"))
        );
    }

    #[test]
    fn bad_fields_are_400s_naming_them() {
        for (body, param) in [
            (serde_json::json!({"model": "m", "input": [1, 2]}), "input"),
            (
                serde_json::json!({"model": "m", "input": [[1, 2]]}),
                "input",
            ),
            (serde_json::json!({"model": "m", "input": []}), "input"),
            (serde_json::json!({"model": "m", "input": ""}), "input"),
            (
                serde_json::json!({"model": "m", "input": ["a", ""]}),
                "input",
            ),
            (
                serde_json::json!({"model": "m", "input": ["a", {}]}),
                "input",
            ),
            (serde_json::json!({"model": "m"}), "input"),
            (serde_json::json!({"model": "m", "input": 3}), "input"),
            (serde_json::json!({"input": "a"}), "model"),
            (
                serde_json::json!({"model": "m", "input": "a", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (
                serde_json::json!({"model": "m", "input": "a", "dimensions": 0}),
                "dimensions",
            ),
            (
                serde_json::json!({"model": "m", "input": "a", "dimensions": "x"}),
                "dimensions",
            ),
            (
                serde_json::json!({"model": "m", "input": "a", "user": 1}),
                "user",
            ),
            (
                serde_json::json!({"model": "m", "input": "a", "input_type": "image"}),
                "input_type",
            ),
        ] {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{body}");
        }
        let many: Vec<String> = (0..=MAX_INPUTS).map(|i| i.to_string()).collect();
        let e = parse(serde_json::json!({"model": "m", "input": many})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
    }

    #[test]
    fn base64_is_little_endian_float32() {
        let Vector::Base64(s) = Vector::encode(vec![1.0, -0.5], EncodingFormat::Base64) else {
            panic!("not base64")
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(bytes, [0, 0, 128, 63, 0, 0, 0, 191]);
    }
}
