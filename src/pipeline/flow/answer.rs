//! The response half of a [`Flow`]: Bedrock's head and body (or Envoy's own answer) turned
//! into the client's, and the request's accounting once it is over.

use super::{Env, Flow, Phase};
use crate::accounting::ratelimit;
use crate::accounting::usage;
use crate::headers::HeaderList;
use crate::pipeline::response::{self, ResponseHandler, ResponseHead};
use crate::pipeline::step::{millis, Effect, Output, Reply, Step};
use crate::upstream;

impl Flow {
    pub fn on_response_headers(
        &mut self,
        env: &mut Env<'_>,
        headers: HeaderList,
        end_of_stream: bool,
    ) -> Output {
        if matches!(self.phase, Phase::Replied { .. } | Phase::Done) {
            // The filter's own reply passing through.
            return Output::new(Step::Continue);
        }
        self.resp = headers;
        let status = self.resp.status().unwrap_or(502);
        let Phase::Upstream(exchange) = std::mem::replace(&mut self.phase, Phase::Done) else {
            // Envoy answered before anything went upstream (its own 413, a timeout while the
            // body was buffered): still an OpenAI error, written back with its body.
            self.phase = Phase::Head;
            let content_type = self.resp.get("content-type");
            let Some(handler) = response::envoy_local_reply(status, content_type) else {
                return Output::new(Step::Continue);
            };
            self.resp.remove("content-length");
            self.resp.set("x-request-id", &self.request_id);
            self.phase = Phase::Responding(None, handler);
            return Output::new(Step::Pause);
        };
        let h = &mut self.resp;
        let id = exchange.response_id(h.get("x-amzn-requestid").unwrap_or(&self.request_id));
        let head = ResponseHead {
            status,
            content_type: h.get("content-type"),
            error_type: h.get("x-amzn-errortype"),
        };
        let now = upstream::unix_seconds(env.host.now());
        let handler = ResponseHandler::new(&exchange, &head, id, now);
        let limit_headers = self.limit.as_ref().map(|(_, d)| d.headers());
        let limit_headers = limit_headers.unwrap_or_default();
        response::downstream_head(h, &exchange, &self.request_id, &limit_headers);
        if end_of_stream {
            // No body will follow, so no body callback either: answer in full now.
            let f = handler.finish_buffered(&[]);
            self.outcome.error_type = f.error_type.map(|t| t.as_str().to_string());
            self.outcome.stop_reason = f.stop_reason.clone();
            let mut headers = HeaderList::from_pairs([("content-type", "application/json")]);
            for (k, v) in &limit_headers {
                headers.set(k, v);
            }
            headers.set("x-request-id", &self.request_id);
            if f.status == 429 {
                headers.set("retry-after", response::UPSTREAM_RETRY_AFTER);
            }
            self.phase = Phase::Upstream(exchange);
            self.replied(Some(handler));
            return Output::new(Step::Reply(Reply {
                status: f.status,
                headers,
                body: f.body,
            }));
        }
        if handler.is_buffered() {
            // Hold the head: status and content-length are known only once the body is.
            self.phase = Phase::Responding(Some(exchange), handler);
            return Output::new(Step::Pause);
        }
        h.set("content-type", "text/event-stream");
        h.set("cache-control", "no-cache");
        self.phase = Phase::Responding(Some(exchange), handler);
        Output::new(Step::Continue).with(Effect::ResponseHeaders)
    }

    pub fn on_response_body(
        &mut self,
        env: &mut Env<'_>,
        end_of_stream: bool,
        read: &mut dyn FnMut() -> Vec<u8>,
    ) -> Output {
        let started = env.host.clock_ns();
        let out = match &mut self.phase {
            Phase::Responding(_, ResponseHandler::Stream(_)) => {
                self.stream_chunk(end_of_stream, &read())
            }
            Phase::Responding(..) if !end_of_stream => return Output::new(Step::Pause),
            Phase::Responding(..) => self.buffered_body(&read()),
            _ => return Output::new(Step::Continue),
        };
        let timing = started
            .zip(env.host.clock_ns())
            .map(|(a, b)| Effect::Timing("4a_core_translate", b.saturating_sub(a)));
        // The clock is read for the first bytes to the client only.
        let first = self.outcome.time_to_first_token_ms.is_none()
            && out
                .effects
                .iter()
                .any(|e| matches!(e, Effect::ResponseBody { body, .. } if !body.is_empty()));
        if let (true, Some(sent)) = (first, self.sent_at_ms) {
            let now_ms = millis(env.host.now());
            self.outcome.time_to_first_token_ms = Some(now_ms.saturating_sub(sent));
        }
        let mut out = out;
        out.effects.extend(timing);
        out
    }

