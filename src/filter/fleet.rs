//! Shell side of fleet mode ([`crate::fleet`]): on the root's tick, sign and dispatch the
//! store writes the writer says are due, hand the answers back, and drain at shutdown.

use std::cell::RefCell;
use std::rc::Rc;

use super::host;
use crate::auth::key_source::signing_credentials;
use crate::config::Config;
use crate::fleet::{writer_seed, Fleet, Planned};
use crate::pipeline::step::millis;
use crate::upstream::sigv4::Credentials;

/// This worker's writer, shared with its HTTP contexts.
pub type SharedFleet = Rc<RefCell<Fleet>>;

pub struct FleetShell {
    pub fleet: SharedFleet,
    /// `on_done` ran: Envoy waits for [`host::done`].
    draining: bool,
}

impl FleetShell {
    /// The writer of this VM, when `fleet` is configured.
    pub fn new(cfg: &Config) -> Option<Self> {
        let fc = cfg.fleet.as_ref()?;
        let writer = fc.writer_id(writer_seed(millis(host::now())));
        log::info!(
            "fleet mode: writer {writer}, DynamoDB table {} through cluster `{}` ({}), sync every {} ms, on store failure: {:?}",
            fc.table,
            fc.cluster,
            fc.host,
            fc.sync_interval.as_millis(),
            fc.on_store_failure
        );
        let fleet = Fleet::new(
            fc.clone(),
            writer,
            cfg.usage_window_seconds,
            cfg.max_usage_models_per_tenant,
        );
        Some(Self {
            fleet: Rc::new(RefCell::new(fleet)),
            draining: false,
        })
    }

    pub fn tick(&self, cfg: &Config, live: Option<&Credentials>) {
        let planned = match self.fleet.try_borrow_mut() {
            Ok(mut f) => f.tick(millis(host::now())),
            Err(_) => return,
        };
        self.send(cfg, live, planned);
    }

    fn send(&self, cfg: &Config, live: Option<&Credentials>, planned: Vec<Planned>) {
        let Ok(mut fleet) = self.fleet.try_borrow_mut() else {
            return;
        };
        let creds = signing_credentials(&cfg.upstream, live);
        fleet.send(planned, creds, host::now(), &mut host::dispatch);
    }

    /// `true` when the call was the writer's. While draining, sends what is left and tells
    /// Envoy once nothing is out.
    pub fn on_response(
        &mut self,
        cfg: &Config,
        live: Option<&Credentials>,
        token: u32,
        n_headers: usize,
        body_size: usize,
    ) -> bool {
        let ours = match self.fleet.try_borrow_mut() {
            Ok(mut f) => {
                let status = host::call_response_status(n_headers);
                let body = host::call_response_body(body_size);
                f.on_answer(token, status, &body, millis(host::now()))
            }
            Err(_) => false,
        };
        if ours && self.draining && self.drain(cfg, live) {
            host::done();
        }
        ours
    }

    /// Shutdown: flushes the pending usage; `true` when nothing is out (done at once).
    pub fn drain(&mut self, cfg: &Config, live: Option<&Credentials>) -> bool {
        self.draining = true;
        let planned = match self.fleet.try_borrow_mut() {
            Ok(mut f) => f.drain(millis(host::now())),
            Err(_) => return true,
        };
        self.send(cfg, live, planned);
        self.fleet.try_borrow().map_or(true, |f| f.drained())
    }
}
