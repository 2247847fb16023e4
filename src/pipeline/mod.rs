//! One request, from its head to its log line: the path forms ([`route`]), what to do with
//! the head and the body ([`request`]), and Bedrock's answer in the client's terms
//! ([`response`]).

pub mod request;
pub mod response;
pub mod route;
