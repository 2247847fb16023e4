//! One request through the filter, as a value: its [`Phase`] and what it has learnt so far.
//! The shell calls one method per Envoy callback and carries out the [`Output`]; every decision
//! (authentication, IAM callers, routing, limits, translation, the answer, accounting) is made
//! here, so the whole life of a request runs under `cargo test`.
//!
//! ```text
//! Head ──► AwaitingSts ──► Buffering ──► Upstream ──► Responding ──► Done
//!   └────────────┴─────────────┴────────────┴─► Replied (the filter answered) ─► Done
//! ```

use std::rc::Rc;

mod answer;
mod fanout;
mod fleet;
#[cfg(test)]
mod tests;

use crate::accounting::metrics::{self, Outcome};
use crate::accounting::ratelimit::{self, Decision, Limits};
use crate::accounting::usage;
use crate::auth::iam::{self, IamCache, Presigned};
use crate::auth::key_source::KeyState;
use crate::config::Config;
use crate::error::ApiError;
use crate::headers::HeaderList;
use crate::pipeline::request::{self, Endpoint, HeadDecision, LocalReply, Prepared, RequestHead};
use crate::pipeline::response::ResponseHandler;
use crate::pipeline::step::{millis, Effect, Host, Output, Reply, Step};
use crate::upstream::sigv4::Credentials;
use crate::upstream::{self, Exchange};

/// Where a request is.
#[derive(Debug)]
enum Phase {
    /// Nothing decided yet.
    Head,
    /// An IAM caller's token is being checked with STS.
    AwaitingSts(StsWait),
    /// Authenticated and routed: the body is being buffered.
    Buffering {
        endpoint: Endpoint,
        model_override: Option<String>,
    },
    /// Translated, signed and sent.
    Upstream(Box<Exchange>),
    /// The filter's own calls (embeddings) are out; the answer is built once all are back.
    FanOut(Box<fanout::FanOut>),
    /// `GET /v1/usage` in fleet mode: the store reads are out.
    AwaitingUsage(Box<fleet::UsageWait>),
    /// Answering: a stream chunk by chunk, or a buffered body at its end. No exchange when
    /// Envoy answered before anything went upstream (its own 413, a timeout).
    Responding(Option<Box<Exchange>>, ResponseHandler),
    /// The filter answered itself (after the exchange, if one went upstream).
    Replied {
        exchange: Option<Box<Exchange>>,
        handler: Option<ResponseHandler>,
    },
    /// `on_log` ran.
    Done,
}

/// The STS call in flight and what happened on the request meanwhile.
#[derive(Debug)]
struct StsWait {
    token: u32,
    bearer: String,
    presigned: Presigned,
    /// The request had no body (end of stream at the headers).
    headers_ended: bool,
    /// The body ended, with this size, while STS was asked.
    body_size: Option<usize>,
}

/// Per-worker state the shell lends to a callback.
pub struct Env<'a> {
    pub host: &'a mut dyn Host,
    /// The key table kept in AWS, when `api_keys_source` is configured.
    pub keys: Option<&'a KeyState>,
    /// This worker's verified IAM callers.
    pub iam_cache: Option<&'a mut IamCache>,
    /// Credentials the root context refreshed, when `credentials_source` is configured.
    pub live: Option<&'a Credentials>,
    /// This worker's fleet writer, when `fleet` is configured ([`crate::fleet`]).
    pub fleet: Option<&'a mut crate::fleet::Fleet>,
}

/// What to do with a caller's IAM token.
enum IamStep {
    NotIam,
    Verified(String),
    Refused(ApiError),
    Asking,
}

/// One request.
#[derive(Debug)]
pub struct Flow {
    /// Envoy's context id: part of a made-up request id and of debug logs.
    id: u32,
    config: Option<Rc<Config>>,
    phase: Phase,
    request_id: String,
    tenant: Option<String>,
    /// The limiter's decision and its bucket, when a limit applies.
    limit: Option<(String, Decision)>,
    /// When the request went upstream (ms since the epoch), for time to first token.
    sent_at_ms: Option<u64>,
    /// Fleet mode: the request was decided without the store (counted in a metric).
    store_unavailable: bool,
    outcome: Outcome,
    /// The request headers as read once; edited, and the changes written back
    /// ([`Effect::RequestHeaders`]) when the translated request goes upstream.
    req: HeaderList,
    /// The response headers as read once; written back at once for a stream, after the body
    /// for a buffered answer ([`Effect::ResponseHeaders`]).
    resp: HeaderList,
}

impl Flow {
    pub fn new(id: u32, config: Option<Rc<Config>>) -> Self {
        Self {
            id,
            config,
            phase: Phase::Head,
            request_id: String::new(),
            tenant: None,
            limit: None,
            sent_at_ms: None,
            store_unavailable: false,
            outcome: Outcome::default(),
            req: HeaderList::default(),
            resp: HeaderList::default(),
        }
    }

