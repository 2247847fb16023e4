//! The dynamic-module shell's root: one per filter configuration, on Envoy's main thread. It does what
//! the Wasm root context (`src/filter/root.rs`, `keys.rs`, `fleet.rs`) does on its timer:
//! the `credentials_source` refresh ([`Refresher`]), the key table kept in AWS
//! (`api_keys_source`, [`KeyState`]) and fleet mode's store writes ([`Fleet`]). The decisions
//! are the core's; this module dispatches the side calls they ask for and hands back answers.
//!
//! Unlike the Wasm shell, where every worker's VM has its own copy, the state is one per
//! configuration and shared by every worker ([`Shared`]): one credentials fetch, one key-table
//! read and one fleet writer per process.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use super::abi::HttpFilterConfigEnvoyPtr;
use super::host;
use crate::auth::key_source::{self, KeyState};
use crate::config::Config;
use crate::fleet::{writer_seed, Fleet, Planned};
use crate::headers::HeaderList;
use crate::pipeline::step::millis;
use crate::upstream::credentials::Refresher;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::Credentials;
use crate::upstream::{AwsAuth, Upstream};

/// How often the root looks at what is due (the Wasm root's tick).
const TICK: Duration = Duration::from_secs(1);

// A hook that panicked while holding a lock (caught by the hook guard) leaves state the core
// wrote whole or not at all: go on with it rather than fail every later request.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the workers read and the root writes; each part only when configured.
#[derive(Default)]
pub struct Shared {
    credentials: Option<RwLock<Refresher>>,
    keys: Option<RwLock<KeyState>>,
    fleet: Option<Mutex<Fleet>>,
}

impl Shared {
    pub fn new(cfg: &Config) -> Self {
        let credentials = match &cfg.upstream {
            Upstream::Aws(AwsAuth::Refreshed(source)) => {
                Some(RwLock::new(Refresher::new(source.clone())))
            }
            _ => None,
        };
        Self {
            credentials,
            keys: cfg.key_source.as_ref().map(|_| RwLock::default()),
            fleet: new_fleet(cfg).map(Mutex::new),
        }
    }

    /// How often the root must tick, `None` when nothing needs it.
    pub fn tick_period(&self, cfg: &Config) -> Option<Duration> {
        let fleet = cfg.fleet.as_ref().map(|f| f.sync_interval.min(TICK));
        let timed = self.credentials.is_some() || self.keys.is_some();
        fleet.or(timed.then_some(TICK))
    }

    /// The refreshed credentials valid at `now` (copied: a request must not hold the lock).
    pub fn live(&self, now: SystemTime) -> Option<Credentials> {
        self.credentials
            .as_ref()
            .and_then(|r| read(r).current(now).cloned())
    }

    /// The key table, read-locked for one callback.
    pub fn keys(&self) -> Option<RwLockReadGuard<'_, KeyState>> {
        self.keys.as_ref().map(read)
    }

    /// The fleet writer, locked for one callback (the core admits and records through it).
    pub fn fleet(&self) -> Option<MutexGuard<'_, Fleet>> {
        self.fleet.as_ref().map(lock)
    }
}

/// This process's writer, when `fleet` is configured.
fn new_fleet(cfg: &Config) -> Option<Fleet> {
    let fc = cfg.fleet.as_ref()?;
    let writer = fc.writer_id(writer_seed(millis(SystemTime::now())));
    log::info!(
        "fleet mode: writer {writer} (one per process and configuration), DynamoDB table {} through cluster `{}` ({}), sync every {} ms, on store failure: {:?}",
        fc.table,
        fc.cluster,
        fc.host,
        fc.sync_interval.as_millis(),
        fc.on_store_failure
    );
    Some(Fleet::new(
        fc.clone(),
        writer,
        cfg.usage_window_seconds,
        cfg.max_usage_models_per_tenant,
    ))
}

/// The main thread's part: the configuration and which side call is whose.
pub struct Root {
    config: Config,
    /// The credentials fetch out, if any.
    credentials_call: Option<u64>,
    /// The key-table read out, if any.
    keys_call: Option<u64>,
}

