//! The only user of `proxy_wasm::hostcalls`: every call returns `Result`/`Option` and logs
//! failures instead of panicking, so a host error never aborts the VM.

use std::time::SystemTime;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};

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
    warn_on(name, hostcalls::get_map_value(map, name)).flatten()
}

pub fn header_names(map: MapType) -> Vec<String> {
    warn_on("get headers", hostcalls::get_map(map))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

pub fn set_header(map: MapType, name: &str, value: Option<&str>) {
    warn_on(name, hostcalls::set_map_value(map, name, value));
}

pub fn body(buffer: BufferType, size: usize) -> Vec<u8> {
    warn_on("get body", hostcalls::get_buffer(buffer, 0, size))
        .flatten()
        .unwrap_or_default()
}

pub fn replace_body(buffer: BufferType, size: usize, value: &[u8]) {
    warn_on("set body", hostcalls::set_buffer(buffer, 0, size, value));
}

pub fn reply(status: u16, content_type: &str, body: &[u8]) {
    warn_on(
        "send local reply",
        hostcalls::send_http_response(
            u32::from(status),
            vec![("content-type", content_type)],
            Some(body),
        ),
    );
}

pub fn now() -> SystemTime {
    warn_on("get time", hostcalls::get_current_time()).unwrap_or_else(SystemTime::now)
}

pub fn plugin_configuration() -> Option<Vec<u8>> {
    warn_on(
        "get plugin configuration",
        hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX),
    )
    .flatten()
}

/// Sends an HTTP call through an Envoy cluster; the token comes back in
/// `on_http_call_response`. `None` (logged) when Envoy refuses it, e.g. an unknown cluster.
pub fn dispatch(
    cluster: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: std::time::Duration,
) -> Option<u32> {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    warn_on(
        &format!("dispatch_http_call to cluster `{cluster}`"),
        hostcalls::dispatch_http_call(cluster, headers, Some(body), vec![], timeout),
    )
}

/// The status of the HTTP call being answered (0 when Envoy gave none: reset, timeout).
pub fn call_status() -> u16 {
    header(MapType::HttpCallResponseHeaders, ":status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn call_body(size: usize) -> Vec<u8> {
    body(BufferType::HttpCallResponseBody, size)
}

pub fn set_tick_period(period: std::time::Duration) {
    warn_on("set tick period", hostcalls::set_tick_period(period));
}

pub fn resume_request() {
    warn_on("resume request", hostcalls::resume_http_request());
}
