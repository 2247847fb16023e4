//! `GET /v1/usage` in fleet mode: every writer's item of a tenant's window, summed, with this
//! writer's own counts taken from memory (newer than its item: not yet flushed).

use std::collections::{BTreeMap, BTreeSet};

use super::dynamo::{RegionUsage, WriterItem};
use crate::accounting::usage::{ModelUsage, TenantUsage};

/// A tenant's fleet total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merged {
    pub usage: TenantUsage,
    /// Model → the region it was called in.
    pub regions: BTreeMap<String, String>,
    /// The writers summed.
    pub writers: BTreeSet<String>,
    /// The `seq` of this writer's own item in the store, if it has one.
    pub own_seq: Option<u64>,
}

fn add(into: &mut ModelUsage, u: &ModelUsage) {
    into.requests = into.requests.saturating_add(u.requests);
    into.errors = into.errors.saturating_add(u.errors);
    into.input_tokens = into.input_tokens.saturating_add(u.input_tokens);
    into.output_tokens = into.output_tokens.saturating_add(u.output_tokens);
    into.cache_read_tokens = into.cache_read_tokens.saturating_add(u.cache_read_tokens);
    into.cache_write_tokens = into.cache_write_tokens.saturating_add(u.cache_write_tokens);
}

/// Sums the items of the other writers and this writer's (`me`) own counts: `local` when it
/// has them in memory (the newest), else its item.
pub fn merge(
    me: &str,
    window_start: u64,
    items: &[WriterItem],
    local: Option<&BTreeMap<String, RegionUsage>>,
) -> Merged {
    let mut out = Merged::default();
    let mut sum = |writer: &str, models: &BTreeMap<String, RegionUsage>| {
        out.writers.insert(writer.to_string());
        for (model, m) in models {
            add(out.usage.models.entry(model.clone()).or_default(), &m.usage);
            if !m.region.is_empty() {
                out.regions.insert(model.clone(), m.region.clone());
            }
        }
    };
    for item in items {
        if item.writer != me {
            sum(&item.writer, &item.models);
        }
    }
    let own = items.iter().find(|i| i.writer == me);
    match (local, own) {
        (Some(models), _) => sum(me, models),
        (None, Some(item)) => sum(me, &item.models),
        (None, None) => {}
    }
    out.own_seq = own.map(|i| i.seq);
    if !out.usage.models.is_empty() {
        out.usage.window_start = window_start;
    }
    out
}