    /// The request headers, for the shell to write back after [`Effect::RequestHeaders`].
    pub fn request_headers(&mut self) -> &mut HeaderList {
        &mut self.req
    }

    /// The response headers, for the shell to write back after [`Effect::ResponseHeaders`].
    pub fn response_headers(&mut self) -> &mut HeaderList {
        &mut self.resp
    }

    /// The phase's name, for tests and debug logs.
    pub fn phase(&self) -> &'static str {
        match self.phase {
            Phase::Head => "head",
            Phase::AwaitingSts(_) => "awaiting_sts",
            Phase::Buffering { .. } => "buffering",
            Phase::Upstream(_) => "upstream",
            Phase::FanOut(_) => "fan_out",
            Phase::AwaitingUsage(_) => "awaiting_usage",
            Phase::Responding(..) => "responding",
            Phase::Replied { .. } => "replied",
            Phase::Done => "done",
        }
    }

    // --- request ---------------------------------------------------------------------------

    pub fn on_request_headers(
        &mut self,
        env: &mut Env<'_>,
        headers: HeaderList,
        end_of_stream: bool,
    ) -> Output {
        self.req = headers;
        // Envoy sets x-request-id (keeping a client's with preserve_external_request_id);
        // one that is missing or unsafe is made up and sent upstream.
        let (id, rewrite) = request::request_id(self.req.get("x-request-id"), || {
            format!("{:x}-{:x}", millis(env.host.now()), self.id)
        });
        if rewrite {
            self.req.set("x-request-id", &id);
        }
        self.request_id = id;
        self.outcome.request_id = self.request_id.clone();
        self.outcome.path = self.req.get(":path").map(metrics::log_path);
        let Some(cfg) = self.config.clone() else {
            let e = ApiError::internal("the filter has no valid configuration");
            return self.error(e, &[]);
        };
        match self.iam_step(&cfg, env, end_of_stream) {
            IamStep::NotIam => self.decide_head(&cfg, env, None, end_of_stream),
            IamStep::Verified(tenant) => self.decide_head(&cfg, env, Some(&tenant), end_of_stream),
            IamStep::Refused(e) => self.error(e, &[]),
            IamStep::Asking => Output::new(Step::Pause),
        }
    }

    pub fn on_request_body(
        &mut self,
        env: &mut Env<'_>,
        size: usize,
        end_of_stream: bool,
        read: &mut dyn FnMut() -> Vec<u8>,
    ) -> Output {
        match &mut self.phase {
            Phase::AwaitingUsage(_) => Output::new(Step::Pause),
            Phase::AwaitingSts(wait) => {
                // STS has not answered yet: hold the body; the answer picks it up.
                if end_of_stream {
                    wait.body_size = Some(size);
                }
                Output::new(Step::Pause)
            }
            Phase::Buffering { .. } => {
                let Some(cfg) = self.config.clone() else {
                    return Output::new(Step::Continue);
                };
                if let Err(e) = request::check_body_size(&cfg, size) {
                    return self.error(e, &[]);
                }
                if !end_of_stream {
                    return Output::new(Step::Pause);
                }
                self.finish_body(&cfg, env, &read())
            }
            _ => Output::new(Step::Continue),
        }
    }

    /// An answer to a side call this request dispatched: STS for an IAM caller, or one of
    /// the embedding calls. `headers` are the answer's (`:status` missing when the call
    /// failed: reset, timeout); `read_body` reads the request body buffered so far.
    pub fn on_side_call_answer(
        &mut self,
        env: &mut Env<'_>,
        token: u32,
        headers: &HeaderList,
        body: &[u8],
        read_body: &mut dyn FnMut(usize) -> Vec<u8>,
    ) -> Output {
        if matches!(self.phase, Phase::FanOut(_)) {
            return self.on_fan_out_answer(env, token, headers, body);
        }
        if matches!(self.phase, Phase::AwaitingUsage(_)) {
            return self.on_usage_answer(env, token, headers, body);
        }
        let status = headers.status();
        let ours = matches!(&self.phase, Phase::AwaitingSts(w) if w.token == token);
        let (true, Some(cfg)) = (ours, self.config.clone()) else {
            return Output::new(Step::Pause);
        };
        let Phase::AwaitingSts(wait) = std::mem::replace(&mut self.phase, Phase::Head) else {
            return Output::new(Step::Pause);
        };
        let Some(iam_cfg) = &cfg.iam else {
            return Output::new(Step::Pause);
        };
        let verdict = iam::verdict(iam_cfg, status.unwrap_or(0), body);
        if let Some(cache) = env.iam_cache.as_deref_mut() {
            let now = env.host.now();
            cache.put(iam_cfg, &wait.bearer, &wait.presigned, &verdict, now);
        }
        let tenant = match verdict {
            Ok(t) => t,
            Err(e) => {
                log::info!("#{} IAM caller refused: {}", self.id, e.message);
                return self.error(e, &[]);
            }
        };
        let out = self.decide_head(&cfg, env, Some(&tenant), wait.headers_ended);
        if out.step != Step::Pause || !matches!(self.phase, Phase::Buffering { .. }) {
            return out;
        }
        // Headers are held. If the body is complete, finish it here and let it go; otherwise
        // the body callback finishes it at end of stream.
        match wait.body_size {
            Some(size) => {
                let out = self.finish_body(&cfg, env, &read_body(size));
                match out.step {
                    Step::Continue => out.with(Effect::ResumeRequest),
                    _ => out,
                }
            }
            None => out,
        }
    }

    /// Authenticates and routes (the caller's IAM tenant, if any, is already verified).
    fn decide_head(
        &mut self,
        cfg: &Config,
        env: &mut Env<'_>,
        iam_tenant: Option<&str>,
        end_of_stream: bool,
    ) -> Output {
        let h = &self.req;
        let head = RequestHead {
            method: h.get(":method").unwrap_or_default(),
            path: h.get(":path").unwrap_or_default(),
            authorization: h.get("authorization"),
            content_type: h.get("content-type"),
            content_encoding: h.get("content-encoding"),
            content_length: h
                .get("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok()),
            api_key: h.get("api-key"),
            keys: env.keys,
            iam_tenant,
        };
        let decided = request::on_headers(cfg, &head);
        self.tenant = decided.tenant.map(|t| t.name.clone());
        self.outcome.tenant = self.tenant.clone();
        match decided.decision {
            HeadDecision::Reply(r) => {
                self.outcome.error_type = r.error_type.map(|t| t.as_str().to_string());
                self.reply(r, &[])
            }
            HeadDecision::Usage { tenants } if env.fleet.is_some() => {
                self.fleet_usage(cfg, env, tenants)
            }
            HeadDecision::Usage { tenants } => self.usage_reply(cfg, env, &tenants),
            HeadDecision::ReadBody(_) if end_of_stream => {
                self.error(ApiError::invalid_request("the request has no body"), &[])
            }
            HeadDecision::ReadBody(endpoint) => {
                // Nothing goes upstream before the body is translated.
                self.phase = Phase::Buffering {
                    endpoint,
                    model_override: decided.model_override,
                };
                Output::new(Step::Pause)
            }
        }
    }

    /// Translates and signs the whole buffered body; `Continue` sends it upstream.
    fn finish_body(&mut self, cfg: &Config, env: &mut Env<'_>, body: &[u8]) -> Output {
        let Phase::Buffering {
            endpoint,
            model_override,
        } = std::mem::replace(&mut self.phase, Phase::Head)
        else {
            return Output::new(Step::Continue);
        };
        let Some(tenant) = self.tenant.as_deref().and_then(|t| cfg.tenants.get(t)) else {
            return self.error(ApiError::internal("the caller's tenant is gone"), &[]);
        };
        let now = env.host.now();
        let started = env.host.clock_ns();
        let translated = request::on_body(
            cfg,
            tenant,
            endpoint,
            body,
            model_override.as_deref(),
            now,
            env.live,
        );
        let timing = started
            .zip(env.host.clock_ns())
            .map(|(a, b)| Effect::Timing("2a_core_translate_sign", b.saturating_sub(a)));
        let (up, exchange, limits) = match translated {
            Ok(t) => t,
            Err(e) => return self.error(e, &[]),
        };
        self.outcome.model = Some(exchange.bedrock_model.clone());
        self.outcome.metric_model = Some(cfg.metric_model(&exchange.canonical_model).to_string());
        self.outcome.stream = exchange.stream;
        if let Err(refused) = self.acquire(cfg, env, &exchange, limits) {
            return refused;
        }
        self.sent_at_ms = Some(millis(now));
        let up = match up {
            Prepared::Forward(up) => up,
            Prepared::FanOut(job) => {
                let mut out = self.start_fan_out(env, job, exchange);
                out.effects.extend(timing);
                return out;
            }
        };
        let tenant = self.tenant.as_deref().unwrap_or_default();
        crate::pipeline::bedrock::upstream_head(&mut self.req, cfg, tenant, &up, &exchange);
        log::debug!("#{} → {} {}", self.id, up.authority, up.path);
        self.phase = Phase::Upstream(Box::new(exchange));
        let mut out = Output::new(Step::Continue)
            .with(Effect::RequestBody {
                replaced: body.len(),
                body: up.body,
            })
            .with(Effect::RequestHeaders);
        out.effects.extend(timing);
        out
    }

    /// Admits the request through the limiter: the fleet's counts in fleet mode, else shared
    /// data (failing open if shared data fails). Limits hold per region actually called.
    fn acquire(
        &mut self,
        cfg: &Config,
        env: &mut Env<'_>,
        ex: &Exchange,
        limits: Limits,
    ) -> Result<(), Output> {
        if limits.is_unlimited() {
            return Ok(());
        }
        let tenant = self.tenant.as_deref().unwrap_or_default();
        let region = cfg.region_for(&ex.bedrock_model).0;
        let (now, cost) = (millis(env.host.now()), ex.estimated_input_tokens);
        if let Some(fleet) = env.fleet.as_deref_mut() {
            let key = crate::fleet::dynamo::limit_pk(region, tenant, &ex.canonical_model);
            return self.acquire_in_fleet(fleet, now, key, ex, limits);
        }
        let key = ratelimit::bucket_key(region, tenant, &ex.canonical_model);
        let mut decided = None;
        let stored = env.host.shared_update(&key, &mut |s| {
            let (next, d) = ratelimit::try_acquire(s, limits, now, cost);
            decided = Some(d);
            next
        });
        let (true, Some(decision)) = (stored, decided) else {
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

    // --- local replies ---------------------------------------------------------------------

    fn reply(&mut self, r: LocalReply, extra: &[(String, String)]) -> Output {
        log::debug!("#{} local reply {}", self.id, r.status);
        let mut headers = HeaderList::from_pairs([("content-type", r.content_type)]);
        for (k, v) in extra {
            headers.set(k, v);
        }
        headers.set("x-request-id", &self.request_id);
        self.replied(None);
        Output::new(Step::Reply(Reply {
            status: r.status,
            headers,
            body: r.body,
        }))
    }

    /// The phase after a local reply, keeping an exchange that went upstream.
    fn replied(&mut self, handler: Option<ResponseHandler>) {
        let exchange = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Upstream(ex) => Some(ex),
            Phase::FanOut(f) => Some(Box::new(f.exchange)),
            Phase::Responding(ex, _) => ex,
            Phase::Replied { exchange, .. } => exchange,
            _ => None,
        };
        self.phase = Phase::Replied { exchange, handler };
    }

    fn error(&mut self, e: ApiError, extra: &[(String, String)]) -> Output {
        self.outcome.error_type = Some(e.kind.as_str().to_string());
        self.reply(e.into(), extra)
    }

    fn usage_reply(&mut self, cfg: &Config, env: &mut Env<'_>, tenants: &[String]) -> Output {
        let stored: Vec<(&str, Option<Vec<u8>>)> = tenants
            .iter()
            .map(|t| (t.as_str(), env.host.shared_get(&usage::key(t))))
            .collect();
        let now = upstream::unix_seconds(env.host.now());
        let body = usage::report(&stored, now, cfg.usage_window_seconds);
        let ok = LocalReply {
            status: 200,
            content_type: "application/json",
            body,
            error_type: None,
        };
        self.reply(ok, &[])
    }

    // --- IAM callers -----------------------------------------------------------------------

    /// An IAM bearer token: its shape, then this worker's cache, else an STS call.
    fn iam_step(&mut self, cfg: &Config, env: &mut Env<'_>, end_of_stream: bool) -> IamStep {
        let Some(iam_cfg) = &cfg.iam else {
            return IamStep::NotIam;
        };
        let Some(bearer) = iam::token_of(self.req.get("authorization")).map(str::to_string) else {
            return IamStep::NotIam;
        };
        let now = env.host.now();
        let presigned = match iam::validate(iam_cfg, &bearer, now) {
            Ok(p) => p,
            Err(e) => return IamStep::Refused(e),
        };
        match env.iam_cache.as_deref().and_then(|c| c.get(&bearer, now)) {
            Some(Ok(tenant)) => return IamStep::Verified(tenant),
            Some(Err(e)) => return IamStep::Refused(e),
            None => {}
        }
        let call = iam::sts_call(iam_cfg, &presigned);
        let Some(token) = env.host.dispatch(&call) else {
            return IamStep::Refused(ApiError::service_unavailable(format!(
                "The IAM token could not be verified: cluster `{}` is not reachable.",
                call.cluster
            )));
        };
        log::debug!(
            "#{} verifying IAM caller {} with STS",
            self.id,
            presigned.access_key_id
        );
        self.phase = Phase::AwaitingSts(StsWait {
            token,
            bearer,
            presigned,
            headers_ended: end_of_stream,
            body_size: None,
        });
        IamStep::Asking
    }
}
