//! [`Fleet`]: one writer's counters, the syncs due on a tick, the answers, and whether the
//! store counts as available.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::dynamo::{self, Answer, Counts, RegionUsage, StoreCall};
use super::limits::LimitCell;
use super::{FleetConfig, OnStoreFailure};
use crate::accounting::ratelimit::{Decision, Limits, WINDOW_MS};
use crate::accounting::usage::OTHER_MODELS;
use crate::translate::usage::TokenCounts;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::Credentials;

/// The item a writer with nothing to write probes the store with after failures.
pub const PROBE_PK: &str = "probe";

/// Usage items outlive their window by a day (DynamoDB's TTL removes them after).
const USAGE_TTL_SLACK_SECONDS: u64 = 86_400;

/// When a rate-limit item (or a probe) may go, in unix seconds: two windows after its own.
fn limit_expiry(window: u64) -> u64 {
    window.saturating_add(2).saturating_mul(WINDOW_MS / 1000)
}

/// What an answered store call was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Limit {
        pk: String,
        window: u64,
        sent: Counts,
    },
    Usage {
        tenant: String,
        window_start: u64,
        seq: u64,
    },
}

/// A store call the shell should sign and dispatch, and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub call: StoreCall,
    pub pending: Pending,
}

/// Whether the store counts as available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Available,
    /// No successful sync for `stale_after_ms` while syncs were failing.
    Unavailable,
}

/// A limited request refused because the store is unavailable (`on_store_failure: closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// What [`Fleet::try_acquire`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub decision: Decision,
    /// The window's item (for [`Fleet::settle`]).
    pub key: String,
    /// Decided on this writer's own counts: the store is unavailable (fail open).
    pub alone: bool,
}

/// One tenant's usage in one window, as counted by this writer.
#[derive(Debug, Clone, Default)]
struct UsageCell {
    models: BTreeMap<String, RegionUsage>,
    /// Counted since the last write went out.
    dirty: bool,
    /// The `seq` of the write out.
    in_flight: Option<u64>,
}

/// One writer (one Wasm VM).
#[derive(Debug)]
pub struct Fleet {
    cfg: FleetConfig,
    writer: String,
    usage_window: u64,
    max_models: usize,
    limits: BTreeMap<String, LimitCell>,
    usage: BTreeMap<(String, u64), UsageCell>,
    pending: BTreeMap<u32, Pending>,
    /// Monotonic per writer: a usage write with a lower one never overwrites a higher one.
    seq: u64,
    next_sync_ms: u64,
    /// When calls started failing (none succeeded since).
    failing_since: Option<u64>,
    unavailable: bool,
    /// Shutting down: failed writes are not retried.
    draining: bool,
}

impl Fleet {
    pub fn new(cfg: FleetConfig, writer: String, usage_window: u64, max_models: usize) -> Self {
        Self {
            cfg,
            writer,
            usage_window: usage_window.max(1),
            max_models,
            limits: BTreeMap::new(),
            usage: BTreeMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            next_sync_ms: 0,
            failing_since: None,
            unavailable: false,
            draining: false,
        }
    }

    pub fn writer(&self) -> &str {
        &self.writer
    }

    pub fn config(&self) -> &FleetConfig {
        &self.cfg
    }

    /// The usage window a time falls in (aligned, so every writer agrees).
    pub fn usage_window_start(&self, now_s: u64) -> u64 {
        now_s / self.usage_window * self.usage_window
    }

    /// Whether the store counts as available at `now_ms`; logs one line per transition.
    pub fn health(&mut self, now_ms: u64) -> Health {
        let stale = self
            .failing_since
            .is_some_and(|t| now_ms.saturating_sub(t) >= self.cfg.stale_after_ms);
        if stale && !self.unavailable {
            self.unavailable = true;
            let mode = match self.cfg.on_store_failure {
                OnStoreFailure::Open => "admitting on this writer's own counts (fail open)",
                OnStoreFailure::Closed => "refusing limited requests with 503 (fail closed)",
            };
            log::warn!(
                "fleet store unavailable: no successful sync for {} ms; {mode}",
                self.cfg.stale_after_ms
            );
        }
        if self.unavailable {
            Health::Unavailable
        } else {
            Health::Available
        }
    }

    /// Admits a request against the fleet's counts in its region, tenant and model.
    pub fn try_acquire(
        &mut self,
        pk: String,
        limits: Limits,
        now_ms: u64,
        cost: u64,
    ) -> Result<Admission, Unavailable> {
        let alone = self.health(now_ms) == Health::Unavailable;
        if alone && self.cfg.on_store_failure == OnStoreFailure::Closed {
            return Err(Unavailable);
        }
        let cell = self.limits.entry(pk.clone()).or_default();
        cell.roll(now_ms / WINDOW_MS);
        let decision = cell.try_acquire(limits, now_ms, cost, alone);
        Ok(Admission {
            decision,
            key: pk,
            alone,
        })
    }

