//! One writer's view of a rate-limit window: its own counts (exact) and the other writers'
//! (as of the last sync). Windows are aligned to the minute so every replica agrees on them.

use super::dynamo::Counts;
use crate::accounting::ratelimit::{Decision, Limits, Quota, WINDOW_MS};

/// A tenant's model in a region, in the window `window` (`now_ms / 60000`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LimitCell {
    pub window: u64,
    /// What this writer admitted (requests) and charged (tokens) in the window.
    pub mine: Counts,
    /// The other writers' counts, from the last sync answer of this window.
    pub others: Counts,
    /// A write is out.
    pub in_flight: bool,
    /// Sync at the next tick even if nothing changed (a refusal wants fresh counts).
    pub refresh: bool,
}

impl LimitCell {
    /// The cell for `window`: this one, or a fresh one if its window is over.
    pub fn roll(&mut self, window: u64) {
        if self.window != window {
            *self = LimitCell {
                window,
                in_flight: self.in_flight,
                ..LimitCell::default()
            };
        }
    }

    /// Admits one request costing `cost` tokens if `others + mine + cost` fits both limits
    /// (`alone`: the store is unavailable, count this writer only), counting it if so.
    pub fn try_acquire(&mut self, limits: Limits, now_ms: u64, cost: u64, alone: bool) -> Decision {
        let others = if alone {
            Counts::default()
        } else {
            self.others
        };
        let used = others.plus(self.mine);
        let requests_ok = limits
            .requests_per_minute
            .is_none_or(|l| used.requests.saturating_add(1) <= l);
        let tokens_ok = limits
            .tokens_per_minute
            .is_none_or(|l| used.tokens.saturating_add(cost) <= l);
        let allowed = requests_ok && tokens_ok;
        let taken = if allowed {
            Counts {
                requests: 1,
                tokens: cost,
            }
        } else {
            self.refresh = true;
            Counts::default()
        };
        self.mine = self.mine.plus(taken);
        let used = used.plus(taken);
        let start = self.window.saturating_mul(WINDOW_MS);
        let reset_ms = start.saturating_add(WINDOW_MS).saturating_sub(now_ms);
        let quota = |limit: Option<u64>, used: u64| {
            limit.map(|limit| Quota {
                limit,
                remaining: limit.saturating_sub(used),
                reset_ms,
            })
        };
        Decision {
            allowed,
            requests: quota(limits.requests_per_minute, used.requests),
            tokens: quota(limits.tokens_per_minute, used.tokens),
            window_start_ms: start,
        }
    }

    /// Replaces a request's token estimate by what it really cost; a request of an earlier
    /// window charges the current one (the cell has rolled).
    pub fn settle(&mut self, window_start_ms: u64, estimated: u64, actual: u64) {
        if self.window.saturating_mul(WINDOW_MS) == window_start_ms {
            self.mine.tokens = self.mine.tokens.saturating_sub(estimated);
        }
        self.mine.tokens = self.mine.tokens.saturating_add(actual);
    }

    /// Whether the tick should write this cell now: every tick while this writer takes part
    /// in the window (the write's answer brings the other writers' counts), or once when a
    /// refusal wants fresh counts.
    pub fn due(&self, window: u64) -> bool {
        self.window == window && !self.in_flight && (self.refresh || self.mine != Counts::default())
    }
}
