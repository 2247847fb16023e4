//! Bedrock Converse / ConverseStream wire types (botocore `bedrock-runtime` model).

pub mod stream;
