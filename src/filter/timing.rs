//! Where a request's time goes inside the module, for `make bench-phases` only: built with
//! `--features phase-timing`, each callback (and the core's translation inside it) is timed
//! with the host clock (the core's own parts through `Host::clock_ns` and `Effect::Timing`),
//! so are the shell's host calls by kind (`x_…`: they include Envoy's work for the call, and
//! overlap the callbacks they run in), and every host call is counted by kind ([`count`]);
//! the totals and their report are [`crate::accounting::phases`].
//! Without the feature, [`phase`] is the closure itself and nothing is recorded.

#[cfg(feature = "phase-timing")]
mod on {
    use std::cell::RefCell;

    use crate::accounting::phases::PhaseTotals;

    thread_local! {
        static TOTALS: RefCell<PhaseTotals> = RefCell::default();
    }

    /// The host clock, read without being counted as the request's own host call.
    fn now_ns() -> u64 {
        proxy_wasm::hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// One host call of kind `what` (`get_map`, `set_map_value`, `set_property`, …).
    pub fn count(what: &'static str) {
        TOTALS.with(|t| t.borrow_mut().count(what));
    }

    pub fn phase<T>(label: &'static str, f: impl FnOnce() -> T) -> T {
        let t0 = now_ns();
        let out = f();
        record(label, now_ns().saturating_sub(t0));
        out
    }

    /// The host clock in ns, for the core's own sub-phases ([`crate::pipeline::Host::clock_ns`]).
    pub fn clock_ns() -> Option<u64> {
        Some(now_ns())
    }

    /// Adds time the core measured (an `Effect::Timing`).
    pub fn record(label: &'static str, ns: u64) {
        TOTALS.with(|t| t.borrow_mut().add(label, ns));
    }

    pub fn request_done() {
        if let Some(line) = TOTALS.with(|t| t.borrow_mut().request_done()) {
            log::warn!("{line}");
        }
    }
}

#[cfg(feature = "phase-timing")]
pub use on::{clock_ns, count, phase, record, request_done};

#[cfg(not(feature = "phase-timing"))]
#[inline(always)]
pub fn phase<T>(_label: &'static str, f: impl FnOnce() -> T) -> T {
    f()
}

#[cfg(not(feature = "phase-timing"))]
#[inline(always)]
pub fn request_done() {}

#[cfg(not(feature = "phase-timing"))]
#[inline(always)]
pub fn clock_ns() -> Option<u64> {
    None
}

#[cfg(not(feature = "phase-timing"))]
#[inline(always)]
pub fn record(_label: &'static str, _ns: u64) {}

#[cfg(not(feature = "phase-timing"))]
#[inline(always)]
pub fn count(_what: &'static str) {}
