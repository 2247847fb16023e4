//! Shell side of the key table kept in AWS: dispatch the signed read on the root's tick,
//! hand the answer to [`crate::auth::key_source::KeyState`], log what it says.

use std::cell::RefCell;
use std::rc::Rc;

use super::host;
use crate::auth::key_source::{self, KeySourceError, KeyState};
use crate::config::Config;
use crate::upstream::sigv4::Credentials;

/// This worker's table, shared with its HTTP contexts.
pub type SharedKeys = Rc<RefCell<KeyState>>;

#[derive(Default)]
pub struct Refresher {
    pub keys: SharedKeys,
    pending: Option<u32>,
}

impl Refresher {
    /// Starts a read when one is due.
    pub fn tick(&mut self, cfg: &Config, live: Option<&Credentials>) {
        let Some(src) = &cfg.key_source else {
            return;
        };
        let now = host::now();
        let Ok(mut keys) = self.keys.try_borrow_mut() else {
            return;
        };
        if !keys.due(src, now) {
            return;
        }
        keys.started(now);
        let Some(creds) = key_source::signing_credentials(&cfg.upstream, live) else {
            log::warn!("{}", keys.finished(Err(KeySourceError::NoCredentials)));
            return;
        };
        let call = match key_source::fetch_request(src, creds, &cfg.region, now) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("{}", keys.finished(Err(e)));
                return;
            }
        };
        match host::dispatch(&call) {
            Some(token) => self.pending = Some(token),
            None => {
                let e = KeySourceError::Dispatch {
                    cluster: call.cluster,
                };
                log::warn!("{}", keys.finished(Err(e)));
            }
        }
    }

    /// `true` when the call was ours.
    pub fn on_response(
        &mut self,
        cfg: &Config,
        token: u32,
        n_headers: usize,
        body_size: usize,
    ) -> bool {
        if self.pending != Some(token) {
            return false;
        }
        self.pending = None;
        let Some(src) = &cfg.key_source else {
            return true;
        };
        let status = host::call_response_status(n_headers).unwrap_or(0);
        let body = host::call_response_body(body_size);
        if let Ok(mut keys) = self.keys.try_borrow_mut() {
            let known = |t: &str| cfg.tenants.get(t).is_some();
            let outcome = keys.answer(src.service, status, &body, &known);
            if outcome.is_error() {
                log::warn!("{outcome}");
            } else {
                log::info!("{outcome}");
            }
        }
        true
    }
}
