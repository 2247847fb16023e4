//! Local rate limiting: requests per minute and tokens per minute over a fixed one-minute
//! window, as pure functions over a 24-byte state the shell keeps in proxy-wasm shared data.
//!
//! Shared data is one store for all worker threads of an Envoy (per `vm_id`), with a
//! compare-and-swap version on every key. The shell reads the state and its CAS version,
//! calls [`try_acquire`], and writes the new state back with that version; on `CasMismatch`
//! another worker won the race and it starts over. The functions here never see the host, so
//! the accounting is tested natively.
//!
//! A window opens at the first request after the previous one expired (not on minute
//! boundaries), so a burst is counted in one window. Tokens are charged twice: an estimate of
//! the input when the request is admitted, then [`settle`] replaces the estimate by what the
//! answer reports: input + output, with the prompt-cache reads and writes weighted
//! ([`TokenWeights`]).

use crate::translate::usage::TokenCounts;

/// The shared-data key of one bucket: limits hold per tenant, per Bedrock region and per
/// model.
pub fn bucket_key(region: &str, tenant: &str, bedrock_model: &str) -> String {
    format!("bedrock_openai/ratelimit/{region}/{tenant}/{bedrock_model}")
}

/// Window length: the limits are per minute.
pub const WINDOW_MS: u64 = 60_000;
const STATE_LEN: usize = 24;

/// Configured limits for one bucket; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        self.requests_per_minute.is_none() && self.tokens_per_minute.is_none()
    }

    /// Field by field: `self` where set, else `fallback`.
    pub fn or(self, fallback: Limits) -> Limits {
        Limits {
            requests_per_minute: self.requests_per_minute.or(fallback.requests_per_minute),
            tokens_per_minute: self.tokens_per_minute.or(fallback.tokens_per_minute),
        }
    }
}

/// What a prompt-cache token weighs against `tokens_per_minute`, in thousandths of an
/// ordinary token (config `token_weights`; integers, so settling needs no floating point).
/// The defaults follow Bedrock's prices for Anthropic models: a cache read costs a tenth of an
/// input token, a cache write a quarter more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenWeights {
    pub cache_read_milli: u32,
    pub cache_write_milli: u32,
}

impl Default for TokenWeights {
    fn default() -> Self {
        Self {
            cache_read_milli: 100,
            cache_write_milli: 1250,
        }
    }
}

impl TokenWeights {
    /// What the answer costs: uncached input and output one each, cache reads and writes
    /// weighted (each part rounded up), saturating.
    pub fn cost(&self, t: &TokenCounts) -> u64 {
        let weigh = |n: u64, milli: u32| {
            let w = (u128::from(n) * u128::from(milli)).div_ceil(1000);
            u64::try_from(w).unwrap_or(u64::MAX)
        };
        t.uncached_input
            .saturating_add(t.output)
            .saturating_add(weigh(t.cache_read, self.cache_read_milli))
            .saturating_add(weigh(t.cache_write, self.cache_write_milli))
    }
}

/// One window's counters. `start_ms` is 0 before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub start_ms: u64,
    pub requests: u64,
    pub tokens: u64,
}

impl Window {
    /// Decodes a stored state; anything that is not exactly one encoded window (absent,
    /// empty initial value, a format from another version) counts as a fresh window.
    pub fn decode(bytes: Option<&[u8]>) -> Window {
        let Some(b) = bytes.filter(|b| b.len() == STATE_LEN) else {
            return Window::default();
        };
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        Window {
            start_ms: word(0),
            requests: word(1),
            tokens: word(2),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STATE_LEN);
        out.extend_from_slice(&self.start_ms.to_be_bytes());
        out.extend_from_slice(&self.requests.to_be_bytes());
        out.extend_from_slice(&self.tokens.to_be_bytes());
        out
    }

    /// The window in force at `now_ms`: this one, or a fresh one if it expired.
    fn current(self, now_ms: u64) -> Window {
        if self.start_ms == 0 || now_ms >= self.start_ms.saturating_add(WINDOW_MS) {
            Window {
                start_ms: now_ms.max(1),
                requests: 0,
                tokens: 0,
            }
        } else {
            self
        }
    }

    fn reset_ms(&self, now_ms: u64) -> u64 {
        self.start_ms
            .saturating_add(WINDOW_MS)
            .saturating_sub(now_ms)
    }
}

/// One dimension (requests or tokens) as reported in the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the window resets.
    pub reset_ms: u64,
}

/// The outcome of [`try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Present when a request limit applies.
    pub requests: Option<Quota>,
    /// Present when a token limit applies.
    pub tokens: Option<Quota>,
    /// Start of the window the request was counted in (for [`settle`]).
    pub window_start_ms: u64,
}

