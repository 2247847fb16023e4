//! The dynamic-module shell (issue 21's native build): the same core as an Envoy dynamic module
//! (`envoy.filters.http.dynamic_modules`, Envoy 1.40), loaded with `dlopen` instead of run in
//! a Wasm VM. It drives [`crate::pipeline::Flow`] exactly as `src/filter/` does, with Envoy's
//! C ABI ([`abi`]) in place of proxy-wasm's host calls.
//!
//! Built with `make dynamic-module` (`--features dynamic-module`, profile `dynamic-module`: release with
//! `panic = "unwind"`, so that a panic in a hook is caught at the boundary and answered as a
//! 500 instead of aborting Envoy). The Wasm root context's timer work (credentials refresh,
//! key table, fleet writer) runs in [`root`], ticked on the main thread by [`ticker`]. Not in
//! it: response trailers, which the ABI cannot create.
//!
//! This file holds the event hooks Envoy resolves by name; each one only finds the module's
//! object behind Envoy's pointer and hands over.

mod abi;
mod config;
mod filter;
mod host;
mod logger;
mod root;
mod shared;
mod ticker;
mod timing;

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi::*;
use config::ModuleConfig;
use filter::{Filter, Verdict};

/// What the module reports at load: the ABI it was written against (Envoy only warns when its
/// own differs; within a minor ABI version it stays compatible).
static ABI_VERSION: &[u8] = b"v0.1.0\0";

/// Runs a hook, turning a panic into `on_panic()` (logged) instead of unwinding into Envoy.
fn guard<T>(what: &str, on_panic: impl FnOnce() -> T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            log::error!("panic in {what}: answered as an internal error");
            on_panic()
        }
    }
}

/// The module's filter behind Envoy's pointer.
///
/// # Safety
/// `ptr` must be a pointer returned by [`envoy_dynamic_module_on_http_filter_new`] and not
/// yet destroyed; Envoy calls a filter's hooks from one worker thread, one at a time.
unsafe fn filter<'a>(ptr: HttpFilterModulePtr) -> Option<&'a mut Filter> {
    // SAFETY: the caller's contract.
    unsafe { (ptr as *mut Filter).as_mut() }
}

/// A filter hook: runs `f` on the filter; a missing filter or a panic answers 500 and stops.
fn on_filter(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    what: &str,
    f: impl FnOnce(&mut Filter) -> Verdict,
) -> Verdict {
    let failed = || {
        host::internal_error(envoy);
        Verdict::Replied
    };
    // SAFETY: Envoy passes back the pointer `on_http_filter_new` returned.
    match unsafe { filter(module) } {
        Some(fl) => guard(what, failed, || f(fl)),
        None => failed(),
    }
}

fn headers_status(v: Verdict) -> u32 {
    match v {
        Verdict::Continue => HEADERS_CONTINUE,
        Verdict::Hold | Verdict::Replied => HEADERS_STOP_ITERATION,
    }
}

