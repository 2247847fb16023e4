//! The filter configuration as Envoy hands it to the module once, on the main thread, and as
//! each worker uses it: parsed again per worker (the core's `Config` is `Rc`, as in the Wasm
//! shell where every worker has its own VM), keyed by the configuration's generation so a
//! reloaded configuration is never mistaken for the old one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::host::MetricDefs;
use crate::auth::iam::IamCache;
use crate::config::Config;

/// What the module keeps for one `filter_config`; shared by every worker (read-only).
pub struct ModuleConfig {
    pub generation: u64,
    pub json: Vec<u8>,
    pub metrics: MetricDefs,
}

impl ModuleConfig {
    /// Checks the configuration once (the log names the bad field) and keeps its bytes.
    pub fn new(json: &[u8], metrics: MetricDefs) -> Option<Self> {
        match Config::parse(json, &env) {
            Ok(cfg) => {
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
                log::info!("the dynamic-module build sends no usage trailers (Envoy's ABI cannot add them); the usage is in the stream's last chunk");
                for missing in unsupported(&cfg) {
                    log::warn!(
                        "the dynamic module does not support `{missing}` yet: it is ignored"
                    );
                }
                static GENERATION: AtomicU64 = AtomicU64::new(1);
                Some(Self {
                    generation: GENERATION.fetch_add(1, Ordering::Relaxed),
                    json: json.to_vec(),
                    metrics,
                })
            }
            Err(e) => {
                log::error!("{e}");
                None
            }
        }
    }
}

/// The process environment, for `${VAR}` references (the Wasm shell sees only the variables
/// its `vm_config` lists).
fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Settings that need the Wasm root context's timer, which the native shell does not have yet.
fn unsupported(cfg: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if matches!(
        cfg.upstream,
        crate::upstream::Upstream::Aws(crate::upstream::AwsAuth::Refreshed(_))
    ) {
        out.push("credentials_source");
    }
    if cfg.key_source.is_some() {
        out.push("api_keys_source");
    }
    if cfg.fleet.is_some() {
        out.push("fleet");
    }
    out
}

/// This worker's copies: parsed configurations and verified IAM callers, by generation. A
/// reloaded configuration leaves its old entry behind (one per reload and worker).
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