impl Decision {
    /// Whole seconds to wait before retrying (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self) -> u64 {
        let ms = [self.requests, self.tokens]
            .into_iter()
            .flatten()
            .map(|q| q.reset_ms)
            .max()
            .unwrap_or(0);
        ms.div_ceil(1000).max(1)
    }

    /// The `x-ratelimit-*` headers, OpenAI's names and formats (`reset` as a duration such
    /// as `1m30s` or `250ms`). Empty when no limit applies.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (suffix, quota) in [("requests", self.requests), ("tokens", self.tokens)] {
            if let Some(q) = quota {
                out.push((format!("x-ratelimit-limit-{suffix}"), q.limit.to_string()));
                out.push((
                    format!("x-ratelimit-remaining-{suffix}"),
                    q.remaining.to_string(),
                ));
                out.push((format!("x-ratelimit-reset-{suffix}"), duration(q.reset_ms)));
            }
        }
        if !self.allowed {
            out.push(("retry-after".into(), self.retry_after_secs().to_string()));
        }
        out
    }
}

/// `90500` → `1m30.5s`, `250` → `250ms`, `0` → `0s`: the duration strings OpenAI sends.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (mins, rest) = (ms / 60_000, ms % 60_000);
    let secs = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let s = format!("{}.{:03}", rest / 1000, rest % 1000);
        format!("{}s", s.trim_end_matches('0'))
    };
    if mins > 0 {
        format!("{mins}m{secs}")
    } else {
        secs
    }
}

/// Admits one request costing `estimated_tokens` if both limits have room, counting it; a
/// refused request is not counted. Returns the state to write back and the decision.
pub fn try_acquire(
    state: Option<&[u8]>,
    limits: Limits,
    now_ms: u64,
    estimated_tokens: u64,
) -> (Vec<u8>, Decision) {
    let mut w = Window::decode(state).current(now_ms);
    let requests_ok = limits
        .requests_per_minute
        .is_none_or(|l| w.requests.saturating_add(1) <= l);
    let tokens_ok = limits
        .tokens_per_minute
        .is_none_or(|l| w.tokens.saturating_add(estimated_tokens) <= l);
    let allowed = requests_ok && tokens_ok;
    if allowed {
        w.requests = w.requests.saturating_add(1);
        w.tokens = w.tokens.saturating_add(estimated_tokens);
    }
    let reset_ms = w.reset_ms(now_ms);
    let quota = |limit: Option<u64>, used: u64| {
        limit.map(|limit| Quota {
            limit,
            remaining: limit.saturating_sub(used),
            reset_ms,
        })
    };
    let decision = Decision {
        allowed,
        requests: quota(limits.requests_per_minute, w.requests),
        tokens: quota(limits.tokens_per_minute, w.tokens),
        window_start_ms: w.start_ms,
    };
    (w.encode(), decision)
}

