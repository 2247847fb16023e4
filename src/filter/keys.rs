//! Shell side of the key table kept in AWS: dispatch the signed read on the root's tick,
//! hand the answer to [`crate::auth::key_source::KeyState`], log what it says.

use std::cell::RefCell;
use std::rc::Rc;

use super::host;
use crate::auth::key_source::KeyState;
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
        let Ok(mut keys) = self.keys.try_borrow_mut() else {
            return;
        };
        match keys.poll(src, &cfg.upstream, &cfg.region, live, host::now()) {
            None => {}
            Some(Err(outcome)) => outcome.log(),
            Some(Ok(call)) => match host::dispatch(&call) {
                Some(token) => self.pending = Some(token),
                None => keys.not_dispatched(call).log(),
            },
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
            keys.answer(src.service, status, &body, &known).log();
        }
        true
    }
}
