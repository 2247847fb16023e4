//! The only user of `proxy_wasm::hostcalls`: every call returns `Result`/`Option` and logs
//! failures instead of panicking, so a host error never aborts the VM.

use std::cell::RefCell;
use std::time::SystemTime;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};

use super::timing;
use crate::accounting::metrics::{Kind, MetricIds, Metrics, Update};
use crate::headers::HeaderList;
use crate::upstream::side_call::SideCall;

pub fn critical(msg: &str) {
    let _ = hostcalls::log(LogLevel::Critical, msg);
}

fn warn_on<T>(what: &str, r: Result<T, proxy_wasm::types::Status>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(s) => {
            log::warn!("{what} failed: {s:?}");
            None
        }
    }
}

pub fn header(map: MapType, name: &str) -> Option<String> {
    timing::count("get_map_value");
    warn_on(name, hostcalls::get_map_value(map, name)).flatten()
}

/// The whole header map in one host call.
pub fn headers(map: MapType) -> HeaderList {
    timing::count("get_map");
    HeaderList::new(warn_on("get headers", hostcalls::get_map(map)).unwrap_or_default())
}

/// Writes back the headers that changed, one cheap host call each (a call that only takes
/// data costs a fifth of one that returns data); nothing if none did.
pub fn write_headers(map: MapType, headers: &mut HeaderList) {
    for (name, value) in headers.changes() {
        timing::count("set_map_value");
        warn_on(name, hostcalls::set_map_value(map, name, value));
    }
    headers.written();
}

/// Adds checked headers (or, with `HttpResponseTrailers` at the end of the body, trailers).
pub fn add_headers(map: MapType, headers: &HeaderList) {
    for (name, value) in headers.checked() {
        timing::count("add_map_value");
        warn_on(name, hostcalls::add_map_value(map, name, value));
    }
}

pub fn body(buffer: BufferType, size: usize) -> Vec<u8> {
    timing::count("get_buffer");
    warn_on("get body", hostcalls::get_buffer(buffer, 0, size))
        .flatten()
        .unwrap_or_default()
}

pub fn replace_body(buffer: BufferType, size: usize, value: &[u8]) {
    timing::count("set_buffer");
    warn_on("set body", hostcalls::set_buffer(buffer, 0, size, value));
}

/// A local reply with checked headers.
pub fn reply(status: u16, headers: &HeaderList, body: &[u8]) {
    timing::count("send_http_response");
    warn_on(
        "send local reply",
        hostcalls::send_http_response(u32::from(status), headers.checked().collect(), Some(body)),
    );
}

/// Creates `key` with an empty value unless it exists (any version).
pub fn shared_init(key: &str) {
    if let Some((_, None)) = warn_on(key, hostcalls::get_shared_data(key)) {
        warn_on(key, hostcalls::set_shared_data(key, Some(b""), None));
    }
}

/// Read-modify-write of one shared-data value across every worker's VM: `f` gets the current
/// bytes and returns the new bytes plus a result; the write carries the version read, and a
/// `CasMismatch` (another worker wrote in between) starts over. A key that does not exist yet
/// is first created empty and re-read, so even the first write is a compare-and-swap.
pub fn shared_update<T>(key: &str, mut f: impl FnMut(Option<&[u8]>) -> (Vec<u8>, T)) -> Option<T> {
    const ATTEMPTS: usize = 64;
    for _ in 0..ATTEMPTS {
        timing::count("get_shared_data");
        let (bytes, cas) = warn_on(key, hostcalls::get_shared_data(key))?;
        let Some(cas) = cas else {
            timing::count("set_shared_data");
            warn_on(key, hostcalls::set_shared_data(key, Some(b""), None));
            continue;
        };
        let (next, result) = f(bytes.as_deref());
        timing::count("set_shared_data");
        match hostcalls::set_shared_data(key, Some(&next), Some(cas)) {
            Ok(()) => return Some(result),
            Err(Status::CasMismatch) => continue,
            Err(e) => {
                log::warn!("set shared data {key} failed: {e:?}");
                return None;
            }
        }
    }
    log::warn!("shared data {key}: gave up after {ATTEMPTS} compare-and-swap conflicts");
    None
}

pub fn shared_get(key: &str) -> Option<Vec<u8>> {
    timing::count("get_shared_data");
    warn_on(key, hostcalls::get_shared_data(key)).and_then(|(b, _)| b)
}

thread_local! {
    /// This worker's metric ids, each name defined once (Envoy shares the stat).
    static METRIC_IDS: RefCell<MetricIds> = RefCell::new(MetricIds::default());
    /// Ids of the few metrics named outside any tenant and model ([`metric`]).
    static NAMED_METRIC_IDS: RefCell<std::collections::BTreeMap<String, u32>> =
        const { RefCell::new(std::collections::BTreeMap::new()) };
}