impl Root {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            credentials_call: None,
            keys_call: None,
        }
    }

    /// The start, as the Wasm root's `on_configure`: the key table is read at once.
    pub fn start(&mut self, envoy: HttpFilterConfigEnvoyPtr, shared: &Shared) {
        if let Some(keys) = &shared.keys {
            let now = SystemTime::now();
            let live = shared.live(now);
            self.tick_keys(envoy, keys, live.as_ref(), now);
        }
    }

    /// One tick: start whatever the core says is due.
    pub fn tick(&mut self, envoy: HttpFilterConfigEnvoyPtr, shared: &Shared) {
        let now = SystemTime::now();
        if let Some(refresher) = &shared.credentials {
            let call = write(refresher).poll(now);
            if let Some(call) = call {
                self.send_credentials(envoy, refresher, &call);
            }
        }
        if let Some(keys) = &shared.keys {
            let live = shared.live(now);
            self.tick_keys(envoy, keys, live.as_ref(), now);
        }
        if let Some(fleet) = &shared.fleet {
            let planned = lock(fleet).tick(millis(now));
            self.send_fleet(envoy, shared, fleet, planned);
        }
    }

    /// A side call's answer (`headers` empty when it failed); a late or unknown one is dropped.
    pub fn on_answer(
        &mut self,
        envoy: HttpFilterConfigEnvoyPtr,
        shared: &Shared,
        id: u64,
        headers: &HeaderList,
        body: &[u8],
    ) {
        let status = headers.status();
        let now = SystemTime::now();
        if self.keys_call == Some(id) {
            self.keys_call = None;
            if let Some(keys) = &shared.keys {
                self.keys_answer(keys, status, body);
            }
        } else if self.credentials_call == Some(id) {
            self.credentials_call = None;
            if let Some(refresher) = &shared.credentials {
                let progress = write(refresher).on_response(now, status, body);
                if let Some(call) = progress.next_call() {
                    self.send_credentials(envoy, refresher, &call);
                }
            }
        } else if let (Some(fleet), Ok(token)) = (&shared.fleet, u32::try_from(id)) {
            lock(fleet).on_answer(token, status, body, millis(now));
        }
    }

    fn send_credentials(
        &mut self,
        envoy: HttpFilterConfigEnvoyPtr,
        refresher: &RwLock<Refresher>,
        call: &SideCall,
    ) {
        match host::config_callout(envoy, call) {
            Some(id) => self.credentials_call = Some(id),
            None => {
                let progress = write(refresher).on_dispatch_failed(SystemTime::now());
                log::warn!("credentials refresh: {progress:?}");
            }
        }
    }

    /// Starts a key-table read when one is due.
    fn tick_keys(
        &mut self,
        envoy: HttpFilterConfigEnvoyPtr,
        keys: &RwLock<KeyState>,
        live: Option<&Credentials>,
        now: SystemTime,
    ) {
        let cfg = &self.config;
        let Some(src) = &cfg.key_source else {
            return;
        };
        let mut state = write(keys);
        match state.poll(src, &cfg.upstream, &cfg.region, live, now) {
            None => {}
            Some(Err(outcome)) => outcome.log(),
            Some(Ok(call)) => match host::config_callout(envoy, &call) {
                Some(id) => self.keys_call = Some(id),
                None => state.not_dispatched(call).log(),
            },
        }
    }

    fn keys_answer(&self, keys: &RwLock<KeyState>, status: Option<u16>, body: &[u8]) {
        let cfg = &self.config;
        let Some(src) = &cfg.key_source else {
            return;
        };
        let known = |t: &str| cfg.tenants.get(t).is_some();
        write(keys)
            .answer(src.service, status.unwrap_or(0), body, &known)
            .log();
    }

    /// Signs and dispatches the store writes the writer planned.
    fn send_fleet(
        &self,
        envoy: HttpFilterConfigEnvoyPtr,
        shared: &Shared,
        fleet: &Mutex<Fleet>,
        planned: Vec<Planned>,
    ) {
        if planned.is_empty() {
            return;
        }
        let now = SystemTime::now();
        let live = shared.live(now);
        let creds = key_source::signing_credentials(&self.config.upstream, live.as_ref());
        lock(fleet).send(planned, creds, now, &mut |call| {
            host::config_callout(envoy, call).and_then(|id| u32::try_from(id).ok())
        });
    }

    /// The configuration is going away. Envoy cancels the configuration's side calls right
    /// after `config_destroy`, so a flush sent now would never land: the writes still due are
    /// lost, as in a crash (at most one sync interval; docs/fleet.md says to drain first).
    pub fn shutdown(&mut self, shared: &Shared) {
        let Some(fleet) = &shared.fleet else {
            return;
        };
        let lost = lock(fleet).drain(millis(SystemTime::now())).len();
        if lost > 0 {
            log::warn!("fleet: configuration destroyed with {lost} usage write(s) not flushed");
        } else {
            log::info!("fleet: configuration destroyed, nothing left to flush");
        }
    }
}