    /// Replaces an admitted request's token estimate by its real cost.
    pub fn settle(&mut self, key: &str, window_start_ms: u64, now_ms: u64, est: u64, actual: u64) {
        let cell = self.limits.entry(key.to_string()).or_default();
        cell.roll(now_ms / WINDOW_MS);
        cell.settle(window_start_ms, est, actual);
    }

    /// Adds one finished request to this writer's usage of the tenant's current window.
    pub fn record_usage(
        &mut self,
        tenant: &str,
        model: &str,
        region: &str,
        tokens: &TokenCounts,
        error: bool,
        now_s: u64,
    ) {
        let start = self.usage_window_start(now_s);
        let cell = self.usage.entry((tenant.to_string(), start)).or_default();
        let named = cell.models.keys().filter(|k| *k != OTHER_MODELS).count();
        let model = if cell.models.contains_key(model) || named < self.max_models {
            model
        } else {
            OTHER_MODELS
        };
        let m = cell.models.entry(model.to_string()).or_default();
        m.region = region.to_string();
        let u = &mut m.usage;
        u.requests = u.requests.saturating_add(1);
        u.errors = u.errors.saturating_add(u64::from(error));
        u.input_tokens = u.input_tokens.saturating_add(tokens.prompt());
        u.output_tokens = u.output_tokens.saturating_add(tokens.output);
        u.cache_read_tokens = u.cache_read_tokens.saturating_add(tokens.cache_read);
        u.cache_write_tokens = u.cache_write_tokens.saturating_add(tokens.cache_write);
        cell.dirty = true;
    }

    /// This writer's own usage of a tenant's window (flushed or not).
    pub fn local_usage(
        &self,
        tenant: &str,
        window_start: u64,
    ) -> Option<&BTreeMap<String, RegionUsage>> {
        self.usage
            .get(&(tenant.to_string(), window_start))
            .map(|c| &c.models)
    }

