//! Per-request context: hands each Envoy callback to the core's [`Flow`] and carries out the
//! [`Output`]: the step (continue, pause, a local reply) and the effects (headers, bodies,
//! trailers, metrics, log fields). No decision is made here.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::SystemTime;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};

use super::fleet::SharedFleet;
use super::host;
use super::keys::SharedKeys;
use super::timing;
use crate::auth::iam::IamCache;
use crate::config::Config;
use crate::pipeline::{Effect, Env, Flow, Host, Output, Step};
use crate::upstream::credentials::Refresher;
use crate::upstream::side_call::SideCall;

const REQ: MapType = MapType::HttpRequestHeaders;
const RESP: MapType = MapType::HttpResponseHeaders;
const TRAILERS: MapType = MapType::HttpResponseTrailers;

/// This worker's verified IAM tokens.
pub type SharedIamCache = Rc<RefCell<IamCache>>;

pub struct Http {
    flow: Flow,
    refresher: Option<Rc<RefCell<Refresher>>>,
    /// This worker's key table kept in AWS, when `api_keys_source` is configured.
    keys: Option<SharedKeys>,
    iam_cache: SharedIamCache,
    fleet: Option<SharedFleet>,
}

/// The host calls the core needs answers from, for one callback.
#[derive(Default)]
struct EnvoyHost {
    /// The clock, read once per callback: the core may ask several times (signing, the
    /// limiter, usage), and microseconds apart the answers would differ in nothing it uses.
    now: Cell<Option<SystemTime>>,
}

impl Host for EnvoyHost {
    fn now(&self) -> SystemTime {
        if let Some(t) = self.now.get() {
            return t;
        }
        let t = host::now();
        self.now.set(Some(t));
        t
    }

    fn clock_ns(&self) -> Option<u64> {
        timing::clock_ns()
    }

    fn shared_get(&self, key: &str) -> Option<Vec<u8>> {
        timing::phase("x_shared_data", || host::shared_get(key))
    }

    fn shared_update(&mut self, key: &str, f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> bool {
        timing::phase("x_shared_data", || {
            host::shared_update(key, |s| (f(s), ())).is_some()
        })
    }

    fn dispatch(&mut self, call: &SideCall) -> Option<u32> {
        host::dispatch(call)
    }
}

impl Http {
    pub fn new(
        id: u32,
        config: Option<Rc<Config>>,
        refresher: Option<Rc<RefCell<Refresher>>>,
    ) -> Self {
        Self {
            flow: Flow::new(id, config),
            refresher,
            keys: None,
            iam_cache: SharedIamCache::default(),
            fleet: None,
        }
    }

    pub fn with_fleet(mut self, fleet: Option<SharedFleet>) -> Self {
        self.fleet = fleet;
        self
    }

    pub fn with_keys(mut self, keys: Option<SharedKeys>) -> Self {
        self.keys = keys;
        self
    }

    pub fn with_iam_cache(mut self, cache: SharedIamCache) -> Self {
        self.iam_cache = cache;
        self
    }

    /// Runs `f` with the per-worker state lent to the core.
    fn with_env<T>(&mut self, f: impl FnOnce(&mut Flow, &mut Env<'_>) -> T) -> T {
        let mut envoy = EnvoyHost::default();
        let live = self
            .refresher
            .as_ref()
            .and_then(|r| r.try_borrow().ok()?.current(envoy.now()).cloned());
        let keys = self.keys.as_ref().and_then(|k| k.try_borrow().ok());
        let mut cache = self.iam_cache.try_borrow_mut().ok();
        let mut fleet = self.fleet.as_ref().and_then(|f| f.try_borrow_mut().ok());
        let mut env = Env {
            host: &mut envoy,
            keys: keys.as_deref(),
            iam_cache: cache.as_deref_mut(),
            live: live.as_ref(),
            fleet: fleet.as_deref_mut(),
        };
        f(&mut self.flow, &mut env)
    }

    /// Carries out a callback's output; returns what Envoy is told.
    fn apply(&mut self, out: Output) -> Action {
        let mut resume = false;
        for effect in out.effects {
            let flow = &mut self.flow;
            match effect {
                Effect::RequestHeaders => timing::phase("x_write_headers", || {
                    host::write_headers(REQ, flow.request_headers())
                }),
                Effect::ResponseHeaders => timing::phase("x_write_headers", || {
                    host::write_headers(RESP, flow.response_headers())
                }),
                Effect::RequestBody { replaced, body } => timing::phase("x_set_body", || {
                    host::replace_body(BufferType::HttpRequestBody, replaced, &body)
                }),
                Effect::ResponseBody { replaced, body } => timing::phase("x_set_body", || {
                    host::replace_body(BufferType::HttpResponseBody, replaced, &body)
                }),
                Effect::Trailers(trailers) => host::add_headers(TRAILERS, &trailers),
                Effect::ResumeRequest => resume = true,
                Effect::Metrics(metrics) => timing::phase("x_metrics", || host::metrics(&metrics)),
                Effect::Metric(update) => host::metric(&update),
                Effect::LogField(name, value) => {
                    timing::phase("x_log_fields", || host::set_property(name, &value))
                }
                Effect::Timing(label, ns) => timing::record(label, ns),
            }
        }
        let action = match out.step {
            Step::Continue => Action::Continue,
            Step::Pause => Action::Pause,
            Step::Reply(r) => {
                host::reply(r.status, &r.headers, &r.body);
                Action::Pause
            }
        };
        if resume {
            host::resume_request();
        }
        action
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, n_headers: usize, body_size: usize, _: usize) {
        let headers = host::call_response_headers(n_headers);
        let body = host::call_response_body(body_size);
        let mut read = |size: usize| host::body(BufferType::HttpRequestBody, size);
        let out = self
            .with_env(|flow, env| flow.on_side_call_answer(env, token, &headers, &body, &mut read));
        self.apply(out);
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        timing::phase("1_request_headers", || {
            let headers = timing::phase("x_get_headers", || host::headers(REQ));
            let out =
                self.with_env(|flow, env| flow.on_request_headers(env, headers, end_of_stream));
            self.apply(out)
        })
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        timing::phase("2_request_body", || {
            let mut read = || {
                timing::phase("x_get_body", || {
                    host::body(BufferType::HttpRequestBody, size)
                })
            };
            let out = self
                .with_env(|flow, env| flow.on_request_body(env, size, end_of_stream, &mut read));
            self.apply(out)
        })
    }

    fn on_http_response_headers(&mut self, _n: usize, end_of_stream: bool) -> Action {
        timing::phase("3_response_headers", || {
            let headers = timing::phase("x_get_headers", || host::headers(RESP));
            let out =
                self.with_env(|flow, env| flow.on_response_headers(env, headers, end_of_stream));
            self.apply(out)
        })
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        timing::phase("4_response_body", || {
            let mut read = || {
                timing::phase("x_get_body", || {
                    host::body(BufferType::HttpResponseBody, size)
                })
            };
            let out =
                self.with_env(|flow, env| flow.on_response_body(env, end_of_stream, &mut read));
            self.apply(out)
        })
    }

    fn on_log(&mut self) {
        timing::phase("5_log", || {
            let effects = self.with_env(|flow, env| flow.on_log(env));
            self.apply(Output {
                step: Step::Continue,
                effects,
            });
        });
        timing::request_done();
    }
}