/// Replaces a request's token estimate by its real usage (`actual_tokens`, the
/// [`TokenWeights::cost`] of what Bedrock reported; 0 for a failed call). If the request's window is over, the real usage is charged to the
/// window in force now.
pub fn settle(
    state: Option<&[u8]>,
    now_ms: u64,
    window_start_ms: u64,
    estimated_tokens: u64,
    actual_tokens: u64,
) -> Vec<u8> {
    let stored = Window::decode(state);
    let mut w = stored.current(now_ms);
    if w.start_ms == window_start_ms && stored.start_ms == window_start_ms {
        w.tokens = w
            .tokens
            .saturating_sub(estimated_tokens)
            .saturating_add(actual_tokens);
    } else {
        w.tokens = w.tokens.saturating_add(actual_tokens);
    }
    w.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn limits(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
        Limits {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
        }
    }

    /// Runs `n` acquisitions at `now` through the encoded state, like the shell does.
    fn run(state: &mut Option<Vec<u8>>, l: Limits, now: u64, cost: u64) -> Decision {
        let (next, d) = try_acquire(state.as_deref(), l, now, cost);
        *state = Some(next);
        d
    }

    #[test]
    fn counts_requests_exactly_and_refuses_without_counting() {
        let l = limits(Some(3), None);
        let mut s = None;
        let allowed: Vec<bool> = (0..5)
            .map(|i| run(&mut s, l, T0 + i * 10, 0).allowed)
            .collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        assert_eq!(Window::decode(s.as_deref()).requests, 3);
        let d = run(&mut s, l, T0 + 1000, 0);
        assert_eq!(
            d.requests,
            Some(Quota {
                limit: 3,
                remaining: 0,
                reset_ms: 59_000
            })
        );
        assert!(d.tokens.is_none());
        assert_eq!(d.retry_after_secs(), 59);
    }

    #[test]
    fn window_resets_after_a_minute_from_its_first_request() {
        let l = limits(Some(1), None);
        let mut s = None;
        assert!(run(&mut s, l, T0 + 5_000, 0).allowed);
        assert!(!run(&mut s, l, T0 + 64_999, 0).allowed);
        let d = run(&mut s, l, T0 + 65_000, 0);
        assert!(d.allowed);
        assert_eq!(d.window_start_ms, T0 + 65_000);
        assert_eq!(d.requests.unwrap().reset_ms, WINDOW_MS);
    }

    #[test]
    fn tokens_are_estimated_then_settled() {
        let l = limits(None, Some(100));
        let mut s = None;
        let d = run(&mut s, l, T0, 60);
        assert!(d.allowed);
        assert_eq!(d.tokens.unwrap().remaining, 40);
        // a second 60-token estimate does not fit
        assert!(!run(&mut s, l, T0 + 1, 60).allowed);
        // the first request really used 30 tokens
        s = Some(settle(s.as_deref(), T0 + 2, d.window_start_ms, 60, 30));
        assert_eq!(Window::decode(s.as_deref()).tokens, 30);
        assert!(run(&mut s, l, T0 + 3, 60).allowed);
        assert_eq!(Window::decode(s.as_deref()).tokens, 90);
        // a failed call refunds its estimate
        s = Some(settle(s.as_deref(), T0 + 4, d.window_start_ms, 60, 0));
        assert_eq!(Window::decode(s.as_deref()).tokens, 30);
    }

    #[test]
    fn cache_tokens_are_weighted() {
        let t = TokenCounts {
            uncached_input: 2,
            output: 5,
            cache_read: 1322,
            cache_write: 10,
        };
        // 2 + 5 + ceil(132.2) + ceil(12.5)
        assert_eq!(TokenWeights::default().cost(&t), 2 + 5 + 133 + 13);
        let even = TokenWeights {
            cache_read_milli: 1000,
            cache_write_milli: 1000,
        };
        assert_eq!(even.cost(&t), t.total());
        let free = TokenWeights {
            cache_read_milli: 0,
            cache_write_milli: 0,
        };
        assert_eq!(free.cost(&t), 7);
        let huge = TokenCounts {
            cache_read: u64::MAX,
            ..t
        };
        assert_eq!(
            TokenWeights::default().cost(&huge),
            u64::MAX / 10 + 1 + 7 + 13
        );
        let max = TokenWeights {
            cache_read_milli: 100_000,
            cache_write_milli: 100_000,
        };
        assert_eq!(max.cost(&huge), u64::MAX);
        // Settling charges the weighted cost, not the estimate.
        let l = limits(None, Some(1000));
        let mut s = None;
        let d = run(&mut s, l, T0, 400);
        s = Some(settle(
            s.as_deref(),
            T0 + 1,
            d.window_start_ms,
            400,
            TokenWeights::default().cost(&t),
        ));
        assert_eq!(Window::decode(s.as_deref()).tokens, 153);
    }

    #[test]
    fn settling_after_the_window_charges_the_new_one() {
        let l = limits(None, Some(100));
        let mut s = None;
        let d = run(&mut s, l, T0, 50);
        let next = settle(s.as_deref(), T0 + WINDOW_MS + 1, d.window_start_ms, 50, 70);
        let w = Window::decode(Some(&next));
        assert_eq!(
            (w.start_ms, w.requests, w.tokens),
            (T0 + WINDOW_MS + 1, 0, 70)
        );
    }

    #[test]
    fn both_limits_must_have_room() {
        let l = limits(Some(10), Some(10));
        let mut s = None;
        assert!(run(&mut s, l, T0, 10).allowed);
        let d = run(&mut s, l, T0, 1);
        assert!(!d.allowed);
        assert_eq!(Window::decode(s.as_deref()).requests, 1, "refusal counted");
        assert_eq!(d.requests.unwrap().remaining, 9);
        assert_eq!(d.tokens.unwrap().remaining, 0);
    }

    #[test]
    fn unlimited_and_garbage_state() {
        let mut s = Some(b"garbage".to_vec());
        let d = run(&mut s, Limits::default(), T0, 1_000_000);
        assert!(d.allowed && d.requests.is_none() && d.tokens.is_none());
        assert!(d.headers().is_empty());
        assert_eq!(Window::decode(s.as_deref()).requests, 1);
    }

    #[test]
    fn headers_use_openai_names_and_durations() {
        let mut s = None;
        let l = limits(Some(1), Some(1000));
        run(&mut s, l, T0, 10);
        let d = run(&mut s, l, T0 + 29_500, 10);
        let h: std::collections::BTreeMap<_, _> = d.headers().into_iter().collect();
        assert_eq!(h["x-ratelimit-limit-requests"], "1");
        assert_eq!(h["x-ratelimit-remaining-requests"], "0");
        assert_eq!(h["x-ratelimit-reset-requests"], "30.5s");
        assert_eq!(h["x-ratelimit-limit-tokens"], "1000");
        assert_eq!(h["x-ratelimit-remaining-tokens"], "990");
        assert_eq!(h["retry-after"], "31");
        for (ms, s) in [
            (0, "0s"),
            (250, "250ms"),
            (1000, "1s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (59_999, "59.999s"),
        ] {
            assert_eq!(duration(ms), s);
        }
    }

    #[test]
    fn state_round_trips() {
        let w = Window {
            start_ms: T0,
            requests: 7,
            tokens: u64::MAX,
        };
        assert_eq!(Window::decode(Some(&w.encode())), w);
        assert_eq!(Window::decode(Some(b"")), Window::default());
    }
}
