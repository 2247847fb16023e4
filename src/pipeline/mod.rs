//! One request, from its head to its log line: a [`Flow`] per request drives the path forms
//! ([`route`]), what to do with the head and the body ([`request`]), and Bedrock's answer in
//! the client's terms ([`response`]); the shell only carries out its [`step`]s and effects.

pub mod bedrock;
pub mod embeddings;
pub mod flow;
pub mod metadata;
pub mod request;
pub mod response;
pub mod route;
pub mod step;

pub use flow::{Env, Flow};
pub use step::{Effect, Host, MemoryHost, Output, Reply, Step};
