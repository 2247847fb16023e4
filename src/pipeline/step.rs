//! The contract between the pipeline and the shell. Each callback of [`super::Flow`] returns
//! an [`Output`]: what to do with the stream ([`Step`]) and what to write ([`Effect`]s, applied
//! in order). Anything whose answer the pipeline needs inside the callback (shared data with
//! compare-and-swap, dispatching a side call, the clock) goes through the [`Host`] trait, which
//! the shell implements with host calls and tests with [`MemoryHost`].

use std::collections::HashMap;
use std::time::SystemTime;

use crate::accounting::metrics::Metrics;
use crate::headers::HeaderList;
use crate::upstream::side_call::SideCall;

/// What Envoy does with the stream after a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Let the headers or data go on.
    Continue,
    /// Hold them (buffering, waiting for STS, holding a response head).
    Pause,
    /// Answer the client with this; nothing (more) goes upstream.
    Reply(Reply),
}

/// A response the filter makes itself. Its headers were set through [`HeaderList::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderList,
    pub body: Vec<u8>,
}

/// Something for the shell to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write back the changes of [`super::Flow::request_headers`].
    RequestHeaders,
    /// Replace the first `replaced` bytes of the request body (all that was buffered).
    RequestBody { replaced: usize, body: Vec<u8> },
    /// Write back the changes of [`super::Flow::response_headers`].
    ResponseHeaders,
    /// Replace the first `replaced` bytes of the response body (this chunk, or all that was
    /// buffered).
    ResponseBody { replaced: usize, body: Vec<u8> },
    /// Add these response trailers (Envoy creates the map at the end of the body).
    Trailers(HeaderList),
    /// Resume a request held while STS was asked.
    ResumeRequest,
    /// Update the finished request's metrics.
    Metrics(Metrics),
    /// Update one metric named outside any tenant and model (the fleet store's).
    Metric(crate::accounting::metrics::Update),
    /// Set filter state `wasm.<name>` for the access log.
    LogField(&'static str, String),
    /// Nanoseconds spent in a part of the core (only with a [`Host::clock_ns`]).
    Timing(&'static str, u64),
}

/// A callback's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub step: Step,
    pub effects: Vec<Effect>,
}

impl Output {
    pub fn new(step: Step) -> Self {
        Self {
            step,
            effects: Vec::new(),
        }
    }

    pub fn with(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }
}

/// What the pipeline asks of Envoy and needs the answer to.
pub trait Host {
    /// The wall clock (Envoy's).
    fn now(&self) -> SystemTime;
    /// A monotonic-enough nanosecond clock for phase timing; `None` when not timing.
    fn clock_ns(&self) -> Option<u64> {
        None
    }
    /// A shared-data value (all workers).
    fn shared_get(&self, key: &str) -> Option<Vec<u8>>;
    /// Read-modify-write of a shared-data value with compare-and-swap, retried on conflict.
    /// `false` when the store failed (the caller decides whether to fail open).
    fn shared_update(&mut self, key: &str, f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> bool;
    /// Dispatches a side call; its answer comes back to
    /// [`super::Flow::on_side_call_answer`] with the returned token.
    fn dispatch(&mut self, call: &SideCall) -> Option<u32>;
}

/// Milliseconds since the epoch.
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An in-memory [`Host`] for tests (and the fuzz and bench harnesses): shared data in a map,
/// side calls recorded, a settable clock.
#[derive(Debug, Default)]
pub struct MemoryHost {
    pub now: Option<SystemTime>,
    pub shared: HashMap<String, Vec<u8>>,
    pub calls: Vec<SideCall>,
    /// Make every shared-data update fail (a broken store).
    pub shared_fails: bool,
    /// Make every dispatch fail (an unknown cluster).
    pub dispatch_fails: bool,
}

impl Host for MemoryHost {
    fn now(&self) -> SystemTime {
        self.now
            .unwrap_or(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
    }

    fn shared_get(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.get(key).cloned()
    }

    fn shared_update(&mut self, key: &str, f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) -> bool {
        if self.shared_fails {
            return false;
        }
        let next = f(self.shared.get(key).map(Vec::as_slice));
        self.shared.insert(key.to_string(), next);
        true
    }

    fn dispatch(&mut self, call: &SideCall) -> Option<u32> {
        if self.dispatch_fails {
            return None;
        }
        self.calls.push(call.clone());
        u32::try_from(self.calls.len()).ok()
    }
}