    /// One chunk of an event stream → SSE; at its end, usage as trailers.
    fn stream_chunk(&mut self, end_of_stream: bool, chunk: &[u8]) -> Output {
        let Phase::Responding(_, ResponseHandler::Stream(translator)) = &mut self.phase else {
            return Output::new(Step::Continue);
        };
        let mut sse = translator.feed(chunk);
        if end_of_stream {
            sse.extend(translator.finish());
        }
        let usage = translator.usage();
        if end_of_stream || translator.is_finished() {
            self.outcome.tokens = usage;
            self.outcome.stop_reason = translator.stop_reason().map(str::to_string);
            self.outcome.error_type = translator.error_type().map(|t| t.as_str().to_string());
        }
        // Whether the client's last chunk carried a usage block, the stream's totals travel
        // as trailers (HTTP/1.1 clients see them when the listener enables trailers).
        let mut out = Output::new(Step::Continue).with(Effect::ResponseBody {
            replaced: chunk.len(),
            body: sse,
        });
        if let (true, Some(usage)) = (end_of_stream, usage) {
            let mut trailers = HeaderList::default();
            for (k, v) in usage.headers() {
                trailers.set(k, &v);
            }
            if let Some(action) = translator.guardrail_action() {
                trailers.set("x-bedrock-guardrail-action", action);
            }
            out = out.with(Effect::Trailers(trailers));
        }
        out
    }

    /// The whole buffered answer → the client's, with its status and length.
    fn buffered_body(&mut self, body: &[u8]) -> Output {
        let Phase::Responding(_, handler) = &self.phase else {
            return Output::new(Step::Continue);
        };
        let f = handler.finish_buffered(body);
        let h = &mut self.resp;
        h.set(":status", &f.status.to_string());
        h.set("content-type", "application/json");
        h.set("content-length", &f.body.len().to_string());
        if f.status == 429 && h.get("retry-after").is_none() {
            h.set("retry-after", response::UPSTREAM_RETRY_AFTER);
        }
        for (k, v) in f.usage.iter().flat_map(|u| u.headers()) {
            h.set(k, &v);
        }
        if let Some(action) = f.guardrail_action {
            h.set("x-bedrock-guardrail-action", action);
        }
        self.outcome.tokens = f.usage;
        self.outcome.stop_reason = f.stop_reason;
        self.outcome.error_type = f.error_type.map(|t| t.as_str().to_string());
        Output::new(Step::Continue)
            .with(Effect::ResponseHeaders)
            .with(Effect::ResponseBody {
                replaced: body.len(),
                body: f.body,
            })
    }

    /// Once per request, whatever happened (also after a reset): settle the limiter, add
    /// to the tenant's usage, then the access-log fields and metrics to write.
    pub fn on_log(&mut self, env: &mut Env<'_>) -> Vec<Effect> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        let (exchange, handler) = match phase {
            Phase::Upstream(ex) => (Some(ex), None),
            // The client went away mid-fan-out: what came back is counted.
            Phase::FanOut(f) => (Some(Box::new(f.exchange)), None),
            Phase::Responding(ex, h) => (ex, Some(h)),
            Phase::Replied { exchange, handler } => (exchange, handler),
            _ => (None, None),
        };
        let stream = match &handler {
            Some(ResponseHandler::Stream(t)) => Some(t.is_finished()),
            _ => None,
        };
        if stream == Some(false) && self.outcome.error_type.is_none() {
            self.outcome.error_type = Some("upstream_reset".into());
        }
        if let (Some(cfg), Some(ex)) = (self.config.clone(), exchange) {
            let o = &self.outcome;
            let tenant = self.tenant.as_deref().and_then(|t| cfg.tenants.get(t));
            let weights = tenant.map_or(cfg.token_weights, |t| t.token_weights);
            // What Bedrock reported, cache reads and writes weighted; failed before any
            // answer: refund the estimate; cut short: keep it.
            let known = o.tokens.map(|t| weights.cost(&t));
            let fallback = if stream.is_some() {
                ex.estimated_input_tokens
            } else {
                0
            };
            let actual = known.unwrap_or(fallback);
            if let Some(fleet) = env.fleet.as_deref_mut() {
                let now = env.host.now();
                self.account_in_fleet(fleet, &cfg, &ex, now, (ex.estimated_input_tokens, actual));
            } else {
                self.account_in_shared_data(&cfg, env, &ex, actual);
            }
        }
        // Envoy runs the Wasm log callback before the connection manager's access logs,
        // which read these fields.
        let fields = self.outcome.log_fields().into_iter();
        let mut effects: Vec<Effect> = fields.map(|(k, v)| Effect::LogField(k, v)).collect();
        effects.push(Effect::Metrics(self.outcome.metrics()));
        if self.store_unavailable {
            effects.push(super::fleet::unavailable_metric());
        }
        effects
    }

    /// Single-instance mode: settle the limiter and add to the tenant's usage in shared data.
    fn account_in_shared_data(
        &self,
        cfg: &crate::config::Config,
        env: &mut Env<'_>,
        ex: &crate::upstream::Exchange,
        actual: u64,
    ) {
        let o = &self.outcome;
        if let Some((key, decision)) = &self.limit {
            let now = millis(env.host.now());
            let (start, est) = (decision.window_start_ms, ex.estimated_input_tokens);
            env.host
                .shared_update(key, &mut |s| ratelimit::settle(s, now, start, est, actual));
        }
        if let Some(tenant) = &self.tenant {
            let now = upstream::unix_seconds(env.host.now());
            let record = usage::Record {
                model: &ex.canonical_model,
                tokens: o.tokens.unwrap_or_default(),
                error: o.error_type.is_some(),
            };
            let (window, cap) = (cfg.usage_window_seconds, cfg.max_usage_models_per_tenant);
            env.host.shared_update(&usage::key(tenant), &mut |s| {
                usage::record(s, now, window, cap, &record)
            });
        }
    }
}
