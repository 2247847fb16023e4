//! Per-request context: request phase pauses the headers, translates and signs at the end of
//! the body; response phase streams SSE chunk by chunk or replaces a buffered body whole.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};

use super::host;
use super::keys::SharedKeys;
use crate::config::Config;
use crate::error::ApiError;
use crate::iam_auth::{self, IamCache, Presigned};
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
    /// IAM callers: this worker's verdict cache, and the STS call in flight.
    iam: IamState,
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
            iam: IamState::default(),
        }
    }

    pub fn with_keys(mut self, keys: Option<SharedKeys>) -> Self {
        self.keys = keys;
        self
    }

    pub fn with_iam_cache(mut self, cache: SharedIamCache) -> Self {
        self.iam.cache = cache;
        self
    }

    fn reply(&self, r: LocalReply) -> Action {
        log::debug!("#{} local reply {}", self.id, r.status);
        host::reply(r.status, r.content_type, &r.body);
        Action::Pause
    }
}

impl Http {
    /// Authenticates and routes (the caller's IAM tenant, if any, is already verified).
    fn decide_head(
        &mut self,
        cfg: &Config,
        iam_tenant: Option<&str>,
        end_of_stream: bool,
    ) -> Action {
        let method = host::header(REQ, ":method").unwrap_or_default();
        let path = host::header(REQ, ":path").unwrap_or_default();
        let authorization = host::header(REQ, "authorization");
        let api_key = host::header(REQ, "api-key");
        self.request_id =
            host::header(REQ, "x-request-id").unwrap_or_else(|| format!("{}", self.id));
        let keys = self.keys.as_ref().and_then(|k| k.try_borrow().ok());
        let keys = keys.as_deref();
        let head = RequestHead {
            method: &method,
            path: &path,
            authorization: authorization.as_deref(),
            api_key: api_key.as_deref(),
            keys,
            iam_tenant,
        };
        match request::on_headers(cfg, &head) {
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

    /// Translates and signs the whole buffered body; `Continue` sends it upstream.
    fn finish_body(&mut self, cfg: &Config, endpoint: Endpoint, size: usize) -> Action {
        let mut body = host::body(BufferType::HttpRequestBody, size);
        if let Some(model) = &self.model_override {
            body = crate::route::override_model(&body, model);
        }
        match request::on_body(cfg, endpoint, &body, host::now()) {
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

    /// An IAM bearer token: its shape, then the cache, else an STS call (`Asking`).
    fn iam_step(&mut self, cfg: &Config, end_of_stream: bool) -> IamStep {
        let Some(iam) = &cfg.iam else {
            return IamStep::NotIam;
        };
        let authorization = host::header(REQ, "authorization");
        let Some(token) = iam_auth::token_of(authorization.as_deref()) else {
            return IamStep::NotIam;
        };
        let now = host::now();
        let presigned = match iam_auth::validate(iam, token, now) {
            Ok(p) => p,
            Err(e) => return IamStep::Refused(e),
        };
        let cached = self
            .iam
            .cache
            .try_borrow()
            .ok()
            .and_then(|c| c.get(token, now));
        match cached {
            Some(Ok(tenant)) => return IamStep::Verified(tenant),
            Some(Err(e)) => return IamStep::Refused(e),
            None => {}
        }
        let call = iam_auth::sts_call(iam, &presigned);
        match host::dispatch(&call.cluster, &call.headers, &call.body, call.timeout) {
            Some(id) => {
                log::debug!(
                    "#{} verifying IAM caller {} with STS",
                    self.id,
                    presigned.access_key_id
                );
                self.iam.pending = Some((id, token.to_string(), presigned));
                self.iam.headers_ended = end_of_stream;
                IamStep::Asking
            }
            None => IamStep::Refused(ApiError::new(
                503,
                crate::error::ErrorType::ServiceUnavailableError,
                format!(
                    "The IAM token could not be verified: cluster `{}` is not reachable.",
                    call.cluster
                ),
            )),
        }
    }

    /// STS answered: cache the verdict, then carry on where the headers stopped.
    fn iam_answer(&mut self, cfg: &Config, body_size: usize) {
        let (Some(iam), Some((_, token, presigned))) = (&cfg.iam, self.iam.pending.take()) else {
            return;
        };
        let verdict = iam_auth::verdict(iam, host::call_status(), &host::call_body(body_size));
        if let Ok(mut cache) = self.iam.cache.try_borrow_mut() {
            cache.put(iam, &token, &presigned, &verdict, host::now());
        }
        let tenant = match verdict {
            Ok(t) => t,
            Err(e) => {
                log::info!("#{} IAM caller refused: {}", self.id, e.message);
                self.reply(e.into());
                return;
            }
        };
        if self.decide_head(cfg, Some(&tenant), self.iam.headers_ended) != Action::Pause
            || self.endpoint.is_none()
        {
            return;
        }
        // Headers are held. If the body is complete, finish it here and let it go; otherwise
        // the body callback finishes it at end of stream.
        if let (Some(size), Some(endpoint)) = (self.iam.body_size, self.endpoint) {
            if self.finish_body(cfg, endpoint, size) == Action::Continue {
                host::resume_request();
            }
        }
    }
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if self.iam.pending.as_ref().map(|(id, _, _)| *id) != Some(token_id) {
            return;
        }
        if let Some(cfg) = self.config.clone() {
            self.iam_answer(&cfg, body_size);
        }
    }
}

/// What to do with the caller's IAM token.
enum IamStep {
    NotIam,
    Verified(String),
    Refused(ApiError),
    Asking,
}

/// This worker's verified IAM tokens.
pub type SharedIamCache = Rc<RefCell<IamCache>>;

#[derive(Default)]
struct IamState {
    cache: SharedIamCache,
    /// The STS call in flight: its id, the token and its checked shape.
    pending: Option<(u32, String, Presigned)>,
    /// The request had no body (end of stream at the headers).
    headers_ended: bool,
    /// The body ended (with this size) while STS was being asked.
    body_size: Option<usize>,
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        let Some(cfg) = self.config.clone() else {
            return self.reply(ApiError::internal("the filter has no valid configuration").into());
        };
        let iam_tenant = match self.iam_step(&cfg, end_of_stream) {
            IamStep::NotIam => None,
            IamStep::Verified(tenant) => Some(tenant),
            IamStep::Refused(e) => return self.reply(e.into()),
            IamStep::Asking => return Action::Pause,
        };
        self.decide_head(&cfg, iam_tenant.as_deref(), end_of_stream)
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if self.iam.pending.is_some() {
            // STS has not answered yet: hold the body; the answer picks it up.
            if end_of_stream {
                self.iam.body_size = Some(size);
            }
            return Action::Pause;
        }
        let (Some(cfg), Some(endpoint)) = (self.config.clone(), self.endpoint) else {
            return Action::Continue;
        };
        if self.exchange.is_some() {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_body(&cfg, endpoint, size)
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
