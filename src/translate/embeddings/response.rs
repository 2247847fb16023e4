//! Each family's `InvokeModel` answer → its vectors and input-token count, and all of a
//! request's vectors → OpenAI's list, in input order.
//!
//! Token counts: Bedrock's `x-amzn-bedrock-input-token-count` answer header (every model),
//! else the count in the body (Titan's `inputTextTokenCount`), else the documented estimate
//! of [`estimate_tokens`] (a quarter of the characters, at least one a text).

use serde::Deserialize;

use super::Family;
use crate::error::ApiError;
use crate::openai::embeddings::{Embedding, EmbeddingList, EmbeddingUsage, EncodingFormat, Vector};

/// What one call answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens, when Bedrock said.
    pub input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Titan {
    embedding: Option<Vec<f32>>,
    #[serde(rename = "embeddingsByType")]
    by_type: Option<ByType>,
    #[serde(rename = "inputTextTokenCount")]
    tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ByType {
    float: Option<Vec<f32>>,
}

/// Cohere v3 answers `embeddings` as a list of vectors (`embeddings_floats`), or by type when
/// `embedding_types` was sent (`embeddings_by_type`, v4 always).
#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}

#[derive(Deserialize)]
struct Cohere {
    embeddings: CohereEmbeddings,
}

#[derive(Deserialize)]
struct Nova {
    embeddings: Vec<NovaEmbedding>,
}

#[derive(Deserialize)]
struct NovaEmbedding {
    embedding: Vec<f32>,
}

fn malformed(what: &str) -> ApiError {
    ApiError::bad_upstream(format!("Bedrock's embedding answer is not {what}"))
}

/// Reads one call's answer, which must hold one vector per input it carried (`count`).
/// `header_tokens` is Bedrock's `x-amzn-bedrock-input-token-count`, if the answer had it.
pub fn read(
    family: Family,
    count: usize,
    body: &[u8],
    header_tokens: Option<u64>,
) -> Result<Answer, ApiError> {
    let (vectors, body_tokens) = match family {
        Family::TitanV2 => {
            let t: Titan = serde_json::from_slice(body).map_err(|_| malformed("Titan's shape"))?;
            let v = t
                .embedding
                .or_else(|| t.by_type.and_then(|b| b.float))
                .ok_or_else(|| malformed("Titan's shape"))?;
            (vec![v], t.tokens)
        }
        Family::CohereV3 | Family::CohereV4 => {
            let c: Cohere =
                serde_json::from_slice(body).map_err(|_| malformed("Cohere's shape"))?;
            let v = match c.embeddings {
                CohereEmbeddings::Floats(v) | CohereEmbeddings::ByType { float: v } => v,
            };
            (v, None)
        }
        Family::Nova => {
            let n: Nova = serde_json::from_slice(body).map_err(|_| malformed("Nova's shape"))?;
            (
                n.embeddings.into_iter().map(|e| e.embedding).collect(),
                None,
            )
        }
    };
    if vectors.len() != count {
        return Err(ApiError::bad_upstream(format!(
            "Bedrock answered {} embeddings for {count} inputs",
            vectors.len()
        )));
    }
    Ok(Answer {
        vectors,
        input_tokens: header_tokens.or(body_tokens),
    })
}

/// The documented estimate where Bedrock gives no count: a quarter of each text's
/// characters, rounded up, at least one.
pub fn estimate_tokens<S: AsRef<str>>(texts: &[S]) -> u64 {
    texts
        .iter()
        .map(|t| (t.as_ref().chars().count() as u64).div_ceil(4).max(1))
        .sum()
}

/// OpenAI's list: one item per input, `index` its position, vectors as the request asked.
pub fn to_openai(
    vectors: Vec<Vec<f32>>,
    format: EncodingFormat,
    model: &str,
    input_tokens: u64,
) -> EmbeddingList {
    EmbeddingList {
        object: "list",
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(index, v)| Embedding {
                object: "embedding",
                index,
                embedding: Vector::encode(v, format),
            })
            .collect(),
        model: model.to_string(),
        usage: EmbeddingUsage {
            prompt_tokens: input_tokens,
            total_tokens: input_tokens,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn every_family_answer_is_read() {
        let titan = json!({"embedding": [0.5, 0.5], "inputTextTokenCount": 3,
                           "embeddingsByType": {"float": [0.5, 0.5]}});
        let a = read(Family::TitanV2, 1, &bytes(titan), None).unwrap();
        assert_eq!((a.vectors, a.input_tokens), (vec![vec![0.5, 0.5]], Some(3)));
        let v3 = json!({"id": "x", "embeddings": [[1.0], [2.0]], "response_type": "embeddings_floats", "texts": ["a", "b"]});
        let a = read(Family::CohereV3, 2, &bytes(v3), Some(9)).unwrap();
        assert_eq!(
            (a.vectors, a.input_tokens),
            (vec![vec![1.0], vec![2.0]], Some(9))
        );
        let v4 = json!({"id": "x", "embeddings": {"float": [[1.0]]}, "response_type": "embeddings_by_type", "texts": ["a"]});
        assert_eq!(
            read(Family::CohereV4, 1, &bytes(v4), None)
                .unwrap()
                .input_tokens,
            None
        );
        let nova = json!({"embeddings": [{"embeddingType": "TEXT", "embedding": [0.25]}]});
        assert_eq!(
            read(Family::Nova, 1, &bytes(nova), None).unwrap().vectors,
            [vec![0.25]]
        );
    }

    #[test]
    fn wrong_answers_are_502s() {
        let v3 = json!({"embeddings": [[1.0]]});
        assert_eq!(
            read(Family::CohereV3, 2, &bytes(v3), None)
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            read(Family::TitanV2, 1, b"{\"x\":1}", None)
                .unwrap_err()
                .status,
            502
        );
        assert_eq!(
            read(Family::Nova, 1, b"not json", None).unwrap_err().status,
            502
        );
    }

    #[test]
    fn the_list_is_in_input_order_with_usage() {
        let list = to_openai(vec![vec![1.0], vec![2.0]], EncodingFormat::Float, "m", 7);
        let v = serde_json::to_value(&list).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "model": "m", "usage": {"prompt_tokens": 7, "total_tokens": 7},
                   "data": [{"object": "embedding", "index": 0, "embedding": [1.0]},
                            {"object": "embedding", "index": 1, "embedding": [2.0]}]})
        );
        assert_eq!(estimate_tokens(&["abcde", "", "é"]), 2 + 1 + 1);
    }
}