fn body_status(v: Verdict) -> u32 {
    match v {
        Verdict::Continue => BODY_CONTINUE,
        Verdict::Hold => BODY_STOP_AND_BUFFER,
        Verdict::Replied => BODY_STOP_NO_BUFFER,
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const u8 {
    logger::install();
    ABI_VERSION.as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: HttpFilterConfigEnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> HttpFilterConfigModulePtr {
    guard("config_new", std::ptr::null, || {
        // SAFETY: Envoy's buffer, valid during this call.
        let bytes = unsafe { config.as_slice() };
        let metrics = host::MetricDefs::define(config_envoy);
        match ModuleConfig::new(config_envoy, bytes, metrics) {
            Some(c) => Box::into_raw(Box::new(c)) as HttpFilterConfigModulePtr,
            None => std::ptr::null(),
        }
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(
    config: HttpFilterConfigModulePtr,
) {
    if !config.is_null() {
        // SAFETY: the pointer `config_new` returned, destroyed once.
        let mut c = unsafe { Box::from_raw(config as *mut ModuleConfig) };
        guard("config_destroy", || (), || c.shutdown());
    }
}

/// The configuration behind Envoy's pointer.
///
/// # Safety
/// `ptr` must be a pointer returned by [`envoy_dynamic_module_on_http_filter_config_new`]
/// and not yet destroyed.
unsafe fn module_config<'a>(ptr: HttpFilterConfigModulePtr) -> Option<&'a ModuleConfig> {
    // SAFETY: the caller's contract.
    unsafe { (ptr as *const ModuleConfig).as_ref() }
}

/// A root event (start, tick), on the main thread ([`ticker`] commits it).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: HttpFilterConfigEnvoyPtr,
    config: HttpFilterConfigModulePtr,
    event_id: u64,
) {
    // SAFETY: Envoy passes back the pointer `config_new` returned, while it is alive.
    if let Some(c) = unsafe { module_config(config) } {
        guard(
            "config_scheduled",
            || (),
            || c.on_scheduled(config_envoy, event_id),
        );
    }
}

/// The answer to one of the root's side calls, on the main thread.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    config_envoy: HttpFilterConfigEnvoyPtr,
    config: HttpFilterConfigModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    // SAFETY: Envoy's arrays, valid during this call.
    let (headers, body) =
        unsafe { callout_answer(result, headers, headers_size, body_chunks, body_chunks_size) };
    // SAFETY: Envoy passes back the pointer `config_new` returned, while it is alive.
    if let Some(c) = unsafe { module_config(config) } {
        guard(
            "config_http_callout_done",
            || (),
            || c.on_answer(config_envoy, callout_id, &headers, &body),
        );
    }
}

/// A side call's headers and body; both empty when it failed (reset, timeout, too large).
///
/// # Safety
/// The arrays must be Envoy's, valid during the hook (or null).
unsafe fn callout_answer(
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) -> (crate::headers::HeaderList, Vec<u8>) {
    if result != CALLOUT_SUCCESS {
        return Default::default();
    }
    // SAFETY: the caller's contract.
    unsafe {
        (
            host::header_list(headers, headers_size),
            host::join_chunks(body_chunks, body_chunks_size),
        )
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
    _name: EnvoyBuffer,
    _config: EnvoyBuffer,
) -> *const c_void {
    log::error!("the bedrock-openai dynamic module has no per-route configuration");
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(_: *const c_void) {}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: HttpFilterConfigModulePtr,
    envoy: HttpFilterEnvoyPtr,
) -> HttpFilterModulePtr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static IDS: AtomicU32 = AtomicU32::new(1);
    guard("filter_new", std::ptr::null, || {
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: Envoy keeps the filter config alive while its filters live.
        let f = unsafe { Filter::new(config as *const ModuleConfig, envoy, id) };
        Box::into_raw(Box::new(f)) as HttpFilterModulePtr
    })
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    headers_status(on_filter(envoy, module, "request_headers", |f| {
        f.on_request_headers(end_of_stream)
    }))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    body_status(on_filter(envoy, module, "request_body", |f| {
        f.on_request_body(end_of_stream)
    }))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    headers_status(on_filter(envoy, module, "response_headers", |f| {
        f.on_response_headers(end_of_stream)
    }))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    body_status(on_filter(envoy, module, "response_body", |f| {
        f.on_response_body(end_of_stream)
    }))
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
) {
    // SAFETY: Envoy passes back the pointer `on_http_filter_new` returned.
    if let Some(f) = unsafe { filter(module) } {
        guard("stream_complete", || (), || f.on_stream_complete());
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(module: HttpFilterModulePtr) {
    if !module.is_null() {
        // SAFETY: the pointer `on_http_filter_new` returned, destroyed once.
        drop(unsafe { Box::from_raw(module as *mut Filter) });
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    envoy: HttpFilterEnvoyPtr,
    module: HttpFilterModulePtr,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    // SAFETY: Envoy's arrays, valid during this call.
    let (headers, body) =
        unsafe { callout_answer(result, headers, headers_size, body_chunks, body_chunks_size) };
    // SAFETY: Envoy passes back the pointer `on_http_filter_new` returned.
    if let Some(f) = unsafe { filter(module) } {
        let failed = || host::internal_error(envoy);
        guard("http_callout_done", failed, || {
            f.on_callout_done(callout_id, &headers, &body)
        });
    }
}

unused_hooks!();
