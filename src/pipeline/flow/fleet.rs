//! Fleet mode in a request ([`crate::fleet`]): admission against the fleet's counts, the
//! accounting at the end, and `GET /v1/usage` read from the store (one `Query` per tenant,
//! the request paused until every answer is back).

use super::{Env, Flow, Phase};
use crate::accounting::metrics::{Kind, Update};
use crate::accounting::ratelimit::Limits;
use crate::accounting::usage::{self, FleetInfo};
use crate::auth::key_source::signing_credentials;
use crate::config::Config;
use crate::error::ApiError;
use crate::fleet::dynamo::{self, Answer, WriterItem};
use crate::fleet::{call, report, Fleet, OnStoreFailure};
use crate::headers::HeaderList;
use crate::pipeline::request::{self, LocalReply};
use crate::pipeline::step::{millis, Effect, Output, Step};
use crate::upstream::{self, Exchange};

/// The store reads of one `/v1/usage` request.
#[derive(Debug)]
pub(super) struct UsageWait {
    tenants: Vec<String>,
    window_start: u64,
    /// `(token, tenant index)` of the reads out.
    out: Vec<(u32, usize)>,
    items: Vec<Vec<WriterItem>>,
    failed: bool,
}

/// What the store-unavailable metric counts: one request decided without the store.
pub(super) fn unavailable_metric() -> Effect {
    Effect::Metric(Update {
        name: crate::fleet::UNAVAILABLE_METRIC.to_string(),
        kind: Kind::Counter,
        value: 1,
    })
}

impl Flow {
    /// Admits the request against the fleet's counts of its region, tenant and model.
    pub(super) fn acquire_in_fleet(
        &mut self,
        fleet: &mut Fleet,
        now_ms: u64,
        key: String,
        ex: &Exchange,
        limits: Limits,
    ) -> Result<(), Output> {
        let admission = match fleet.try_acquire(key, limits, now_ms, ex.estimated_input_tokens) {
            Ok(a) => a,
            Err(_) => {
                self.store_unavailable = true;
                let e = ApiError::limit_store_unavailable(
                    "The rate-limit store cannot be reached; please try again shortly.",
                );
                return Err(self.error(e, &[]));
            }
        };
        self.store_unavailable |= admission.alone;
        let headers = admission.decision.headers();
        if let Err(e) = request::admit(&admission.decision) {
            return Err(self.error(e, &headers));
        }
        self.limit = Some((admission.key, admission.decision));
        Ok(())
    }

    /// The end of a request in fleet mode: settle the limit, count the usage.
    pub(super) fn account_in_fleet(
        &self,
        fleet: &mut Fleet,
        cfg: &Config,
        ex: &Exchange,
        now: std::time::SystemTime,
        (estimated, actual): (u64, u64),
    ) {
        if let Some((key, decision)) = &self.limit {
            fleet.settle(
                key,
                decision.window_start_ms,
                millis(now),
                estimated,
                actual,
            );
        }
        if let Some(tenant) = &self.tenant {
            let region = cfg.region_for(&ex.bedrock_model).0;
            let tokens = self.outcome.tokens.unwrap_or_default();
            let error = self.outcome.error_type.is_some();
            let now_s = upstream::unix_seconds(now);
            fleet.record_usage(tenant, &ex.canonical_model, region, &tokens, error, now_s);
        }
    }

    /// `GET /v1/usage` in fleet mode: one signed `Query` per tenant.
    pub(super) fn fleet_usage(
        &mut self,
        cfg: &Config,
        env: &mut Env<'_>,
        tenants: Vec<String>,
    ) -> Output {
        let Some(fleet) = env.fleet.as_deref() else {
            return self.error(ApiError::internal("fleet state missing"), &[]);
        };
        let now = env.host.now();
        let window_start = fleet.usage_window_start(upstream::unix_seconds(now));
        let mut wait = UsageWait {
            items: vec![Vec::new(); tenants.len()],
            tenants,
            window_start,
            out: Vec::new(),
            failed: false,
        };
        for i in 0..wait.tenants.len() {
            if !self.dispatch_query(cfg, env, &mut wait, i, None) {
                wait.failed = true;
                break;
            }
        }
        self.phase = Phase::AwaitingUsage(Box::new(wait));
        self.usage_step(cfg, env)
    }

