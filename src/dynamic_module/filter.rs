//! One request: hands each hook to the core's [`Flow`] and carries out its [`Output`], as
//! `src/filter/http.rs` does for the Wasm shell. No decision is made here.

use std::time::SystemTime;

use super::config::{ModuleConfig, Worker};
use super::host::{self, Direction, FilterPtr};
use super::shared;
use super::timing;
use crate::headers::HeaderList;
use crate::pipeline::{Effect, Env, Flow, Host, Output, Step};
use crate::upstream::side_call::SideCall;

/// What Envoy is told after a callback, in the callback's own status codes.
pub enum Verdict {
    Continue,
    /// Hold the headers, or buffer the body.
    Hold,
    /// The filter answered; nothing more goes on.
    Replied,
}

pub struct Filter {
    envoy: FilterPtr,
    config: *const ModuleConfig,
    flow: Flow,
}

/// The host calls the core needs answers from.
struct NativeHost {
    envoy: FilterPtr,
    now: SystemTime,
}

impl Host for NativeHost {
    fn now(&self) -> SystemTime {
        self.now
    }

    fn clock_ns(&self) -> Option<u64> {
        timing::clock_ns()
    }

    fn shared_get(&self, key: &str) -> Option<Vec<u8>> {
        timing::phase("x_shared_data", || shared::get(key))
    }

    fn shared_update(&mut self, key: &str, f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> bool {
        timing::phase("x_shared_data", || shared::update(key, f));
        true
    }

    fn dispatch(&mut self, call: &SideCall) -> Option<u32> {
        host::callout(self.envoy, call).and_then(|id| u32::try_from(id).ok())
    }
}

impl Filter {
    /// # Safety
    /// `config` must outlive the filter (Envoy keeps the filter config alive while any of
    /// its filters lives).
    pub unsafe fn new(config: *const ModuleConfig, envoy: FilterPtr, id: u32) -> Self {
        // SAFETY: the caller's contract.
        let cfg = unsafe { config.as_ref() }.and_then(Worker::config);
        Self {
            envoy,
            config,
            flow: Flow::new(id, cfg),
        }
    }

    fn module_config(&self) -> Option<&ModuleConfig> {
        // SAFETY: see `new`.
        unsafe { self.config.as_ref() }
    }

