//! Where a request's time goes inside the module, for `make bench-phases`: each shell times
//! its callbacks and host calls with its own clock (`--features phase-timing`) and adds them
//! here; every [`REPORT_EVERY`] requests the worker logs the mean µs per request of each
//! phase and the host calls per request by kind.

use std::collections::BTreeMap;

/// Requests between two report lines.
pub const REPORT_EVERY: u64 = 5_000;

/// One worker's totals since it started.
#[derive(Debug, Default)]
pub struct PhaseTotals {
    requests: u64,
    ns: BTreeMap<&'static str, u64>,
    calls: BTreeMap<&'static str, u64>,
}

impl PhaseTotals {
    /// Nanoseconds spent in `label` (a callback, a host call kind `x_…`, a core part).
    pub fn add(&mut self, label: &'static str, ns: u64) {
        *self.ns.entry(label).or_default() += ns;
    }

    /// One host call of kind `what`.
    pub fn count(&mut self, what: &'static str) {
        *self.calls.entry(what).or_default() += 1;
    }

    /// A request is over; every [`REPORT_EVERY`] requests, the report line to log.
    pub fn request_done(&mut self) -> Option<String> {
        self.requests += 1;
        if !self.requests.is_multiple_of(REPORT_EVERY) {
            return None;
        }
        let n = self.requests as f64;
        let per = |m: &BTreeMap<&str, u64>, scale: f64| -> Vec<String> {
            m.iter()
                .map(|(k, v)| format!("{k}={:.2}", *v as f64 / n / scale))
                .collect()
        };
        Some(format!(
            "phase-timing requests={} µs/request: {} | host calls/request: {}",
            self.requests,
            per(&self.ns, 1_000.0).join(" "),
            per(&self.calls, 1.0).join(" ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_means_per_request_every_report_every_requests() {
        let mut t = PhaseTotals::default();
        for i in 0..REPORT_EVERY {
            t.add("1_request_headers", 3_000);
            t.count("get_map");
            t.count("get_map");
            let line = t.request_done();
            assert_eq!(line.is_some(), i + 1 == REPORT_EVERY);
            if let Some(line) = line {
                assert!(line.contains("1_request_headers=3.00"), "{line}");
                assert!(line.contains("get_map=2.00"), "{line}");
            }
        }
    }
}
