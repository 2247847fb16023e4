//! The root's clock. Envoy's dynamic-module ABI gives a filter configuration no timer, only a
//! scheduler whose `commit` may be called from any thread and runs
//! `on_http_filter_config_scheduled` on the main thread. So a thread of ours sleeps the tick
//! period and commits; it decides nothing and touches no state, every tick runs on the main
//! thread as the Wasm root's `on_tick` does.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::abi::*;

/// The event id of a tick.
pub const TICK: u64 = 1;
/// The event id of the start, committed at once: what the Wasm root does in `on_configure`
/// (the first key-table read), before the first tick one period later.
pub const START: u64 = 2;

/// Envoy's scheduler, handed to the ticker thread.
#[derive(Clone, Copy)]
struct Scheduler(ConfigSchedulerPtr);

// SAFETY: Envoy documents `config_scheduler_commit` as callable from any thread; the pointer
// is deleted only after the thread that commits through it has been joined (`Ticker::drop`).
unsafe impl Send for Scheduler {}
// SAFETY: as for `Send`: through a shared reference the pointer is only copied or committed,
// which Envoy allows from any thread; `delete` needs the `Ticker` by value (its `Drop`).
unsafe impl Sync for Scheduler {}

impl Scheduler {
    fn commit(self, event: u64) {
        // SAFETY: the scheduler is alive (see the `Send` impl); commit only posts an event.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_commit(self.0, event) }
    }
}

/// Set to stop the thread; the condition variable wakes it at once instead of after a period.
type Stop = Arc<(Mutex<bool>, Condvar)>;

/// A running ticker; dropping it stops and joins the thread, then deletes the scheduler, so
/// nothing commits once the configuration is gone.
pub struct Ticker {
    stop: Stop,
    thread: Option<JoinHandle<()>>,
    scheduler: Scheduler,
}

impl Ticker {
    /// Commits [`START`] at once, then [`TICK`] every `period`. `None` when Envoy gives no
    /// scheduler or no thread starts.
    pub fn start(config: HttpFilterConfigEnvoyPtr, period: Duration) -> Option<Self> {
        // SAFETY: Envoy's config pointer, inside `config_new` on the main thread.
        let raw = unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(config) };
        if raw.is_null() {
            log::error!("no scheduler for the filter configuration: nothing will be refreshed");
            return None;
        }
        let scheduler = Scheduler(raw);
        let stop: Stop = Arc::default();
        let thread_stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("bedrock-openai-tick".into())
            .spawn(move || run(scheduler, &thread_stop, period));
        match spawned {
            Ok(thread) => Some(Self {
                stop,
                thread: Some(thread),
                scheduler,
            }),
            Err(e) => {
                log::error!("the tick thread did not start ({e}): nothing will be refreshed");
                // SAFETY: created above, never shared.
                unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(raw) };
                None
            }
        }
    }
}

fn run(scheduler: Scheduler, stop: &Stop, period: Duration) {
    let (stopped, wake) = &**stop;
    scheduler.commit(START);
    loop {
        let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = wake
            .wait_timeout_while(guard, period, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        if *guard {
            return;
        }
        drop(guard);
        scheduler.commit(TICK);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: the only thread that committed through it has ended; deleted once.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_scheduler_delete(self.scheduler.0)
        }
    }
}
