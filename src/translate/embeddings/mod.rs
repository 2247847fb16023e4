//! OpenAI embeddings ↔ Bedrock `InvokeModel`, one module per direction: [`request`] turns the
//! inputs into the model family's request bodies (one per input, or batches where the model
//! takes a batch); [`response`] reads each family's answer and builds OpenAI's list.
//!
//! The family is read from the Bedrock id (an alias target, an inference profile or an ARN
//! ending in a known id), so every name of a model behaves the same. Shapes and limits are
//! AWS's documented ones (Bedrock user guide, "Amazon Titan Embeddings", "Cohere Embed v3 /
//! v4", Amazon Nova user guide "embeddings schema").

pub mod request;
pub mod response;

pub use crate::catalog::embedding::{model_for, EmbeddingModel, Family, MODELS};
