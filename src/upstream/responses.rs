//! `POST /v1/responses` → the Converse call of the chat request it stands for, answered as
//! a `response` object ([`OutputFormat::Responses`]).

use std::time::SystemTime;

use super::sigv4::Credentials;
use super::{converse_for, Exchange, UpstreamRequest};
use crate::auth::tenant::Tenant;
use crate::config::Config;
use crate::error::ApiError;
use crate::openai::responses::ResponsesRequest;
use crate::stream::OutputFormat;
use crate::translate::responses::to_chat_request;

/// Parses, translates and signs a Responses request for `tenant`.
pub fn responses(
    cfg: &Config,
    tenant: Option<&Tenant>,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = ResponsesRequest::parse(body)?;
    let chat = to_chat_request(&req);
    converse_for(
        cfg,
        tenant,
        chat,
        OutputFormat::Responses(req.echo),
        now,
        live,
    )
}
