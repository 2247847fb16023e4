//! Fleet mode: rate limits and usage that hold across every Envoy replica, kept in a DynamoDB
//! table (see docs/fleet.md for the design and the choice of store).
//!
//! Every Wasm VM (one per Envoy worker thread) is one **writer** ([`Fleet`]). Requests only
//! touch its memory: [`Fleet::try_acquire`] admits against the fleet's counts as last seen,
//! [`Fleet::settle`] and [`Fleet::record_usage`] count. On the root context's tick the shell
//! asks [`Fleet::tick`] for the store writes due (absolute values, so a retry never counts
//! twice), signs and dispatches them ([`call::signed`]) and hands each answer to
//! [`Fleet::on_answer`]. Only `GET /v1/usage` reads the store on the request path
//! ([`dynamo::query`], merged by [`report::merge`]).
//!
//! Pure core: no host call, so every decision (admission, staleness, retries, the merge)
//! runs under `cargo test`.

pub mod call;
pub mod dynamo;
mod limits;
pub mod report;
mod state;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Deserialize;

pub use self::state::{Admission, Fleet, Health, Pending, Planned, Unavailable};

const DEFAULT_SYNC_INTERVAL_MS: u64 = 1_000;
const MIN_SYNC_INTERVAL_MS: u64 = 50;
const DEFAULT_TIMEOUT_MS: u64 = 1_000;
const DEFAULT_STALE_AFTER_MS: u64 = 5_000;
const DEFAULT_CLUSTER: &str = "dynamodb";
const DEFAULT_REPLICA: &str = "replica";
/// The metric counting requests decided while the store is unavailable.
pub const UNAVAILABLE_METRIC: &str = "bedrock_openai_fleet_store_unavailable_total";

/// What a limited request gets while the store is unavailable (`on_store_failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStoreFailure {
    /// Admit against this writer's own counts; one warning per transition and a metric.
    #[default]
    Open,
    /// Refuse with a 503 `limit_store_unavailable`.
    Closed,
}

impl<'de> Deserialize<'de> for OnStoreFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = &["open", "closed"];
        let tail = " must be `open` or `closed`";
        Ok(match crate::document::deserialize_one_of(d, names, tail)? {
            0 => OnStoreFailure::Open,
            _ => OnStoreFailure::Closed,
        })
    }
}

/// The store behind the fleet; DynamoDB is the only one for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoDb;

impl<'de> Deserialize<'de> for DynamoDb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::document::deserialize_one_of(d, &["dynamodb"], " must be `dynamodb`")?;
        Ok(DynamoDb)
    }
}

/// `fleet` as written in the plugin configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    /// Checked as it is read (only `dynamodb`); nothing more to keep.
    #[serde(default)]
    #[allow(dead_code)]
    pub store: Option<DynamoDb>,
    pub table: String,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub sync_interval_ms: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub stale_after_ms: Option<u64>,
    #[serde(default)]
    pub on_store_failure: Option<OnStoreFailure>,
    #[serde(default)]
    pub replica: Option<String>,
}

/// The validated `fleet` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    pub table: String,
    /// Envoy cluster the store calls go to.
    pub cluster: String,
    /// SigV4 region of the store.
    pub region: String,
    /// `:authority` and SigV4 host of the store.
    pub host: String,
    /// Time between syncs.
    pub sync_interval: Duration,
    /// Per store call.
    pub timeout: Duration,
    /// No successful sync for this long (while syncs are due) = the store is unavailable.
    pub stale_after_ms: u64,
    pub on_store_failure: OnStoreFailure,
    /// Label of this replica in writer ids: `[A-Za-z0-9_-]`, at most 32 characters.
    pub replica: String,
}

/// A bad `fleet` setting; the text names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfigError(pub String);

impl std::fmt::Display for FleetConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FleetConfigError {}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A host name (e.g. `HOSTNAME`) made into a replica label: other characters become `_`.
pub fn replica_label(name: &str) -> String {
    let label: String = name
        .chars()
        .take(32)
        .map(|c| if id_char(c) { c } else { '_' })
        .collect();
    if label.is_empty() {
        DEFAULT_REPLICA.to_string()
    } else {
        label
    }
}

/// DynamoDB's table name rule: 3 to 255 of `[A-Za-z0-9_.-]`.
fn valid_table(name: &str) -> bool {
    (3..=255).contains(&name.len()) && name.chars().all(|c| id_char(c) || c == '.')
}

impl FleetConfig {
    /// `region`: the top-level region (the default); `env` looks up `HOSTNAME`.
    pub(crate) fn from_raw(
        raw: RawFleet,
        region: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, FleetConfigError> {
        let bad =
            |field: &str, what: &str| Err(FleetConfigError(format!("`fleet.{field}` {what}")));
        if !valid_table(&raw.table) {
            return bad("table", "must be 3 to 255 of `A-Z a-z 0-9 _ . -`");
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let region = nonempty(raw.region).unwrap_or_else(|| region.to_string());
        if !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return bad("region", "is not an AWS region name");
        }
        let host = nonempty(raw.host).unwrap_or_else(|| format!("dynamodb.{region}.amazonaws.com"));
        if crate::upstream::sigv4::check_host(&host).is_err() {
            return bad("host", "is not a host[:port] (no scheme, no path)");
        }
        let sync = raw.sync_interval_ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS);
        if sync < MIN_SYNC_INTERVAL_MS {
            return bad("sync_interval_ms", "must be at least 50");
        }
        let timeout = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        let stale = raw.stale_after_ms.unwrap_or(DEFAULT_STALE_AFTER_MS);
        if timeout == 0 {
            return bad("timeout_ms", "must be at least 1");
        }
        if stale == 0 {
            return bad("stale_after_ms", "must be at least 1");
        }
        let replica = match nonempty(raw.replica) {
            Some(r) if r.len() <= 32 && r.chars().all(id_char) => r,
            Some(_) => return bad("replica", "must be 1 to 32 of `A-Z a-z 0-9 _ -`"),
            None => replica_label(&env("HOSTNAME").unwrap_or_default()),
        };
        Ok(Self {
            table: raw.table,
            cluster: nonempty(raw.cluster).unwrap_or_else(|| DEFAULT_CLUSTER.to_string()),
            region,
            host,
            sync_interval: Duration::from_millis(sync),
            timeout: Duration::from_millis(timeout),
            stale_after_ms: stale,
            on_store_failure: raw.on_store_failure.unwrap_or_default(),
            replica,
        })
    }

    /// A writer id: `<replica>-<8 hex>` from a random `seed` ([`writer_seed`]).
    pub fn writer_id(&self, seed: u32) -> String {
        format!("{}-{seed:08x}", self.replica)
    }
}

/// 32 random bits for a writer id: `RandomState`'s keys (seeded by the OS, or by WASI's
/// `random_get` in the Wasm build) mixed with the clock, `now_ms`.
pub fn writer_seed(now_ms: u64) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms);
    (h.finish() >> 16) as u32
}
