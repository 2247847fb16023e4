//! `GET /v1/models` and `GET /v1/models/{id}` objects (OpenAPI `ListModelsResponse`, `Model`),
//! extended as the API specification's seed asks (a top-level `provider` and a `bedrock`
//! object of Bedrock-specific metadata), plus the gateway's own metadata documents
//! (`/v1/providers`, `/v1/mappings`), versioned by [`METADATA_VERSION`].

use serde::Serialize;

/// Version of the `/v1/providers` and `/v1/mappings` documents (and of the `bedrock` object
/// on models). Fields are only ever added under one version; a rename or removal gets a new
/// date.
pub const METADATA_VERSION: &str = "2026-11-01";

/// OpenAI's `Model`, plus `provider` and `bedrock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Model {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: String,
    /// The model's provider (`anthropic`, `amazon`, …).
    pub provider: String,
    pub bedrock: BedrockModel,
}

/// Bedrock facts about a listed model. Capability fields are absent when the model is not
/// in the catalog (an alias to an ARN, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BedrockModel {
    /// The id Bedrock is called with (the alias target for aliases).
    pub model_id: String,
    /// The catalog's base model id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model_id: Option<String>,
    /// Set on aliases: the name is an alias of `model_id`.
    pub alias: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_modalities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    /// The model reasons when asked (`reasoning_effort` / `thinking`): its answers carry
    /// `reasoning_content` and `thinking_blocks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Where the model takes prompt-cache points (`cache_control`, automatic caching), or
    /// `false`: the gateway drops cache markers for a model without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_caching: Option<PromptCachingFacts>,
    /// Documents, citations, S3 sources and tool-result images the model takes.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::catalog::content::ContentSupport>,
    /// Cross-region inference-profile ids of the model (`us.anthropic.…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_profiles: Option<Vec<String>>,
    /// Region the gateway calls this model in.
    pub region: String,
    /// In gateway mode: the gateway's name for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_alias: Option<String>,
    /// Set on embedding models only (served on `/v1/embeddings`, refused on chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingFacts>,
}

/// `bedrock.prompt_caching`: `false`, or where cache points go. Every caching model caches
/// the system prompt and messages; `tools` and the 1-hour TTL depend on the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptCachingFacts {
    Unsupported,
    Supported(CachePoints),
}

/// Where a caching model takes cache points, and how long a prefix must be to be cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachePoints {
    pub system: bool,
    pub messages: bool,
    pub tools: bool,
    pub ttl_1h: bool,
    /// The fewest tokens a cached prefix needs.
    pub min_tokens: u32,
    /// Most cache points one request takes.
    pub max_cache_points: usize,
}

impl Serialize for PromptCachingFacts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unsupported => s.serialize_bool(false),
            Self::Supported(points) => points.serialize(s),
        }
    }
}

/// What `/v1/embeddings` does with an embedding model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbeddingFacts {
    /// Vector size when the request has no `dimensions`.
    pub dimensions: u32,
    /// Every `dimensions` the model takes, smallest first.
    pub supported_dimensions: Vec<u32>,
    /// Inputs one Bedrock call carries (more are chunked or fanned out).
    pub max_inputs_per_call: usize,
}

/// `{"object": "list", "data": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<Model>,
}

/// `/v1/providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderList {
    pub object: &'static str,
    pub version: &'static str,
    pub data: Vec<Provider>,
}

/// One model provider and what its models can do together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub id: String,
    pub object: &'static str,
    /// Catalog model ids of this provider.
    pub models: Vec<String>,
    /// Aliases whose target is one of this provider's models.
    pub aliases: Vec<String>,
    pub capabilities: ProviderCapabilities,
}

/// Union over the provider's models: a capability is listed when any model has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderCapabilities {
    pub streaming: bool,
    pub tools: bool,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub max_context_window: u32,
    pub inference_profiles: Vec<String>,
}

/// `/v1/mappings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingList {
    pub object: &'static str,
    pub version: &'static str,
    /// `aws` or `gateway`.
    pub upstream: &'static str,
    /// What happens to a model name with no mapping.
    pub default: &'static str,
    pub data: Vec<Mapping>,
}

/// How one client-side model name reaches Bedrock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// The name clients send.
    pub id: String,
    pub object: &'static str,
    /// `alias` (from `model_aliases`), `model` (a catalog base id) or `inference_profile`.
    pub kind: &'static str,
    /// The Bedrock model id called.
    pub bedrock_model_id: String,
    /// Region (AWS mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Gateway alias and path (gateway mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_alias: Option<String>,
    /// The upstream path of a unary call.
    pub path: String,
}
