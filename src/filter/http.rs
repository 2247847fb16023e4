//! Per-request context: request phase pauses the headers, translates and signs at the end of
//! the body; response phase streams SSE chunk by chunk or replaces a buffered body whole.
//! Rate-limit state and usage live in shared data (read-modify-write with CAS through
//! `host::shared_update`); metrics and access-log fields are written as the request ends.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};

use super::host;
use super::keys::SharedKeys;
use super::timing;
use crate::accounting::metrics::Outcome;
use crate::accounting::ratelimit::{self, Decision};
use crate::accounting::usage;
use crate::auth::iam::{self, IamCache, Presigned};
use crate::config::Config;
use crate::error::ApiError;
use crate::headers::HeaderList;
use crate::pipeline::request::{self, Endpoint, HeadDecision, LocalReply, RequestHead};
use crate::pipeline::response::{self, ResponseHandler, ResponseHead};
use crate::upstream::credentials::Refresher;
use crate::upstream::{self, Exchange};

const REQ: MapType = MapType::HttpRequestHeaders;
const RESP: MapType = MapType::HttpResponseHeaders;
const TRAILERS: MapType = MapType::HttpResponseTrailers;

pub struct Http {
    id: u32,
    config: Option<Rc<Config>>,
    refresher: Option<Rc<RefCell<Refresher>>>,
    endpoint: Option<Endpoint>,
    request_id: String,
    tenant: Option<String>,
    exchange: Option<Exchange>,
    handler: Option<ResponseHandler>,
    /// The limiter's decision and its bucket, when a limit applies.
    limit: Option<(String, Decision)>,
    /// When the request went upstream (ms since the epoch), for time to first token.
    sent_at_ms: Option<u64>,
    /// The filter answered this request itself.
    local_reply: bool,
    outcome: Outcome,
    /// The Azure deployment's model, which replaces the body's `model`.
    model_override: Option<String>,
    /// This worker's key table kept in AWS, when `api_keys_source` is configured.
    keys: Option<SharedKeys>,
    /// IAM callers: this worker's verdict cache, and the STS call in flight.
    iam: IamState,
    /// The request headers, read in one host call; edited here, and the changes written
    /// back when the translated request goes upstream.
    req: HeaderList,
    /// The response headers, read in one host call; the changes are written back at once
    /// for a stream, and once the body is translated for a buffered answer.
    resp: HeaderList,
}

