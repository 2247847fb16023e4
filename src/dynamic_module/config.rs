//! The filter configuration as Envoy hands it to the module once, on the main thread, and as
//! each worker uses it: parsed again per worker (a request's `Flow` holds an `Rc<Config>`, as
//! in the Wasm shell where every worker has its own VM), keyed by the configuration's
//! generation so a reloaded configuration is never mistaken for the old one. The root's state
//! ([`super::root`]) lives here too: its shared part read by every worker, its main-thread
//! part behind a lock only the main thread takes.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::abi::HttpFilterConfigEnvoyPtr;
use super::host::MetricDefs;
use super::root::{Root, Shared};
use super::ticker::{self, Ticker};
use crate::auth::iam::IamCache;
use crate::config::Config;
use crate::headers::HeaderList;

/// What the module keeps for one `filter_config`, shared by every worker.
pub struct ModuleConfig {
    pub generation: u64,
    pub json: Vec<u8>,
    pub metrics: MetricDefs,
    /// Credentials, key table and fleet writer: written by the root, read by requests.
    pub shared: Shared,
    /// Only the main thread locks it (ticks, root side calls, destroy).
    root: Mutex<Root>,
    /// Commits the root's ticks; stopped and joined when the configuration is dropped.
    ticker: Option<Ticker>,
}

// Every worker reads the configuration and the main thread writes its root: it must be
// shareable across threads, which this checks at compile time.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<ModuleConfig>();
};

impl ModuleConfig {
    /// Checks the configuration once (the log names the bad field), keeps its bytes and starts
    /// the root's ticker when something needs it.
    pub fn new(envoy: HttpFilterConfigEnvoyPtr, json: &[u8], metrics: MetricDefs) -> Option<Self> {
        let cfg = match Config::parse(json, &env) {
            Ok(cfg) => cfg,
            Err(e) => {
                log::error!("{e}");
                return None;
            }
        };
        log::info!(
            "bedrock-openai dynamic module configured: {} upstream, region {}, {} tenant(s), {} model(s)",
            cfg.upstream.mode(),
            cfg.region,
            cfg.tenants.tenants().len(),
            cfg.catalog.entries().len()
        );
        for warning in &cfg.warnings {
            log::warn!("{warning}");
        }
        warn_no_trailers();
        let shared = Shared::new(&cfg);
        let ticker = shared
            .tick_period(&cfg)
            .and_then(|period| Ticker::start(envoy, period));
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        live().insert(generation);
        Some(Self {
            generation,
            json: json.to_vec(),
            metrics,
            shared,
            root: Mutex::new(Root::new(cfg)),
            ticker,
        })
    }

    /// Runs `f` on the root, unless the main thread already holds it (a hook re-entered from
    /// inside a dispatch): then this event is dropped rather than deadlock the main thread.
    fn with_root(&self, f: impl FnOnce(&mut Root)) {
        match self.root.try_lock() {
            Ok(mut root) => f(&mut root),
            Err(std::sync::TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                log::warn!("root busy: a tick or side-call answer was dropped")
            }
        }
    }

    /// A scheduled event of the root (main thread): [`ticker::START`] or [`ticker::TICK`].
    pub fn on_scheduled(&self, envoy: HttpFilterConfigEnvoyPtr, event: u64) {
        match event {
            ticker::START => self.with_root(|root| root.start(envoy, &self.shared)),
            ticker::TICK => self.with_root(|root| root.tick(envoy, &self.shared)),
            _ => {}
        }
    }

    /// The answer to one of the root's side calls (main thread).
    pub fn on_answer(
        &self,
        envoy: HttpFilterConfigEnvoyPtr,
        id: u64,
        headers: &HeaderList,
        body: &[u8],
    ) {
        self.with_root(|root| root.on_answer(envoy, &self.shared, id, headers, body));
    }

    /// Envoy is destroying the configuration (a reload, or shutdown): no tick after this.
    pub fn shutdown(&mut self) {
        self.ticker = None;
        self.with_root(|root| root.shutdown(&self.shared));
    }
}

/// Envoy's dynamic-module ABI adds a trailer only to a response that already has trailers
/// (`add_header` on the response trailers returns false otherwise), and a Bedrock stream
/// has none: so a stream's usage trailers are not sent by this build. Said once per process.
fn warn_no_trailers() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        log::warn!("the dynamic module cannot add response trailers (Envoy's ABI cannot create them): streams carry no usage trailers; usage is in the final chunk (stream_options.include_usage), /v1/usage and the metrics");
    }
}

impl Drop for ModuleConfig {
    /// Workers drop their copies of a destroyed configuration at their next new one.
    fn drop(&mut self) {
        live().remove(&self.generation);
    }
}

/// The generations of the configurations Envoy has not destroyed yet.
fn live() -> std::sync::MutexGuard<'static, BTreeSet<u64>> {
    static LIVE: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The process environment, for `${VAR}` references (the Wasm shell sees only the variables
/// its `vm_config` lists).
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// This worker's copies: parsed configurations and verified IAM callers, by generation. The
/// copies of destroyed configurations are dropped when the worker parses a new one (a request
/// still running on an old one keeps its own `Rc`).
#[derive(Default)]
pub struct Worker {
    configs: HashMap<u64, Rc<Config>>,
    iam: HashMap<u64, IamCache>,
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::default();
}

impl Worker {
    /// `config` parsed for this worker (once).
    pub fn config(config: &ModuleConfig) -> Option<Rc<Config>> {
        WORKER.with(|w| {
            let mut w = w.try_borrow_mut().ok()?;
            if let Some(c) = w.configs.get(&config.generation) {
                return Some(c.clone());
            }
            let parsed = Rc::new(Config::parse(&config.json, &env).ok()?);
            let live = live();
            w.configs.retain(|g, _| live.contains(g));
            w.iam.retain(|g, _| live.contains(g));
            w.configs.insert(config.generation, parsed.clone());
            Some(parsed)
        })
    }

    /// Runs `f` with this worker's IAM cache for `generation`.
    pub fn with_iam_cache<T>(generation: u64, f: impl FnOnce(Option<&mut IamCache>) -> T) -> T {
        WORKER.with(|w| match w.try_borrow_mut() {
            Ok(mut w) => f(Some(w.iam.entry(generation).or_default())),
            Err(_) => f(None),
        })
    }
}
