//! Root context: parse the plugin configuration once and hand it to every request.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use super::host;
use super::http::Http;
use crate::config::Config;

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
}

impl Context for Root {}

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
        Some(Box::new(Http::new(context_id, self.config.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
