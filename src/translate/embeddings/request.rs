//! The inputs of an embeddings request → the `InvokeModel` bodies of one model family: one
//! call per input (Titan, Nova), or batches of up to the model's limit (Cohere), in input
//! order. The model's documented limits are checked here, so they are 400s naming the field
//! rather than a Bedrock refusal.

use serde_json::{json, Value};

use super::{EmbeddingModel, Family};
use crate::error::ApiError;
use crate::openai::embeddings::EmbeddingsRequest;

/// One `InvokeModel` call: inputs `first..first + count`, and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub first: usize,
    pub count: usize,
    pub body: Vec<u8>,
}

/// The calls that embed every input of `req` with `model`.
pub fn plan(model: &EmbeddingModel, req: &EmbeddingsRequest) -> Result<Vec<Call>, ApiError> {
    let dimensions = dimensions(model, req.dimensions)?;
    if let Some(max) = model.max_chars {
        if let Some(i) = req.input.iter().position(|t| t.chars().count() > max) {
            let at = if req.input.len() == 1 {
                "`input`".to_string()
            } else {
                format!("`input[{i}]`")
            };
            return Err(ApiError::invalid_param(
                "input",
                format!(
                    "{at} is longer than {max} characters, the most {} accepts",
                    model.name
                ),
            ));
        }
    }
    let input_type = req.input_type.as_deref().unwrap_or("search_document");
    let calls = req
        .input
        .chunks(model.batch)
        .enumerate()
        .map(|(n, texts)| Call {
            first: n * model.batch,
            count: texts.len(),
            body: body(model.family, texts, dimensions, input_type)
                .to_string()
                .into_bytes(),
        })
        .collect();
    Ok(calls)
}

/// `dimensions` as the model takes it: one of its documented sizes, else a 400.
fn dimensions(model: &EmbeddingModel, asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(model.default_dimensions()),
        Some(d) if model.dimensions.contains(&d) => Ok(d),
        Some(_) => {
            let mut sizes = model.dimensions.to_vec();
            sizes.sort_unstable();
            let sizes: Vec<String> = sizes.iter().map(u32::to_string).collect();
            Err(ApiError::invalid_param(
                "dimensions",
                format!("{} takes `dimensions` of {}", model.name, sizes.join(", ")),
            ))
        }
    }
}

/// One call's body in the family's shape.
fn body(family: Family, texts: &[String], dimensions: u32, input_type: &str) -> Value {
    match family {
        // Normalised, as OpenAI's vectors are.
        Family::TitanV2 => json!({
            "inputText": texts.first().map_or("", String::as_str),
            "dimensions": dimensions,
            "normalize": true,
        }),
        Family::CohereV3 => json!({
            "texts": texts,
            "input_type": input_type,
        }),
        Family::CohereV4 => json!({
            "texts": texts,
            "input_type": input_type,
            "embedding_types": ["float"],
            "output_dimension": dimensions,
        }),
        Family::Nova => json!({
            "schemaVersion": "nova-multimodal-embed-v1",
            "taskType": "SINGLE_EMBEDDING",
            "singleEmbeddingParams": {
                "embeddingPurpose": nova_purpose(input_type),
                "embeddingDimension": dimensions,
                "text": {"truncationMode": "END", "value": texts.first().map_or("", String::as_str)},
            },
        }),
    }
}

/// Cohere's `input_type` in Nova's terms.
fn nova_purpose(input_type: &str) -> &'static str {
    match input_type {
        "search_query" => "TEXT_RETRIEVAL",
        "classification" => "CLASSIFICATION",
        "clustering" => "CLUSTERING",
        _ => "GENERIC_INDEX",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::embeddings::model_for;

    fn req(input: &[&str], dimensions: Option<u32>) -> EmbeddingsRequest {
        EmbeddingsRequest {
            model: "m".into(),
            input: input.iter().map(|s| s.to_string()).collect(),
            encoding_format: Default::default(),
            dimensions,
            input_type: None,
        }
    }

    fn bodies(id: &str, r: &EmbeddingsRequest) -> Vec<Value> {
        plan(model_for(id).unwrap(), r)
            .unwrap()
            .iter()
            .map(|c| serde_json::from_slice(&c.body).unwrap())
            .collect()
    }

    #[test]
    fn each_family_gets_its_own_shape() {
        let titan = bodies("amazon.titan-embed-text-v2:0", &req(&["a", "b"], Some(256)));
        assert_eq!(
            titan,
            [
                json!({"inputText": "a", "dimensions": 256, "normalize": true}),
                json!({"inputText": "b", "dimensions": 256, "normalize": true})
            ]
        );
        let cohere = bodies("cohere.embed-english-v3", &req(&["a", "b"], None));
        assert_eq!(
            cohere,
            [json!({"texts": ["a", "b"], "input_type": "search_document"})]
        );
        let mut q = req(&["a"], Some(512));
        q.input_type = Some("search_query".into());
        let v4 = bodies("cohere.embed-v4:0", &q);
        assert_eq!(v4[0]["output_dimension"], 512);
        assert_eq!(v4[0]["input_type"], "search_query");
        assert_eq!(v4[0]["embedding_types"], json!(["float"]));
        q.dimensions = None;
        let nova = bodies("amazon.nova-2-multimodal-embeddings-v1:0", &q);
        assert_eq!(
            nova[0]["singleEmbeddingParams"],
            json!({"embeddingPurpose": "TEXT_RETRIEVAL", "embeddingDimension": 3072,
                   "text": {"truncationMode": "END", "value": "a"}})
        );
    }

    #[test]
    fn batches_are_chunked_at_the_model_limit_in_order() {
        let input: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        let mut r = req(&[], None);
        r.input = input;
        let calls = plan(model_for("cohere.embed-v4:0").unwrap(), &r).unwrap();
        let spans: Vec<_> = calls.iter().map(|c| (c.first, c.count)).collect();
        assert_eq!(spans, [(0, 96), (96, 96), (192, 8)]);
        let last: Value = serde_json::from_slice(&calls[2].body).unwrap();
        assert_eq!(last["texts"][0], "t192");
    }

    #[test]
    fn model_limits_are_400s_naming_the_field() {
        let titan = model_for("amazon.titan-embed-text-v2:0").unwrap();
        let e = plan(titan, &req(&["a"], Some(768))).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("dimensions")));
        assert!(e.message.contains("256, 512, 1024"), "{}", e.message);
        let long = "x".repeat(2_049);
        let cohere = model_for("cohere.embed-multilingual-v3").unwrap();
        let e = plan(cohere, &req(&["ok", &long], None)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
        assert!(e.message.contains("input[1]"), "{}", e.message);
        assert!(plan(cohere, &req(&["a"], Some(1024))).is_ok());
        assert!(plan(cohere, &req(&["a"], Some(512))).is_err());
    }
}