    /// Sends one page read of tenant `i`; `false` when it could not go out.
    fn dispatch_query(
        &self,
        cfg: &Config,
        env: &mut Env<'_>,
        wait: &mut UsageWait,
        i: usize,
        start: Option<&serde_json::Value>,
    ) -> bool {
        let (Some(fleet), Some(creds)) = (
            env.fleet.as_deref(),
            signing_credentials(&cfg.upstream, env.live),
        ) else {
            return false;
        };
        let fc = fleet.config();
        let pk = dynamo::usage_pk(&wait.tenants[i], wait.window_start);
        let store = dynamo::query(&fc.table, &pk, start);
        let Ok(side) = call::signed(fc, creds, &store, env.host.now()) else {
            return false;
        };
        match env.host.dispatch(&side) {
            Some(token) => {
                wait.out.push((token, i));
                true
            }
            None => false,
        }
    }

    /// A store read's answer for `/v1/usage`.
    pub(super) fn on_usage_answer(
        &mut self,
        env: &mut Env<'_>,
        token: u32,
        headers: &HeaderList,
        body: &[u8],
    ) -> Output {
        let Some(cfg) = self.config.clone() else {
            return Output::new(Step::Pause);
        };
        let Phase::AwaitingUsage(mut wait) = std::mem::replace(&mut self.phase, Phase::Head) else {
            return Output::new(Step::Pause);
        };
        let Some(pos) = wait.out.iter().position(|(t, _)| *t == token) else {
            self.phase = Phase::AwaitingUsage(wait);
            return Output::new(Step::Pause);
        };
        let (_, i) = wait.out.swap_remove(pos);
        let status = headers.status();
        let page = match dynamo::answer(status, body) {
            Answer::Ok(v) => dynamo::query_page(&v).ok(),
            Answer::Superseded | Answer::Failed(_) => None,
        };
        match page {
            Some((items, next)) => {
                wait.items[i].extend(items);
                if let (Some(next), false) = (next, wait.failed) {
                    wait.failed = !self.dispatch_query(&cfg, env, &mut wait, i, Some(&next));
                }
            }
            None => wait.failed = true,
        }
        self.phase = Phase::AwaitingUsage(wait);
        self.usage_step(&cfg, env)
    }

    /// Pause while reads are out; then the report, or the failure behaviour.
    fn usage_step(&mut self, cfg: &Config, env: &mut Env<'_>) -> Output {
        match &self.phase {
            Phase::AwaitingUsage(w) if !w.out.is_empty() => return Output::new(Step::Pause),
            Phase::AwaitingUsage(_) => {}
            _ => return Output::new(Step::Pause),
        }
        let Phase::AwaitingUsage(wait) = std::mem::replace(&mut self.phase, Phase::Head) else {
            return Output::new(Step::Pause);
        };
        let Some(fleet) = env.fleet.as_deref_mut() else {
            return self.error(ApiError::internal("fleet state missing"), &[]);
        };
        let stale = wait.failed;
        if stale && fleet.config().on_store_failure == OnStoreFailure::Closed {
            self.store_unavailable = true;
            let e = ApiError::limit_store_unavailable(
                "The usage store cannot be reached; please try again shortly.",
            );
            return self.error(e, &[]);
        }
        self.store_unavailable |= stale;
        let body = usage_body(
            cfg,
            fleet,
            &wait,
            stale,
            upstream::unix_seconds(env.host.now()),
        );
        let ok = LocalReply {
            status: 200,
            content_type: "application/json",
            body,
            error_type: None,
        };
        self.reply(ok, &[])
    }
}

/// The report: each tenant's writers summed (only this writer's own counts when `stale`).
fn usage_body(
    cfg: &Config,
    fleet: &mut Fleet,
    wait: &UsageWait,
    stale: bool,
    now_s: u64,
) -> Vec<u8> {
    let me = fleet.writer().to_string();
    let mut writers = std::collections::BTreeSet::new();
    let mut lines = Vec::new();
    for (i, tenant) in wait.tenants.iter().enumerate() {
        let items: &[WriterItem] = if stale { &[] } else { &wait.items[i] };
        let local = fleet.local_usage(tenant, wait.window_start);
        let merged = report::merge(&me, wait.window_start, items, local);
        if !stale {
            fleet.reseed_if_lost(tenant, wait.window_start, merged.own_seq);
        }
        writers.extend(merged.writers);
        lines.push((tenant.as_str(), merged.usage, merged.regions));
    }
    let info = FleetInfo {
        writers: writers.len(),
        as_of: now_s,
        sync_interval_ms: u64::try_from(fleet.config().sync_interval.as_millis()).unwrap_or(0),
        stale,
    };
    usage::render(&lines, cfg.usage_window_seconds, Some(&info))
}
