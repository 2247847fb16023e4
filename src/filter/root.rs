//! Root context: parse the plugin configuration once and hand it to every request.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::host;
use super::http::{Http, SharedIamCache};
use super::keys::Refresher;
use crate::config::Config;

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
    /// The key table kept in AWS (`api_keys_source`), refreshed on the tick.
    keys: Refresher,
    /// Verified IAM callers, shared by this worker's requests.
    iam_cache: SharedIamCache,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if let Some(cfg) = self.config.clone() {
            self.keys.on_response(&cfg, token, body_size);
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
                    "bedrock-openai filter configured: region {}, upstream {}, {} api key(s), {} model alias(es)",
                    cfg.region,
                    cfg.bedrock_host,
                    cfg.api_keys.len(),
                    cfg.model_aliases.len()
                );
                for warning in &cfg.warnings {
                    log::warn!("{warning}");
                }
                if cfg.key_source.is_some() {
                    // Read at once, then the core decides on each tick whether a read is due.
                    host::set_tick_period(Duration::from_secs(1));
                    self.keys.tick(&cfg);
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

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let keys = self
            .config
            .as_ref()
            .and_then(|c| c.key_source.as_ref())
            .map(|_| self.keys.keys.clone());
        Some(Box::new(
            Http::new(context_id, self.config.clone())
                .with_keys(keys)
                .with_iam_cache(self.iam_cache.clone()),
        ))
    }

    fn on_tick(&mut self) {
        if let Some(cfg) = self.config.clone() {
            self.keys.tick(&cfg);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
