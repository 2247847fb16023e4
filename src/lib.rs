//! OpenAI API → Amazon Bedrock Converse, as an Envoy proxy-wasm filter.
//!
//! Everything outside `filter` is the pure core: no proxy-wasm import, tested natively with
//! `cargo test`. Modules in the order a request flows through them:
//!
//! - [`config`]: plugin configuration, validated once at plugin start.
//! - [`route`]: the path forms clients use (`/v1`, a prefix, Azure deployments) → one path;
//!   [`config_version`]: schema versions and deprecated config names.
//! - [`caller`]: who is calling — config keys, the key table kept in AWS ([`key_source`]),
//!   an AWS identity verified by STS ([`iam_auth`]) — as a [`tenant`].
//! - [`request`]: authenticate the caller as a [`tenant`], route, enforce body limits and
//!   the tenant's models, and hand the body to [`upstream`].
//! - [`ratelimit`] / [`usage`]: per-tenant limits and accounting over bytes the shell keeps in
//!   shared data; [`metrics`]: metric names and access-log fields of a finished request.
//! - [`upstream`]: the Bedrock call — [`translate`] the body, [`models`] for the path,
//!   [`sigv4`] to sign it.
//! - [`response`]: Bedrock's answer → OpenAI's, unary via [`translate`], streams via
//!   [`stream`] (on top of the [`event_stream`] decoder).
//! - [`openai`] / [`converse`]: wire types of the two APIs; [`error`]: every failure as an
//!   HTTP status plus OpenAI error body.
//! - [`catalog`]: known models and aliases; [`metadata`]: `/v1/models`, `/v1/providers`,
//!   `/v1/mappings`, answered without an upstream call.
//! - [`headers`]: the header maps the shell reads and writes back in one host call each.
//! - [`credentials`]: AWS credentials fetched and refreshed from IMDSv2 or the container
//!   credentials endpoint (the root context dispatches the calls).

pub mod caller;
pub mod catalog;
pub mod config;
pub mod config_version;
pub mod converse;
pub mod credentials;
pub mod error;
pub mod event_stream;
pub mod headers;
pub mod iam_auth;
pub mod key_source;
pub mod metadata;
pub mod metrics;
pub mod model_id;
pub mod models;
pub mod openai;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod route;
pub mod sigv4;
pub mod stream;
pub mod tenant;
pub mod translate;
pub mod upstream;
pub mod usage;

#[cfg(target_arch = "wasm32")]
mod filter;

/// Test-only helpers shared by unit tests in several modules.
#[cfg(test)]
pub(crate) mod test_support {
    /// botocore's `bedrock-runtime` service model, the oracle for what Bedrock accepts.
    pub fn botocore_model() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/reference/bedrock-runtime-service-2.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}