impl Http {
    pub fn new(
        id: u32,
        config: Option<Rc<Config>>,
        refresher: Option<Rc<RefCell<Refresher>>>,
    ) -> Self {
        Self {
            id,
            config,
            refresher,
            endpoint: None,
            request_id: String::new(),
            tenant: None,
            exchange: None,
            handler: None,
            limit: None,
            sent_at_ms: None,
            local_reply: false,
            outcome: Outcome::default(),
            model_override: None,
            keys: None,
            iam: IamState::default(),
            req: HeaderList::default(),
            resp: HeaderList::default(),
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

    fn reply(&mut self, r: LocalReply, extra: &[(String, String)]) -> Action {
        log::debug!("#{} local reply {}", self.id, r.status);
        let mut headers = HeaderList::from_pairs([("content-type", r.content_type)]);
        for (k, v) in extra {
            headers.set(k, v);
        }
        headers.set("x-request-id", &self.request_id);
        self.local_reply = true;
        host::reply(r.status, &headers, &r.body);
        Action::Pause
    }

    fn error(&mut self, e: ApiError, extra: &[(String, String)]) -> Action {
        self.outcome.error_type = Some(e.kind.as_str().to_string());
        self.reply(e.into(), extra)
    }

    /// Once, in `on_log`: Envoy runs the Wasm filter's log callback before the HTTP
    /// connection manager's access logs, which read these fields.
    fn publish_log_fields(&self) {
        for (name, value) in self.outcome.log_fields() {
            host::set_property(name, &value);
        }
    }

    fn first_output(&mut self) {
        if self.outcome.time_to_first_token_ms.is_none() {
            if let Some(sent) = self.sent_at_ms {
                self.outcome.time_to_first_token_ms = Some(host::now_ms().saturating_sub(sent));
            }
        }
    }

    /// Admits the request through the shared limiter (fails open if shared data fails).
    fn acquire(
        &mut self,
        cfg: &Config,
        ex: &Exchange,
        limits: ratelimit::Limits,
    ) -> Result<(), Action> {
        if limits.is_unlimited() {
            return Ok(());
        }
        let tenant = self.tenant.clone().unwrap_or_default();
        let key = ratelimit::bucket_key(&cfg.region, &tenant, &ex.canonical_model);
        let now = host::now_ms();
        let cost = ex.estimated_input_tokens;
        let Some(decision) =
            host::shared_update(&key, |s| ratelimit::try_acquire(s, limits, now, cost))
        else {
            log::warn!("#{} rate limiter unavailable; request admitted", self.id);
            return Ok(());
        };
        let headers = decision.headers();
        if let Err(e) = request::admit(&decision) {
            return Err(self.error(e, &headers));
        }
        self.limit = Some((key, decision));
        Ok(())
    }

    fn usage_reply(&mut self, cfg: &Config, tenants: &[String]) -> Action {
        let stored: Vec<(&str, Option<Vec<u8>>)> = tenants
            .iter()
            .map(|t| (t.as_str(), host::shared_get(&usage::key(t))))
            .collect();
        let now = upstream::unix_seconds(host::now());
        let body = usage::report(&stored, now, cfg.usage_window_seconds);
        self.reply(
            LocalReply {
                status: 200,
                content_type: "application/json",
                body,
            },
            &[],
        )
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
        let keys = self.keys.clone();
        let keys = keys.as_ref().and_then(|k| k.try_borrow().ok());
        let h = &self.req;
        let path = h.get(":path").unwrap_or_default().to_string();
        let head = RequestHead {
            method: h.get(":method").unwrap_or_default(),
            path: &path,
            authorization: h.get("authorization"),
            content_type: h.get("content-type"),
            content_encoding: h.get("content-encoding"),
            content_length: h
                .get("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok()),
            api_key: h.get("api-key"),
            keys: keys.as_deref(),
            iam_tenant,
        };
        let decided = request::on_headers(cfg, &head);
        self.tenant = decided.tenant.map(|t| t.name.clone());
        self.outcome.tenant = self.tenant.clone();
        match decided.decision {
            HeadDecision::Reply(r) => {
                self.outcome.error_type = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"]["type"].as_str().map(str::to_string));
                self.reply(r, &[])
            }
            HeadDecision::Usage { tenants } => self.usage_reply(cfg, &tenants),
            HeadDecision::ReadBody(_) if end_of_stream => {
                self.error(ApiError::invalid_request("the request has no body"), &[])
            }
            HeadDecision::ReadBody(endpoint) => {
                // Nothing goes upstream before the body is translated: the head is cut to the
                // allow-list and written back with the rest in `finish_body`.
                self.endpoint = Some(endpoint);
                self.model_override = crate::pipeline::route::normalise(&cfg.path_forms, &path)
                    .model_override()
                    .map(String::from);
                Action::Pause
            }
        }
    }

    /// Translates and signs the whole buffered body; `Continue` sends it upstream.
    fn finish_body(&mut self, cfg: &Config, endpoint: Endpoint, size: usize) -> Action {
        let body = host::body(BufferType::HttpRequestBody, size);
        let Some(tenant) = self.tenant.as_deref().and_then(|t| cfg.tenants.get(t)) else {
            return self.error(ApiError::internal("the caller's tenant is gone"), &[]);
        };
        let now = host::now();
        let live = self
            .refresher
            .as_ref()
            .and_then(|r| r.borrow().current(now).cloned());
        match timing::phase("2a_core_translate_sign", || {
            let model = self.model_override.as_deref();
            request::on_body(cfg, tenant, endpoint, &body, model, now, live.as_ref())
        }) {
            Ok((up, exchange, limits)) => {
                self.outcome.model = Some(exchange.bedrock_model.clone());
                self.outcome.metric_model =
                    Some(cfg.metric_model(&exchange.canonical_model).to_string());
                self.outcome.stream = exchange.stream;
                if let Err(action) = self.acquire(cfg, &exchange, limits) {
                    return action;
                }
                host::replace_body(BufferType::HttpRequestBody, size, &up.body);
                let tenant = self.tenant.as_deref().unwrap_or_default();
                upstream::upstream_head(&mut self.req, cfg, tenant, &up, &exchange);
                host::write_headers(REQ, &mut self.req);
                log::debug!("#{} → {} {}", self.id, up.authority, up.path);
                self.sent_at_ms = Some(host::now_ms());
                self.exchange = Some(exchange);
                Action::Continue
            }
            Err(e) => self.error(e, &[]),
        }
    }

    /// An IAM bearer token: its shape, then the cache, else an STS call (`Asking`).
    fn iam_step(&mut self, cfg: &Config, end_of_stream: bool) -> IamStep {
        let Some(iam) = &cfg.iam else {
            return IamStep::NotIam;
        };
        let Some(token) = iam::token_of(self.req.get("authorization")) else {
            return IamStep::NotIam;
        };
        let now = host::now();
        let presigned = match iam::validate(iam, token, now) {
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
        let call = iam::sts_call(iam, &presigned);
        match host::dispatch(&call) {
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
        let verdict = iam::verdict(
            iam,
            host::call_response_status().unwrap_or(0),
            &host::call_response_body(body_size),
        );
        if let Ok(mut cache) = self.iam.cache.try_borrow_mut() {
            cache.put(iam, &token, &presigned, &verdict, host::now());
        }
        let tenant = match verdict {
            Ok(t) => t,
            Err(e) => {
                log::info!("#{} IAM caller refused: {}", self.id, e.message);
                self.error(e, &[]);
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
        timing::phase("1_request_headers", || self.request_headers(end_of_stream))
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        timing::phase("2_request_body", || self.request_body(size, end_of_stream))
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        timing::phase("3_response_headers", || {
            self.response_headers(end_of_stream)
        })
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        timing::phase("4_response_body", || {
            self.response_body(size, end_of_stream)
        })
    }

    fn on_log(&mut self) {
        timing::phase("5_log", || self.log_end());
        timing::request_done();
    }
}

/// The callbacks' work (the `HttpContext` methods above only time it).
impl Http {
    fn request_headers(&mut self, end_of_stream: bool) -> Action {
        // Envoy sets x-request-id (keeping the client's with preserve_external_request_id);
        // without it, one is made up and sent upstream.
        self.req = host::headers(REQ);
        let (id, rewrite) = request::request_id(self.req.get("x-request-id"), || {
            format!("{:x}-{:x}", host::now_ms(), self.id)
        });
        if rewrite {
            // Goes upstream with the rest of the head, in `finish_body`.
            self.req.set("x-request-id", &id);
        }
        self.request_id = id;
        self.outcome.request_id = self.request_id.clone();
        self.outcome.path = self
            .req
            .get(":path")
            .map(crate::accounting::metrics::log_path);
        let Some(cfg) = self.config.clone() else {
            return self.error(
                ApiError::internal("the filter has no valid configuration"),
                &[],
            );
        };
        let iam_tenant = match self.iam_step(&cfg, end_of_stream) {
            IamStep::NotIam => None,
            IamStep::Verified(tenant) => Some(tenant),
            IamStep::Refused(e) => return self.error(e, &[]),
            IamStep::Asking => return Action::Pause,
        };
        self.decide_head(&cfg, iam_tenant.as_deref(), end_of_stream)
    }

    fn request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
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
        if self.exchange.is_some() || self.local_reply {
            return Action::Continue;
        }
        if let Err(e) = request::check_body_size(&cfg, size) {
            return self.error(e, &[]);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.finish_body(&cfg, endpoint, size)
    }

    fn response_headers(&mut self, end_of_stream: bool) -> Action {
        if self.local_reply {
            return Action::Continue;
        }
        self.resp = host::headers(RESP);
        let h = &mut self.resp;
        let status = h.get(":status").and_then(|s| s.parse().ok()).unwrap_or(502);
        let Some(exchange) = &self.exchange else {
            // Envoy answered before anything went upstream (its own 413, a timeout while
            // the body was buffered): still an OpenAI error, written back with its body.
            if let Some(handler) = response::envoy_local_reply(status, h.get("content-type")) {
                h.remove("content-length");
                h.set("x-request-id", &self.request_id);
                self.handler = Some(handler);
                return Action::Pause;
            }
            return Action::Continue;
        };
        let id = exchange.response_id(h.get("x-amzn-requestid").unwrap_or(&self.request_id));
        let head = ResponseHead {
            status,
            content_type: h.get("content-type"),
            error_type: h.get("x-amzn-errortype"),
        };
        let handler =
            ResponseHandler::new(exchange, &head, id, upstream::unix_seconds(host::now()));
        let limit_headers = self
            .limit
            .as_ref()
            .map(|(_, d)| d.headers())
            .unwrap_or_default();
        response::downstream_head(h, exchange, &self.request_id, &limit_headers);
        let action = if end_of_stream {
            // No body will follow, so no body callback either: answer in full now.
            let f = handler.finish_buffered(&[]);
            self.outcome.error_type = f.error_type.map(|t| t.as_str().to_string());
            self.outcome.stop_reason = f.stop_reason.clone();
            let mut extra = HeaderList::from_pairs([("content-type", "application/json")]);
            for (k, v) in &limit_headers {
                extra.set(k, v);
            }
            extra.set("x-request-id", &self.request_id);
            if f.status == 429 {
                extra.set("retry-after", response::UPSTREAM_RETRY_AFTER);
            }
            self.local_reply = true;
            host::reply(f.status, &extra, &f.body);
            Action::Pause
        } else if handler.is_buffered() {
            // Hold the head: status and content-length are known only once the body is.
            Action::Pause
        } else {
            h.set("content-type", "text/event-stream");
            h.set("cache-control", "no-cache");
            host::write_headers(RESP, h);
            Action::Continue
        };
        self.handler = Some(handler);
        action
    }

    fn response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let Some(handler) = &mut self.handler else {
            return Action::Continue;
        };
        match handler {
            ResponseHandler::Stream(translator) => {
                let chunk = host::body(BufferType::HttpResponseBody, size);
                let mut out = timing::phase("4a_core_translate", || translator.feed(&chunk));
                if end_of_stream {
                    out.extend(translator.finish());
                }
                let first = !out.is_empty();
                if end_of_stream || translator.is_finished() {
                    self.outcome.input_tokens = translator.usage().map(|u| u.prompt_tokens);
                    self.outcome.output_tokens = translator.usage().map(|u| u.completion_tokens);
                    self.outcome.stop_reason = translator.stop_reason().map(str::to_string);
                    self.outcome.error_type =
                        translator.error_type().map(|t| t.as_str().to_string());
                }
                host::replace_body(BufferType::HttpResponseBody, size, &out);
                if let (true, Some(u)) = (end_of_stream, translator.usage()) {
                    // Envoy creates the trailer map on demand at the end of the body; HTTP/1.1
                    // clients see it only when the listener enables trailers (ours do).
                    let (input, output) =
                        (u.prompt_tokens.to_string(), u.completion_tokens.to_string());
                    let trailers = HeaderList::from_pairs([
                        ("x-token-usage-input", input.as_str()),
                        ("x-token-usage-output", output.as_str()),
                    ]);
                    host::add_headers(TRAILERS, &trailers);
                }
                if first {
                    self.first_output();
                }
                Action::Continue
            }
            buffered => {
                if !end_of_stream {
                    return Action::Pause;
                }
                let body = host::body(BufferType::HttpResponseBody, size);
                let f = timing::phase("4a_core_translate", || buffered.finish_buffered(&body));
                let h = &mut self.resp;
                h.set(":status", &f.status.to_string());
                h.set("content-type", "application/json");
                h.set("content-length", &f.body.len().to_string());
                if f.status == 429 && h.get("retry-after").is_none() {
                    h.set("retry-after", response::UPSTREAM_RETRY_AFTER);
                }
                if let Some((input, output)) = f.usage {
                    h.set("x-token-usage-input", &input.to_string());
                    h.set("x-token-usage-output", &output.to_string());
                }
                host::write_headers(RESP, h);
                host::replace_body(BufferType::HttpResponseBody, size, &f.body);
                self.outcome.input_tokens = f.usage.map(|u| u.0);
                self.outcome.output_tokens = f.usage.map(|u| u.1);
                self.outcome.stop_reason = f.stop_reason;
                self.outcome.error_type = f.error_type.map(|t| t.as_str().to_string());
                self.first_output();
                Action::Continue
            }
        }
    }

    /// Runs once per request, whatever happened (also after a reset): settle the limiter,
    /// add to the tenant's usage, update the metrics.
    fn log_end(&mut self) {
        if let Some(ResponseHandler::Stream(t)) = &self.handler {
            if !t.is_finished() && self.outcome.error_type.is_none() {
                self.outcome.error_type = Some("upstream_reset".into());
            }
        }
        if let (Some(cfg), Some(ex)) = (self.config.clone(), &self.exchange) {
            let o = &self.outcome;
            let known = o.input_tokens.zip(o.output_tokens).map(|(i, out)| i + out);
            // Failed before any answer: refund the estimate; cut short: keep it.
            let stream_started = matches!(self.handler, Some(ResponseHandler::Stream(_)));
            let actual = known.unwrap_or(if stream_started {
                ex.estimated_input_tokens
            } else {
                0
            });
            if let Some((key, decision)) = &self.limit {
                let now = host::now_ms();
                let (start, est) = (decision.window_start_ms, ex.estimated_input_tokens);
                host::shared_update(key, |s| (ratelimit::settle(s, now, start, est, actual), ()));
            }
            if let Some(tenant) = &self.tenant {
                let now = upstream::unix_seconds(host::now());
                let record = usage::Record {
                    model: &ex.canonical_model,
                    input_tokens: o.input_tokens.unwrap_or(0),
                    output_tokens: o.output_tokens.unwrap_or(0),
                    error: o.error_type.is_some(),
                };
                let (window, cap) = (cfg.usage_window_seconds, cfg.max_usage_models_per_tenant);
                host::shared_update(&usage::key(tenant), |s| {
                    (usage::record(s, now, window, cap, &record), ())
                });
            }
        }
        self.publish_log_fields();
        for update in self.outcome.updates() {
            host::metric(&update);
        }
    }
}
