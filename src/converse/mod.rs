//! Bedrock Converse / ConverseStream wire types (botocore `bedrock-runtime` model).

pub mod guardrail;
pub mod request;
pub mod response;
pub mod stream;
pub mod text;
pub mod usage;