    /// The writes due at `now_ms`: every rate-limit window of this minute that changed (or
    /// wants fresh counts) and every tenant usage that changed, one write out per item at a
    /// time. Empty between sync intervals.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Planned> {
        if now_ms < self.next_sync_ms {
            return Vec::new();
        }
        let interval = u64::try_from(self.cfg.sync_interval.as_millis()).unwrap_or(u64::MAX);
        self.next_sync_ms = now_ms.saturating_add(interval);
        self.health(now_ms);
        let window = now_ms / WINDOW_MS;
        for cell in self.limits.values_mut().filter(|c| c.recent(window)) {
            cell.roll(window);
        }
        self.limits.retain(|_, c| c.window >= window || c.in_flight);
        let mut out = Vec::new();
        for (pk, cell) in self.limits.iter_mut().filter(|(_, c)| c.due(window)) {
            cell.in_flight = true;
            cell.refresh = false;
            let expires = limit_expiry(window);
            let t = &self.cfg.table;
            let call = dynamo::put_limit(t, pk, window, &self.writer, cell.mine, expires);
            let pending = Pending::Limit {
                pk: pk.clone(),
                window,
                sent: cell.mine,
            };
            out.push(Planned { call, pending });
        }
        out.extend(self.usage_writes(now_ms / 1000));
        if out.is_empty() && self.failing_since.is_some() {
            // Nothing to write, but the last calls failed: without a call the store could
            // never be seen back (a closed writer would refuse for good).
            out.push(self.probe(window));
        }
        out
    }

    /// A write that only tells whether the store answers (its own item, no counts).
    fn probe(&self, window: u64) -> Planned {
        let expires = limit_expiry(window);
        let pk = PROBE_PK.to_string();
        let counts = Counts::default();
        let call = dynamo::put_limit(&self.cfg.table, &pk, window, &self.writer, counts, expires);
        let pending = Pending::Limit {
            pk,
            window,
            sent: counts,
        };
        Planned { call, pending }
    }

    /// Usage writes of every changed tenant window; forgets finished windows written out.
    fn usage_writes(&mut self, now_s: u64) -> Vec<Planned> {
        let current = self.usage_window_start(now_s);
        self.usage
            .retain(|(_, start), c| *start >= current || c.dirty || c.in_flight.is_some());
        let mut out = Vec::new();
        for ((tenant, start), cell) in &mut self.usage {
            if !cell.dirty || cell.in_flight.is_some() {
                continue;
            }
            self.seq += 1;
            cell.dirty = false;
            cell.in_flight = Some(self.seq);
            let pk = dynamo::usage_pk(tenant, *start);
            let expires = start
                .saturating_add(self.usage_window)
                .saturating_add(USAGE_TTL_SLACK_SECONDS);
            let t = &self.cfg.table;
            let call = dynamo::put_usage(t, &pk, &self.writer, self.seq, &cell.models, expires);
            let pending = Pending::Usage {
                tenant: tenant.clone(),
                window_start: *start,
                seq: self.seq,
            };
            out.push(Planned { call, pending });
        }
        out
    }

    /// Shutdown: the usage writes still due, whatever the interval; failures are final.
    pub fn drain(&mut self, now_ms: u64) -> Vec<Planned> {
        self.draining = true;
        self.usage_writes(now_ms / 1000)
    }

    /// Whether no call is out (after [`Fleet::drain`]: the shutdown may finish).
    pub fn drained(&self) -> bool {
        self.pending.is_empty()
    }

    /// A planned call went out with this token.
    pub fn dispatched(&mut self, token: u32, pending: Pending) {
        self.pending.insert(token, pending);
    }

    /// A planned call could not be sent (no credentials, signing, an unknown cluster).
    pub fn not_dispatched(&mut self, pending: Pending, now_ms: u64) {
        self.finish(&pending, None, now_ms);
    }

    /// Signs the planned calls with `creds` and sends each with `dispatch` (the token it went
    /// out with, `None` when it did not): a call without credentials, that fails to sign or
    /// that does not go out counts as failed.
    pub fn send(
        &mut self,
        planned: Vec<Planned>,
        creds: Option<&Credentials>,
        now: SystemTime,
        dispatch: &mut dyn FnMut(&SideCall) -> Option<u32>,
    ) {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for p in planned {
            let side = creds.and_then(|c| super::call::signed(&self.cfg, c, &p.call, now).ok());
            match side.as_ref().and_then(&mut *dispatch) {
                Some(token) => self.dispatched(token, p.pending),
                None => self.not_dispatched(p.pending, now_ms),
            }
        }
    }

    /// A store answer; `false` when the token is not one of this writer's calls.
    pub fn on_answer(&mut self, token: u32, status: Option<u16>, body: &[u8], now_ms: u64) -> bool {
        let Some(pending) = self.pending.remove(&token) else {
            return false;
        };
        let answer = dynamo::answer(status, body);
        if let Answer::Failed(why) = &answer {
            log::debug!("fleet store call failed: {why}");
        }
        self.finish(&pending, Some(answer), now_ms);
        true
    }

    /// Applies an answer (`None`: the call never went out).
    fn finish(&mut self, pending: &Pending, answer: Option<Answer>, now_ms: u64) {
        let ok = matches!(answer, Some(Answer::Ok(_) | Answer::Superseded));
        match pending {
            Pending::Limit { pk, window, .. } => {
                if let Some(cell) = self.limits.get_mut(pk) {
                    cell.in_flight = false;
                    match &answer {
                        Some(Answer::Ok(v)) if cell.window == *window => {
                            cell.others = dynamo::others_of(v, &self.writer);
                        }
                        _ => {}
                    }
                }
            }
            Pending::Usage {
                tenant,
                window_start,
                ..
            } => {
                if let Some(cell) = self.usage.get_mut(&(tenant.clone(), *window_start)) {
                    cell.in_flight = None;
                    if !ok && !self.draining {
                        cell.dirty = true;
                    }
                }
            }
        }
        if ok {
            self.succeeded();
        } else {
            self.failing_since.get_or_insert(now_ms);
        }
    }

    /// A call succeeded: the store is available. After failures, every live count is
    /// written again at the next tick (the store may have lost it).
    fn succeeded(&mut self) {
        if self.failing_since.take().is_none() {
            return;
        }
        if std::mem::take(&mut self.unavailable) {
            log::warn!("fleet store available again: syncing every live count");
        }
        self.usage.values_mut().for_each(|c| c.dirty = true);
        self.limits.values_mut().for_each(|c| c.refresh = true);
    }

    /// The store's copy of this writer's usage of a tenant's window is missing or behind
    /// (seen by a `/v1/usage` read): write it again at the next tick.
    pub fn reseed_if_lost(&mut self, tenant: &str, window_start: u64, stored_seq: Option<u64>) {
        if let Some(cell) = self.usage.get_mut(&(tenant.to_string(), window_start)) {
            let written = cell.in_flight.is_none() && !cell.dirty;
            if written && stored_seq.is_none() {
                cell.dirty = true;
            }
        }
    }

    /// Calls out (for tests and the shutdown drain).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}