    /// Runs `f` with this worker's state lent to the core.
    /// `fleet`: the callback may use the fleet writer (admission, `/v1/usage`, accounting), so
    /// its lock is taken; the answer's callbacks never do, and run without it.
    fn with_env<T>(&mut self, fleet: bool, f: impl FnOnce(&mut Flow, &mut Env<'_>) -> T) -> T {
        let mut native = NativeHost {
            envoy: self.envoy,
            now: SystemTime::now(),
        };
        let config = self.config;
        // SAFETY: see `new`; the reference does not outlive this call.
        let shared = unsafe { config.as_ref() }.map(|c| (c.generation, &c.shared));
        let generation = shared.map_or(0, |(g, _)| g);
        let live = shared.and_then(|(_, s)| s.live(native.now));
        let keys = shared.and_then(|(_, s)| s.keys());
        let mut fleet = shared.filter(|_| fleet).and_then(|(_, s)| s.fleet());
        let flow = &mut self.flow;
        Worker::with_iam_cache(generation, |cache| {
            let mut env = Env {
                host: &mut native,
                keys: keys.as_deref(),
                iam_cache: cache,
                live: live.as_ref(),
                fleet: fleet.as_deref_mut(),
            };
            f(flow, &mut env)
        })
    }

    /// Carries out a callback's output; `in_body_hook`: Envoy is in a body hook, where the
    /// chunk just received is part of the body to replace.
    fn apply(&mut self, out: Output, in_body_hook: bool) -> Verdict {
        let envoy = self.envoy;
        let mut resume = false;
        for effect in out.effects {
            match effect {
                Effect::RequestHeaders => {
                    host::write_headers(envoy, Direction::Request, self.flow.request_headers())
                }
                Effect::ResponseHeaders => {
                    host::write_headers(envoy, Direction::Response, self.flow.response_headers())
                }
                Effect::RequestBody { body, .. } => {
                    host::replace_body(envoy, Direction::Request, &body, in_body_hook)
                }
                Effect::ResponseBody { body, .. } => {
                    host::replace_body(envoy, Direction::Response, &body, in_body_hook)
                }
                Effect::Trailers(trailers) => host::add_trailers(envoy, &trailers),
                Effect::ResumeRequest => resume = true,
                Effect::Metrics(metrics) => {
                    if let Some(cfg) = self.module_config() {
                        host::metrics(envoy, &cfg.metrics, &metrics);
                    }
                }
                Effect::Metric(update) => {
                    if let Some(cfg) = self.module_config() {
                        host::metric(envoy, &cfg.metrics, &update);
                    }
                }
                Effect::Timing(label, ns) => timing::record(label, ns),
                Effect::LogField(name, value) => host::set_log_field(envoy, name, &value),
            }
        }
        let verdict = match out.step {
            Step::Continue => Verdict::Continue,
            Step::Pause => Verdict::Hold,
            Step::Reply(r) => {
                host::reply(envoy, r.status, &r.headers, &r.body);
                Verdict::Replied
            }
        };
        if resume {
            host::resume_request(envoy);
        }
        verdict
    }

    pub fn on_request_headers(&mut self, end_of_stream: bool) -> Verdict {
        timing::phase("1_request_headers", || {
            let headers = host::headers(self.envoy, Direction::Request);
            let out = self.with_env(true, |flow, env| {
                flow.on_request_headers(env, headers, end_of_stream)
            });
            self.apply(out, false)
        })
    }

    pub fn on_request_body(&mut self, end_of_stream: bool) -> Verdict {
        timing::phase("2_request_body", || self.request_body(end_of_stream))
    }

    fn request_body(&mut self, end_of_stream: bool) -> Verdict {
        let envoy = self.envoy;
        let size = host::body_size(envoy, Direction::Request);
        let mut read = || host::body(envoy, Direction::Request);
        let out = self.with_env(true, |flow, env| {
            flow.on_request_body(env, size, end_of_stream, &mut read)
        });
        self.apply(out, true)
    }

    pub fn on_response_headers(&mut self, end_of_stream: bool) -> Verdict {
        timing::phase("3_response_headers", || {
            let headers = host::headers(self.envoy, Direction::Response);
            let out = self.with_env(false, |flow, env| {
                flow.on_response_headers(env, headers, end_of_stream)
            });
            self.apply(out, false)
        })
    }

    pub fn on_response_body(&mut self, end_of_stream: bool) -> Verdict {
        timing::phase("4_response_body", || self.response_body(end_of_stream))
    }

    fn response_body(&mut self, end_of_stream: bool) -> Verdict {
        let envoy = self.envoy;
        let mut read = || host::body(envoy, Direction::Response);
        let out = self.with_env(false, |flow, env| {
            flow.on_response_body(env, end_of_stream, &mut read)
        });
        self.apply(out, true)
    }

    /// A side call's answer: `headers` empty when it failed (reset, timeout).
    pub fn on_callout_done(&mut self, id: u64, headers: &HeaderList, body: &[u8]) {
        let envoy = self.envoy;
        let token = u32::try_from(id).unwrap_or(u32::MAX);
        let mut read = |_size: usize| host::buffered_body(envoy, Direction::Request);
        let out = self.with_env(true, |flow, env| {
            flow.on_side_call_answer(env, token, headers, body, &mut read)
        });
        self.apply(out, false);
    }

    pub fn on_stream_complete(&mut self) {
        timing::phase("5_log", || {
            let effects = self.with_env(true, |flow, env| flow.on_log(env));
            let out = Output {
                step: Step::Continue,
                effects,
            };
            self.apply(out, false);
        });
        timing::request_done();
    }
}
