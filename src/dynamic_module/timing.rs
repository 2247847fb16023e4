//! `make bench-phases-native`: with `--features phase-timing`, each hook and each kind of
//! ABI call is timed with the monotonic clock and counted, into the same totals and report as
//! the Wasm shell's ([`crate::accounting::phases`]). Without the feature, [`phase`] is the
//! closure itself and nothing is recorded.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use crate::accounting::phases::PhaseTotals;

const ON: bool = cfg!(feature = "phase-timing");

thread_local! {
    static TOTALS: RefCell<PhaseTotals> = RefCell::default();
}

fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `f`, adding its time to `label`.
#[inline(always)]
pub fn phase<T>(label: &'static str, f: impl FnOnce() -> T) -> T {
    if !ON {
        return f();
    }
    let t0 = now_ns();
    let out = f();
    record(label, now_ns().saturating_sub(t0));
    out
}

/// One ABI call of kind `what`.
#[inline(always)]
pub fn count(what: &'static str) {
    if ON {
        TOTALS.with(|t| t.borrow_mut().count(what));
    }
}

/// The clock for the core's own sub-phases ([`crate::pipeline::Host::clock_ns`]).
pub fn clock_ns() -> Option<u64> {
    ON.then(now_ns)
}

/// Adds time the core measured (an `Effect::Timing`).
pub fn record(label: &'static str, ns: u64) {
    if ON {
        TOTALS.with(|t| t.borrow_mut().add(label, ns));
    }
}

pub fn request_done() {
    if ON {
        if let Some(line) = TOTALS.with(|t| t.borrow_mut().request_done()) {
            log::warn!("{line}");
        }
    }
}
