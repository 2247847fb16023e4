//! `POST /v1/embeddings` → the signed `InvokeModel` calls that answer it. They go out as
//! side calls through the `embeddings.cluster` Envoy cluster (the pipeline's fan-out,
//! `pipeline/flow/fanout.rs`), never as the client's own request: a request with several
//! inputs makes several calls, and the answer is built once all are back.

use std::time::SystemTime;

use crate::config::Config;
use crate::error::ApiError;
use crate::openai::embeddings::{EmbeddingsRequest, EncodingFormat};
use crate::pipeline::bedrock::{request_for, SignWith};
use crate::stream::OutputFormat;
use crate::translate::embeddings::{self, request, response, EmbeddingModel};
use crate::translate::tools::OutputMode;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::Credentials;
use crate::upstream::Exchange;

/// Everything the fan-out needs: the calls in input order and how to read their answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingJob {
    pub model: &'static EmbeddingModel,
    pub format: EncodingFormat,
    /// How many inputs the request has (the answer has one vector each).
    pub inputs: usize,
    /// One side call per batch, in input order.
    pub calls: Vec<EmbeddingCall>,
}

/// One `InvokeModel` side call and the inputs it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingCall {
    /// Inputs `first..first + count`.
    pub first: usize,
    pub count: usize,
    /// Their input-token estimate, used when Bedrock's answer has no count.
    pub estimate: u64,
    pub call: SideCall,
}

/// 400 for a model that is not one of the embedding models we serve.
fn not_an_embedding_model(model: &str) -> ApiError {
    let known: Vec<&str> = embeddings::MODELS.iter().map(|m| m.id).collect();
    ApiError::invalid_param(
        "model",
        format!(
            "`{}` is not an embedding model this gateway serves; use one of {}",
            crate::headers::printable(model, 64),
            known.join(", ")
        ),
    )
    .with_code("model_not_embedding")
}

/// 400 for a chat or completion request naming an embedding model.
pub fn not_a_chat_model(model: &str) -> ApiError {
    ApiError::invalid_param(
        "model",
        format!(
            "`{}` is an embedding model: call it on /v1/embeddings",
            crate::headers::printable(model, 64)
        ),
    )
    .with_code("model_not_chat")
}

/// Parses, checks and signs an embeddings request: the job for the fan-out and the exchange
/// (model names, estimate) the accounting needs.
pub fn embeddings(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(EmbeddingJob, Exchange), ApiError> {
    let req = EmbeddingsRequest::parse(body)?;
    let bedrock_model = cfg.catalog.bedrock_id(&req.model).to_string();
    crate::catalog::model_id::check_bedrock_id("model", &bedrock_model)?;
    let model =
        embeddings::model_for(&bedrock_model).ok_or_else(|| not_an_embedding_model(&req.model))?;
    let planned = request::plan(model, &req)?;
    let settings = &cfg.embeddings;
    let mut calls = Vec::with_capacity(planned.len());
    for c in planned {
        let up = request_for(
            cfg,
            c.body,
            &bedrock_model,
            "invoke",
            "application/json",
            now,
            // Side calls skip Envoy's filter chain: the filter signs them whatever `signing`.
            SignWith::Filter(live),
        )?;
        let mut call = SideCall::new(
            &settings.cluster,
            "POST",
            &up.authority,
            up.path,
            settings.timeout,
        );
        call.headers = up.headers;
        call.body = up.body;
        calls.push(EmbeddingCall {
            first: c.first,
            count: c.count,
            estimate: response::estimate_tokens(&req.input[c.first..c.first + c.count]),
            call,
        });
    }
    let exchange = Exchange {
        canonical_model: crate::catalog::model_id::canonical(&bedrock_model).to_string(),
        bedrock_model,
        via_bedrock_model: false,
        stream: false,
        include_usage: false,
        estimated_input_tokens: response::estimate_tokens(&req.input),
        ignored: Vec::new(),
        output: OutputMode::default(),
        format: OutputFormat::Chat,
        model: req.model,
    };
    let job = EmbeddingJob {
        model,
        format: req.encoding_format,
        inputs: req.input.len(),
        calls,
    };
    Ok((job, exchange))
}
