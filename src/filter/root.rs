//! Root context: parse the plugin configuration once and hand it to every request; with a
//! credentials source, run the refresh timer (the decisions are [`Refresher`]'s).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::host;
use super::http::Http;
use crate::config::Config;
use crate::credentials::{Fetch, Progress, Refresher};
use crate::upstream::{AwsAuth, Upstream};

/// How often the root context checks whether credentials are due for a refresh.
const TICK: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
    refresher: Option<Rc<RefCell<Refresher>>>,
}

impl Root {
    fn dispatch(&self, refresher: &RefCell<Refresher>, fetch: Fetch) {
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", fetch.method),
            (":path", &fetch.path),
            (":authority", &fetch.authority),
        ];
        headers.extend(fetch.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if host::dispatch_http_call(&fetch.cluster, &headers, fetch.timeout).is_none() {
            let progress = refresher.borrow_mut().on_dispatch_failed(host::now());
            log::warn!("credentials refresh: {progress:?}");
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, _token: u32, _headers: usize, body_size: usize, _: usize) {
        let Some(refresher) = self.refresher.clone() else {
            return;
        };
        let status = host::call_response_status();
        let body = host::call_response_body(body_size);
        let progress = refresher
            .borrow_mut()
            .on_response(host::now(), status, &body);
        match progress {
            Progress::Next(fetch) => self.dispatch(&refresher, fetch),
            Progress::Refreshed { access_key_id } => {
                log::info!("credentials refreshed: access key {access_key_id}");
            }
            Progress::Failed(why) => log::warn!("credentials refresh failed: {why}"),
        }
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
                if let Upstream::Aws(AwsAuth::Refreshed(source)) = &cfg.upstream {
                    self.refresher = Some(Rc::new(RefCell::new(Refresher::new(source.clone()))));
                    host::set_tick_period(TICK);
                }
                for key in cfg.shared_data_keys() {
                    host::shared_init(&key);
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
        let Some(refresher) = self.refresher.clone() else {
            return;
        };
        let fetch = refresher.borrow_mut().poll(host::now());
        if let Some(fetch) = fetch {
            self.dispatch(&refresher, fetch);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(
            context_id,
            self.config.clone(),
            self.refresher.clone(),
        )))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
