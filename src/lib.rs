//! OpenAI API → Amazon Bedrock Converse, as an Envoy proxy-wasm filter.
//!
//! Everything outside `filter` is the pure core: no proxy-wasm import, tested natively with
//! `cargo test`. The groups, in the order a request flows through them:
//!
//! - [`config`]: the plugin configuration, validated once at plugin start.
//! - [`pipeline`]: one request from head to log: routing ([`pipeline::route`]), the head and
//!   body decisions ([`pipeline::request`]), the Bedrock call ([`pipeline::bedrock`]),
//!   `/v1/models`, `/v1/providers`, `/v1/mappings` ([`pipeline::metadata`]) and the answer
//!   ([`pipeline::response`]).
//! - [`auth`]: who is calling: API keys of [`auth::tenant`]s, the key table kept in AWS
//!   ([`auth::key_source`]), IAM callers verified by STS ([`auth::iam`]).
//! - [`catalog`]: known models and aliases, model names checked and made canonical
//!   ([`catalog::model_id`]).
//! - [`accounting`]: rate limits, usage and metrics of a tenant's requests.
//! - [`upstream`]: how Bedrock is reached: the request's parts, SigV4 ([`upstream::sigv4`])
//!   with static or refreshed ([`upstream::credentials`]) credentials, side calls.
//! - [`translate`], [`stream`], [`event_stream`]: OpenAI ↔ Converse, unary and streamed.
//! - [`openai`] / [`converse`]: wire types of the two APIs; [`error`]: every failure as an
//!   HTTP status plus OpenAI error body; [`headers`]: the one checked path for header writes;
//!   [`document`]: JSON documents read from outside, with errors that never repeat a value.
//!
//! The modules form a DAG (docs/architecture.md, "Layering"; `scripts/check_structure.py`).

pub mod accounting;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod converse;
pub mod document;
pub mod error;
pub mod event_stream;
pub mod fleet;
pub mod headers;
pub mod openai;
pub mod pipeline;
pub mod stream;
pub mod translate;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod filter;

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
mod dynamic_module;

/// Test-only helpers shared by unit tests in several modules: botocore's model and the
/// Converse request check, one copy with the integration tests.
#[cfg(test)]
#[path = "../tests/support/botocore.rs"]
pub(crate) mod test_support;