/// Adds to one metric named outside any tenant and model (rare: the fleet store's).
pub fn metric(update: &Update) {
    let id = NAMED_METRIC_IDS.with(|m| {
        if let Some(id) = m.borrow().get(&update.name) {
            return Some(*id);
        }
        let kind = match update.kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
        };
        let id = warn_on(&update.name, hostcalls::define_metric(kind, &update.name))?;
        m.borrow_mut().insert(update.name.clone(), id);
        Some(id)
    });
    let Some(id) = id else { return };
    let r = match update.kind {
        Kind::Counter => {
            hostcalls::increment_metric(id, i64::try_from(update.value).unwrap_or(i64::MAX))
        }
        Kind::Histogram => hostcalls::record_metric(id, update.value),
    };
    warn_on(&update.name, r);
}

/// Adds a finished request's metrics, defining a name only the first time this worker sees it.
pub fn metrics(m: &Metrics) {
    let mut define = |kind: Kind, name: &str| {
        timing::count("define_metric");
        let kind = match kind {
            Kind::Counter => MetricType::Counter,
            Kind::Histogram => MetricType::Histogram,
        };
        warn_on(name, hostcalls::define_metric(kind, name))
    };
    METRIC_IDS.with(|ids| {
        let Ok(mut ids) = ids.try_borrow_mut() else {
            return;
        };
        for (stat, value) in &m.values {
            let (tenant, model) = (m.tenant.as_deref(), m.model.as_deref());
            let Some(id) = ids.id(tenant, model, stat, &mut define) else {
                continue;
            };
            timing::count("increment_or_record_metric");
            let r = match stat.kind() {
                Kind::Counter => {
                    hostcalls::increment_metric(id, i64::try_from(*value).unwrap_or(i64::MAX))
                }
                Kind::Histogram => hostcalls::record_metric(id, *value),
            };
            if r.is_err() {
                warn_on(&m.name(stat), r);
            }
        }
    });
}

/// Sets filter state `wasm.<name>` (read by the access log as `%FILTER_STATE(wasm.<name>:PLAIN)%`).
pub fn set_property(name: &str, value: &str) {
    timing::count("set_property");
    warn_on(
        name,
        hostcalls::set_property(vec![name], Some(value.as_bytes())),
    );
}

pub fn now() -> SystemTime {
    timing::count("get_current_time");
    warn_on("get time", hostcalls::get_current_time()).unwrap_or_else(SystemTime::now)
}

pub fn plugin_configuration() -> Option<Vec<u8>> {
    warn_on(
        "get plugin configuration",
        hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX),
    )
    .flatten()
}

pub fn set_tick_period(period: std::time::Duration) {
    warn_on("set tick period", hostcalls::set_tick_period(period));
}

/// `:status` of a side call's answer; `None` when the call failed (reset, timeout).
/// The `:status` of a side call's answer; `None` when the call failed (`num_headers` 0: a
/// reset, a timeout, no healthy host). Envoy has no header map then, and proxy-wasm panics
/// on the `BadArgument` it answers, so the map must not be read.
pub fn call_response_status(num_headers: usize) -> Option<u16> {
    if num_headers == 0 {
        return None;
    }
    header(MapType::HttpCallResponseHeaders, ":status").and_then(|s| s.parse().ok())
}

/// A side call's answer headers; empty when the call failed (see [`call_response_status`]).
pub fn call_response_headers(num_headers: usize) -> HeaderList {
    if num_headers == 0 {
        return HeaderList::default();
    }
    headers(MapType::HttpCallResponseHeaders)
}

pub fn call_response_body(size: usize) -> Vec<u8> {
    body(BufferType::HttpCallResponseBody, size)
}

/// Dispatches a side call ([`SideCall`]: credentials refresh, key table read, STS check)
/// through its Envoy cluster; the token comes back in `on_http_call_response`. `None`
/// (logged) when Envoy refuses it, e.g. an unknown cluster.
pub fn dispatch(call: &SideCall) -> Option<u32> {
    timing::count("dispatch_http_call");
    let headers = HeaderList::from_pairs(call.all_headers());
    let body = (!call.body.is_empty()).then_some(call.body.as_slice());
    warn_on(
        &format!("dispatch_http_call to cluster `{}`", call.cluster),
        hostcalls::dispatch_http_call(
            &call.cluster,
            headers.checked().collect(),
            body,
            vec![],
            call.timeout,
        ),
    )
}

pub fn resume_request() {
    timing::count("resume_http_request");
    warn_on("resume request", hostcalls::resume_http_request());
}

/// Tells Envoy a root context that returned `false` from `on_done` has finished.
pub fn done() {
    warn_on("done", hostcalls::done());
}
