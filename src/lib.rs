//! OpenAI API → Amazon Bedrock Converse, as an Envoy proxy-wasm filter.
//!
//! Everything outside `filter` is the pure core: no proxy-wasm import, tested natively with
//! `cargo test`. Modules in the order a request flows through them:
//!
//! - [`config`]: plugin configuration, validated once at plugin start.
//! - [`route`]: the path forms clients use (`/v1`, a prefix, Azure deployments) → one path;
//!   [`config_version`]: schema versions and deprecated config names.
//! - [`caller`]: who is calling — config keys, the key table kept in AWS ([`key_source`]),
//!   an AWS identity verified by STS ([`iam_auth`]).
//! - [`request`]: authenticate ([`auth`]), route, and hand the body to [`upstream`].
//! - [`upstream`]: the Bedrock call — [`translate`] the body, [`models`] for the path,
//!   [`sigv4`] to sign it.
//! - [`response`]: Bedrock's answer → OpenAI's, unary via [`translate`], streams via
//!   [`stream`] (on top of the [`event_stream`] decoder).
//! - [`openai`] / [`converse`]: wire types of the two APIs; [`error`]: every failure as an
//!   HTTP status plus OpenAI error body.

pub mod auth;
pub mod caller;
pub mod config;
pub mod config_version;
pub mod converse;
pub mod error;
pub mod event_stream;
pub mod iam_auth;
pub mod key_source;
pub mod models;
pub mod openai;
pub mod request;
pub mod response;
pub mod route;
pub mod sigv4;
pub mod stream;
pub mod translate;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod filter;
