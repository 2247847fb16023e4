//! Root context: parse the plugin configuration once and hand it to every request; with a
//! credentials source, run the refresh timer (the decisions are [`Refresher`]'s).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::fleet::FleetShell;
use super::host;
use super::http::{Http, SharedIamCache};
use super::keys::Refresher as KeyRefresher;
use crate::config::Config;
use crate::upstream::credentials::Refresher;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::Credentials;
use crate::upstream::{AwsAuth, Upstream};

/// How often the root context checks whether credentials are due for a refresh.
const TICK: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
    refresher: Option<Rc<RefCell<Refresher>>>,
    /// The key table kept in AWS (`api_keys_source`), read on the tick.
    keys: KeyRefresher,
    /// Verified IAM callers, shared by this worker's requests.
    iam_cache: SharedIamCache,
    /// This worker's fleet writer, when `fleet` is configured.
    fleet: Option<FleetShell>,
}

impl Root {
    /// Credentials for side calls signed by the filter itself (the key table read).
    fn live_credentials(&self) -> Option<Credentials> {
        self.refresher
            .as_ref()
            .and_then(|r| r.try_borrow().ok()?.current(host::now()).cloned())
    }

    fn tick_keys(&mut self, cfg: &Config) {
        let live = self.live_credentials();
        self.keys.tick(cfg, live.as_ref());
    }
    fn dispatch(&self, refresher: &RefCell<Refresher>, call: SideCall) {
        if host::dispatch(&call).is_none() {
            let progress = refresher.borrow_mut().on_dispatch_failed(host::now());
            log::warn!("credentials refresh: {progress:?}");
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, n_headers: usize, body_size: usize, _: usize) {
        if let Some(cfg) = self.config.clone() {
            if self.keys.on_response(&cfg, token, n_headers, body_size) {
                return;
            }
            let live = self.live_credentials();
            if let Some(fleet) = self.fleet.as_mut() {
                if fleet.on_response(&cfg, live.as_ref(), token, n_headers, body_size) {
                    return;
                }
            }
        }
        let Some(refresher) = self.refresher.clone() else {
            return;
        };
        let status = host::call_response_status(n_headers);
        let body = host::call_response_body(body_size);
        let progress = refresher
            .borrow_mut()
            .on_response(host::now(), status, &body);
        if let Some(call) = progress.next_call() {
            self.dispatch(&refresher, call);
        }
    }

    /// Envoy is stopping: flush the fleet's pending usage first (`false` until answered).
    fn on_done(&mut self) -> bool {
        let (Some(cfg), true) = (self.config.clone(), self.fleet.is_some()) else {
            return true;
        };
        let live = self.live_credentials();
        self.fleet
            .as_mut()
            .is_none_or(|f| f.drain(&cfg, live.as_ref()))
    }
}

impl RootContext for Root {
    /// Returning `false` fails plugin start; the log line names the bad field.
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = host::plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes, &|k| std::env::var(k).ok()) {
            Ok(cfg) => {
                log::info!(
                    "bedrock-openai filter configured: {} upstream, region {}, host {}, {} tenant(s), {} api key(s), {} model(s), {} alias(es)",
                    cfg.upstream.mode(),
                    cfg.region,
                    cfg.bedrock_host,
                    cfg.tenants.tenants().len(),
                    cfg.tenants.key_count(),
                    cfg.catalog.entries().len(),
                    cfg.model_aliases.len()
                );
                for warning in &cfg.warnings {
                    log::warn!("{warning}");
                }
                if cfg.signing == crate::upstream::Signing::Envoy {
                    // Says why an unsigned request would fail: the Envoy filter is missing.
                    log::info!("signing: envoy: Converse calls go out unsigned, for Envoy's aws_request_signing filter after this one to sign");
                }
                if let Upstream::Aws(AwsAuth::Refreshed(source)) = &cfg.upstream {
                    self.refresher = Some(Rc::new(RefCell::new(Refresher::new(source.clone()))));
                    host::set_tick_period(TICK);
                }
                if cfg.key_source.is_some() {
                    // Read at once, then the core decides on each tick whether a read is due.
                    host::set_tick_period(TICK);
                    self.tick_keys(&cfg);
                }
                self.fleet = FleetShell::new(&cfg);
                if let Some(fc) = &cfg.fleet {
                    host::set_tick_period(fc.sync_interval.min(TICK));
                } else {
                    for key in cfg.shared_data_keys() {
                        host::shared_init(&key);
                    }
                }
                self.config = Some(Rc::new(cfg));
                true
            }
            Err(e) => {
                log::error!("{e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(cfg) = self.config.clone() {
            if cfg.key_source.is_some() {
                self.tick_keys(&cfg);
            }
            if let Some(fleet) = &self.fleet {
                let live = self.live_credentials();
                fleet.tick(&cfg, live.as_ref());
            }
        }
        let Some(refresher) = self.refresher.clone() else {
            return;
        };
        let call = refresher.borrow_mut().poll(host::now());
        if let Some(call) = call {
            self.dispatch(&refresher, call);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let keys = self
            .config
            .as_ref()
            .and_then(|c| c.key_source.as_ref())
            .map(|_| self.keys.keys.clone());
        Some(Box::new(
            Http::new(context_id, self.config.clone(), self.refresher.clone())
                .with_keys(keys)
                .with_iam_cache(self.iam_cache.clone())
                .with_fleet(self.fleet.as_ref().map(|f| f.fleet.clone())),
        ))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
