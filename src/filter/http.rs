//! Per-request context: request phase pauses the headers, translates and signs at the end of
//! the body; response phase streams SSE chunk by chunk or replaces a buffered body whole.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};

use super::host;
use super::keys::SharedKeys;
use crate::config::Config;
use crate::error::ApiError;
use crate::request::{self, Endpoint, HeadDecision, LocalReply, RequestHead};
use crate::response::{ResponseHandler, ResponseHead};
use crate::upstream::{self, Exchange};

const REQ: MapType = MapType::HttpRequestHeaders;
const RESP: MapType = MapType::HttpResponseHeaders;

pub struct Http {
    id: u32,
    config: Option<Rc<Config>>,
    endpoint: Option<Endpoint>,
    request_id: String,
    exchange: Option<Exchange>,
    handler: Option<ResponseHandler>,
    /// The Azure deployment's model, which replaces the body's `model`.
    model_override: Option<String>,
    /// This worker's key table kept in AWS, when `api_keys_source` is configured.
    keys: Option<SharedKeys>,
}

impl Http {
    pub fn new(id: u32, config: Option<Rc<Config>>) -> Self {
        Self {
            id,
            config,
            endpoint: None,
            request_id: String::new(),
            exchange: None,
            handler: None,
            model_override: None,
            keys: None,
        }
    }

    pub fn with_keys(mut self, keys: Option<SharedKeys>) -> Self {
        self.keys = keys;
        self
    }

    fn reply(&self, r: LocalReply) -> Action {
        log::debug!("#{} local reply {}", self.id, r.status);
        host::reply(r.status, r.content_type, &r.body);
        Action::Pause
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some(cfg) = self.config.clone() else {
            return self.reply(ApiError::internal("the filter has no valid configuration").into());
        };
        let method = host::header(REQ, ":method").unwrap_or_default();
        let path = host::header(REQ, ":path").unwrap_or_default();
        let authorization = host::header(REQ, "authorization");
        let api_key = host::header(REQ, "api-key");
        self.request_id =
            host::header(REQ, "x-request-id").unwrap_or_else(|| format!("{}", self.id));
        let keys = self.keys.as_ref().and_then(|k| k.try_borrow().ok());
        let head = RequestHead {
            method: &method,
            path: &path,
            authorization: authorization.as_deref(),
            api_key: api_key.as_deref(),
            keys: keys.as_deref(),
            iam_tenant: None,
        };
        match request::on_headers(&cfg, &head) {
            HeadDecision::Reply(r) => self.reply(r),
            HeadDecision::ReadBody(_) if end_of_stream => {
                self.reply(ApiError::invalid_request("the request has no body").into())
            }
            HeadDecision::ReadBody(endpoint) => {
                for name in host::header_names(REQ) {
                    if upstream::strip_from_upstream(&name) {
                        host::set_header(REQ, &name, None);
                    }
                }
                self.endpoint = Some(endpoint);
                self.model_override = crate::route::normalise(&cfg.path_forms, &path)
                    .model_override()
                    .map(String::from);
                Action::Pause
            }
        }
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let (Some(cfg), Some(endpoint)) = (self.config.clone(), self.endpoint) else {
            return Action::Continue;
        };
        if self.exchange.is_some() {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let mut body = host::body(BufferType::HttpRequestBody, size);
        if let Some(model) = &self.model_override {
            body = crate::route::override_model(&body, model);
        }
        match request::on_body(&cfg, endpoint, &body, host::now()) {
            Ok((up, exchange)) => {
                host::replace_body(BufferType::HttpRequestBody, size, &up.body);
                host::set_header(REQ, ":path", Some(&up.path));
                host::set_header(REQ, ":authority", Some(&up.authority));
                host::set_header(REQ, "content-length", Some(&up.body.len().to_string()));
                for (k, v) in &up.headers {
                    host::set_header(REQ, k, Some(v));
                }
                log::debug!("#{} → {} {}", self.id, up.authority, up.path);
                self.exchange = Some(exchange);
                Action::Continue
            }
            Err(e) => self.reply(e.into()),
        }
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some(exchange) = &self.exchange else {
            return Action::Continue;
        };
        let status = host::header(RESP, ":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(502);
        let content_type = host::header(RESP, "content-type");
        let error_type = host::header(RESP, "x-amzn-errortype");
        let id = match host::header(RESP, "x-amzn-requestid") {
            Some(r) => format!("chatcmpl-{r}"),
            None => format!("chatcmpl-{}", self.request_id),
        };
        let head = ResponseHead {
            status,
            content_type: content_type.as_deref(),
            error_type: error_type.as_deref(),
        };
        let handler =
            ResponseHandler::new(exchange, &head, id, upstream::unix_seconds(host::now()));
        host::set_header(RESP, "x-bedrock-model", Some(&exchange.bedrock_model));
        if !exchange.ignored.is_empty() {
            host::set_header(
                RESP,
                "x-bedrock-ignored-params",
                Some(&exchange.ignored.join(",")),
            );
        }
        host::set_header(RESP, "content-length", None);
        let action = if end_of_stream {
            // No body will follow, so no body callback either: answer in full now.
            let f = handler.finish_buffered(&[]);
            host::reply(f.status, "application/json", &f.body);
            Action::Pause
        } else if handler.is_buffered() {
            // Hold the head: status and content-length are known only once the body is.
            Action::Pause
        } else {
            host::set_header(RESP, "content-type", Some("text/event-stream"));
            host::set_header(RESP, "cache-control", Some("no-cache"));
            Action::Continue
        };
        self.handler = Some(handler);
        action
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(handler) = &mut self.handler else {
            return Action::Continue;
        };
        match handler {
            ResponseHandler::Stream(translator) => {
                let chunk = host::body(BufferType::HttpResponseBody, size);
                let mut out = translator.feed(&chunk);
                if end_of_stream {
                    out.extend(translator.finish());
                }
                host::replace_body(BufferType::HttpResponseBody, size, &out);
                Action::Continue
            }
            buffered => {
                if !end_of_stream {
                    return Action::Pause;
                }
                let body = host::body(BufferType::HttpResponseBody, size);
                let f = buffered.finish_buffered(&body);
                host::set_header(RESP, ":status", Some(&f.status.to_string()));
                host::set_header(RESP, "content-type", Some("application/json"));
                host::set_header(RESP, "content-length", Some(&f.body.len().to_string()));
                if let Some((input, output)) = f.usage {
                    host::set_header(RESP, "x-token-usage-input", Some(&input.to_string()));
                    host::set_header(RESP, "x-token-usage-output", Some(&output.to_string()));
                }
                host::replace_body(BufferType::HttpResponseBody, size, &f.body);
                Action::Continue
            }
        }
    }
}
