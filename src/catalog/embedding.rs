//! The embedding models the gateway serves: their family (request and answer shape),
//! dimensions and documented limits. `/v1/models` lists them; `/v1/embeddings` calls them
//! ([`crate::translate::embeddings`]); chat and completions refuse them.

use crate::catalog::{provider_of, strip_profile_prefix, ModelEntry};

/// An embedding model family: its request and answer shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `amazon.titan-embed-text-v2:0`: one `inputText` a call.
    TitanV2,
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`: `texts`, up to 96.
    CohereV3,
    /// `cohere.embed-v4:0`: `texts`, up to 96, `output_dimension`.
    CohereV4,
    /// `amazon.nova-2-multimodal-embeddings-v1:0`: one text a call.
    Nova,
}

/// What the gateway knows of one embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingModel {
    /// The Bedrock base model id.
    pub id: &'static str,
    pub family: Family,
    pub name: &'static str,
    /// Allowed `dimensions`; the first is the default.
    pub dimensions: &'static [u32],
    /// Inputs one call may carry (1: one call per input).
    pub batch: usize,
    /// Longest input in characters, where the model documents one.
    pub max_chars: Option<usize>,
    /// Input tokens one text may have (the catalog's context window).
    pub max_tokens: u32,
    /// Unix time of release (the model object's `created`).
    pub created: u64,
}

/// Every embedding model the gateway serves.
#[rustfmt::skip]
pub const MODELS: &[EmbeddingModel] = &[
    EmbeddingModel { id: "amazon.titan-embed-text-v2:0", family: Family::TitanV2, name: "Titan Text Embeddings V2",
        dimensions: &[1024, 512, 256], batch: 1, max_chars: Some(50_000), max_tokens: 8_192, created: 1_714_003_200 },
    EmbeddingModel { id: "cohere.embed-english-v3", family: Family::CohereV3, name: "Cohere Embed English v3",
        dimensions: &[1024], batch: 96, max_chars: Some(2_048), max_tokens: 512, created: 1_700_006_400 },
    EmbeddingModel { id: "cohere.embed-multilingual-v3", family: Family::CohereV3, name: "Cohere Embed Multilingual v3",
        dimensions: &[1024], batch: 96, max_chars: Some(2_048), max_tokens: 512, created: 1_700_006_400 },
    EmbeddingModel { id: "cohere.embed-v4:0", family: Family::CohereV4, name: "Cohere Embed v4",
        dimensions: &[1536, 1024, 512, 256], batch: 96, max_chars: None, max_tokens: 128_000, created: 1_752_537_600 },
    EmbeddingModel { id: "amazon.nova-2-multimodal-embeddings-v1:0", family: Family::Nova, name: "Amazon Nova Multimodal Embeddings",
        dimensions: &[3072, 1024, 384, 256], batch: 1, max_chars: None, max_tokens: 8_192, created: 1_761_955_200 },
];

/// The embedding model a Bedrock id calls: its base id, an inference profile of it, or an
/// ARN ending in either. `None` for every other model (chat models among them).
pub fn model_for(bedrock_id: &str) -> Option<&'static EmbeddingModel> {
    let tail = match bedrock_id.rsplit_once('/') {
        Some((_, t)) if bedrock_id.starts_with("arn:") => t,
        _ => bedrock_id,
    };
    let base = strip_profile_prefix(tail);
    MODELS.iter().find(|m| m.id == base)
}

impl EmbeddingModel {
    pub fn default_dimensions(&self) -> u32 {
        self.dimensions[0]
    }

    /// Its catalog entry: text in, an embedding out, no streaming, no tools.
    pub fn entry(&self) -> ModelEntry {
        ModelEntry {
            id: self.id.to_string(),
            provider: provider_of(self.id).unwrap_or("amazon").to_string(),
            name: self.name.to_string(),
            input_modalities: vec!["text".to_string()],
            output_modalities: vec!["embedding".to_string()],
            context_window: self.max_tokens,
            max_output_tokens: 0,
            streaming: false,
            tools: false,
            inference_profiles: Vec::new(),
            region: None,
            created: self.created,
            prompt_caching: None,
            // Text in only: no documents, S3 sources or tool results.
            content: crate::catalog::content::ContentSupport {
                documents: false,
                citations: false,
                s3_sources: false,
                tool_result_images: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_an_embedding_model_finds_it() {
        for id in [
            "amazon.titan-embed-text-v2:0",
            "us.amazon.titan-embed-text-v2:0",
            "arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-v4:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.cohere.embed-v4:0",
        ] {
            assert!(model_for(id).is_some(), "{id}");
        }
        for id in [
            "amazon.nova-pro-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "x",
        ] {
            assert!(model_for(id).is_none(), "{id}");
        }
        assert_eq!(
            model_for("cohere.embed-multilingual-v3").map(|m| m.family),
            Some(Family::CohereV3)
        );
        for m in MODELS {
            assert!(m.batch >= 1 && !m.dimensions.is_empty(), "{}", m.id);
            assert!(crate::catalog::model_id::is_bedrock_id(m.id));
        }
    }
}
