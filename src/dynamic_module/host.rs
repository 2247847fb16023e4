//! Safe wrappers over the ABI callbacks ([`super::abi`]), the only `unsafe` calls into Envoy:
//! every pointer handed over is Envoy's filter pointer or a slice that outlives the call.

use super::abi::*;
use super::timing::{self, count};
use crate::accounting::metrics::{segment, Kind, Metrics, Stat, Update};
use crate::error::ApiError;
use crate::headers::HeaderList;
use crate::upstream::side_call::SideCall;

/// Envoy's per-request filter pointer, valid from `on_http_filter_new` to `_destroy`.
pub type FilterPtr = HttpFilterEnvoyPtr;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    fn headers(self) -> u32 {
        match self {
            Self::Request => REQUEST_HEADER,
            Self::Response => RESPONSE_HEADER,
        }
    }

    fn received(self) -> u32 {
        match self {
            Self::Request => RECEIVED_REQUEST_BODY,
            Self::Response => RECEIVED_RESPONSE_BODY,
        }
    }

    fn buffered(self) -> u32 {
        match self {
            Self::Request => BUFFERED_REQUEST_BODY,
            Self::Response => BUFFERED_RESPONSE_BODY,
        }
    }

    /// The chunk just received is the buffer itself (Envoy resumed a body buffered before).
    fn received_is_buffered(self, envoy: FilterPtr) -> bool {
        // SAFETY: Envoy's filter pointer.
        unsafe {
            match self {
                Self::Request => {
                    envoy_dynamic_module_callback_http_received_buffered_request_body(envoy)
                }
                Self::Response => {
                    envoy_dynamic_module_callback_http_received_buffered_response_body(envoy)
                }
            }
        }
    }
}

fn text(ptr: *const std::ffi::c_char, len: usize) -> String {
    // SAFETY: Envoy's bytes, valid during the hook.
    let bytes = unsafe { EnvoyBuffer { ptr, length: len }.as_slice() };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Envoy's header array as a [`HeaderList`].
///
/// # Safety
/// `headers` must point to `n` entries valid for this hook (or be null).
pub unsafe fn header_list(headers: *const EnvoyHttpHeader, n: usize) -> HeaderList {
    if headers.is_null() || n == 0 {
        return HeaderList::default();
    }
    // SAFETY: the caller's contract.
    let entries = unsafe { std::slice::from_raw_parts(headers, n) };
    HeaderList::new(
        entries
            .iter()
            .map(|h| {
                (
                    text(h.key_ptr, h.key_length),
                    text(h.value_ptr, h.value_length),
                )
            })
            .collect(),
    )
}

/// Envoy's body chunks joined.
///
/// # Safety
/// `chunks` must point to `n` buffers valid for this hook (or be null).
pub unsafe fn join_chunks(chunks: *const EnvoyBuffer, n: usize) -> Vec<u8> {
    if chunks.is_null() || n == 0 {
        return Vec::new();
    }
    // SAFETY: the caller's contract.
    let chunks = unsafe { std::slice::from_raw_parts(chunks, n) };
    let mut out = Vec::with_capacity(chunks.iter().map(|c| c.length).sum());
    for c in chunks {
        // SAFETY: each chunk is Envoy's, valid during the hook.
        out.extend_from_slice(unsafe { c.as_slice() });
    }
    out
}

/// The whole header map.
pub fn headers(envoy: FilterPtr, dir: Direction) -> HeaderList {
    timing::phase("x_get_headers", || read_headers(envoy, dir))
}

fn read_headers(envoy: FilterPtr, dir: Direction) -> HeaderList {
    count("get_headers");
    // SAFETY: Envoy's filter pointer; the array has room for the size Envoy reported.
    unsafe {
        let n = envoy_dynamic_module_callback_http_get_headers_size(envoy, dir.headers());
        let mut raw = vec![
            EnvoyHttpHeader {
                key_ptr: std::ptr::null(),
                key_length: 0,
                value_ptr: std::ptr::null(),
                value_length: 0,
            };
            n
        ];
        if n == 0
            || !envoy_dynamic_module_callback_http_get_headers(
                envoy,
                dir.headers(),
                raw.as_mut_ptr(),
            )
        {
            return HeaderList::default();
        }
        header_list(raw.as_ptr(), n)
    }
}

/// Writes back the headers that changed (a removal is a null value). A changed request head
/// makes Envoy pick the route again, as it does after a Wasm filter's header change: a call to
/// another region rewrites `:authority`, which the shipped configs route on.
pub fn write_headers(envoy: FilterPtr, dir: Direction, headers: &mut HeaderList) {
    timing::phase("x_write_headers", || set_headers(envoy, dir, headers));
}

fn set_headers(envoy: FilterPtr, dir: Direction, headers: &mut HeaderList) {
    let mut changed = false;
    for (name, value) in headers.changes() {
        changed = true;
        count("set_header");
        let value = value.map_or(ModuleBuffer::NULL, |v| ModuleBuffer::of(v.as_bytes()));
        // SAFETY: Envoy's filter pointer; the buffers live across the call.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_set_header(
                envoy,
                dir.headers(),
                ModuleBuffer::of(name.as_bytes()),
                value,
            )
        };
        if !ok {
            log::warn!("set header {name} failed");
        }
    }
    headers.written();
    if changed && dir == Direction::Request {
        // SAFETY: Envoy's filter pointer.
        unsafe { envoy_dynamic_module_callback_http_clear_route_cache(envoy) }
    }
}

/// Adds checked response trailers. Envoy's ABI cannot create the trailer map of a response
/// that came without one, so this usually adds nothing: the first refusal ends it, quietly
/// (the usage is also in the stream's last chunk).
pub fn add_trailers(envoy: FilterPtr, trailers: &HeaderList) {
    for (name, value) in trailers.checked() {
        // SAFETY: Envoy's filter pointer; the buffers live across the call.
        let ok = unsafe {
            envoy_dynamic_module_callback_http_add_header(
                envoy,
                RESPONSE_TRAILER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value.as_bytes()),
            )
        };
        if !ok {
            log::debug!("add trailer {name}: the response has no trailers");
            return;
        }
    }
}

fn chunks(envoy: FilterPtr, body_type: u32, out: &mut Vec<u8>) {
    count("get_body_chunks");
    // SAFETY: Envoy's filter pointer; the array has room for the count Envoy reported.
    unsafe {
        let n = envoy_dynamic_module_callback_http_get_body_chunks_size(envoy, body_type);
        if n == 0 {
            return;
        }
        let mut raw = vec![EnvoyBuffer::EMPTY; n];
        if envoy_dynamic_module_callback_http_get_body_chunks(envoy, body_type, raw.as_mut_ptr()) {
            for c in &raw {
                out.extend_from_slice(c.as_slice());
            }
        }
    }
}

fn size(envoy: FilterPtr, body_type: u32) -> usize {
    // SAFETY: Envoy's filter pointer.
    unsafe { envoy_dynamic_module_callback_http_get_body_size(envoy, body_type) }
}

/// Bytes of the body so far (buffered plus the chunk just received), in a body hook.
pub fn body_size(envoy: FilterPtr, dir: Direction) -> usize {
    let received = size(envoy, dir.received());
    if dir.received_is_buffered(envoy) {
        return received;
    }
    size(envoy, dir.buffered()) + received
}

/// The body so far (buffered plus the chunk just received), in a body hook.
pub fn body(envoy: FilterPtr, dir: Direction) -> Vec<u8> {
    timing::phase("x_get_body", || read_body(envoy, dir))
}

fn read_body(envoy: FilterPtr, dir: Direction) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_size(envoy, dir));
    if !dir.received_is_buffered(envoy) {
        chunks(envoy, dir.buffered(), &mut out);
    }
    chunks(envoy, dir.received(), &mut out);
    out
}

/// The buffered body, outside a body hook (a side call's answer).
pub fn buffered_body(envoy: FilterPtr, dir: Direction) -> Vec<u8> {
    let mut out = Vec::new();
    chunks(envoy, dir.buffered(), &mut out);
    out
}

/// Replaces the whole body: in a body hook, what was buffered and the chunk just received;
/// outside one (`in_body_hook` false), the buffer.
pub fn replace_body(envoy: FilterPtr, dir: Direction, value: &[u8], in_body_hook: bool) {
    timing::phase("x_set_body", || set_body(envoy, dir, value, in_body_hook));
}

fn set_body(envoy: FilterPtr, dir: Direction, value: &[u8], in_body_hook: bool) {
    count("set_body");
    // SAFETY: Envoy's filter pointer; `value` lives across the call.
    unsafe {
        let target = if in_body_hook {
            if !dir.received_is_buffered(envoy) {
                let buffered = size(envoy, dir.buffered());
                envoy_dynamic_module_callback_http_drain_body(envoy, dir.buffered(), buffered);
            }
            dir.received()
        } else {
            dir.buffered()
        };
        envoy_dynamic_module_callback_http_drain_body(envoy, target, size(envoy, target));
        if !envoy_dynamic_module_callback_http_append_body(envoy, target, ModuleBuffer::of(value)) {
            log::warn!("set body failed");
        }
    }
}

/// A local reply with checked headers.
pub fn reply(envoy: FilterPtr, status: u16, headers: &HeaderList, body: &[u8]) {
    let mut raw = module_headers(headers);
    // SAFETY: Envoy's filter pointer; the header array and body live across the call.
    unsafe {
        envoy_dynamic_module_callback_http_send_response(
            envoy,
            u32::from(status),
            raw.as_mut_ptr(),
            raw.len(),
            ModuleBuffer::of(body),
            ModuleBuffer::NULL,
        );
    }
}

/// The answer to a hook that panicked.
pub fn internal_error(envoy: FilterPtr) {
    let e = ApiError::internal("the filter failed on this request");
    let headers = HeaderList::from_pairs([("content-type", "application/json")]);
    reply(envoy, e.status, &headers, &e.to_body());
}

/// Checked headers as Envoy's arrays want them (borrowing `headers`).
fn module_headers(headers: &HeaderList) -> Vec<ModuleHttpHeader> {
    headers
        .checked()
        .map(|(k, v)| ModuleHttpHeader::of(k, v))
        .collect()
}

/// Envoy's answer to a callout start: the id, or a warning naming the cluster.
fn started(call: &SideCall, result: u32, id: u64) -> Option<u64> {
    if result == CALLOUT_INIT_SUCCESS {
        Some(id)
    } else {
        log::warn!("side call to cluster `{}` refused ({result})", call.cluster);
        None
    }
}

/// A side call sent with `send`, one of the two callout callbacks bound to its pointer:
/// the headers, id and body it needs, and the id Envoy assigned when it went out.
fn dispatch(
    call: &SideCall,
    send: impl FnOnce(&mut u64, ModuleBuffer, &mut [ModuleHttpHeader], ModuleBuffer, u64) -> u32,
) -> Option<u64> {
    let headers = HeaderList::from_pairs(call.all_headers());
    let mut raw = module_headers(&headers);
    let mut id = 0u64;
    let timeout = u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX);
    let cluster = ModuleBuffer::of(call.cluster.as_bytes());
    let result = send(
        &mut id,
        cluster,
        &mut raw,
        ModuleBuffer::of(&call.body),
        timeout,
    );
    started(call, result, id)
}

/// Dispatches a request's side call through its cluster; the id comes back in
/// `http_callout_done`.
pub fn callout(envoy: FilterPtr, call: &SideCall) -> Option<u64> {
    dispatch(call, |id, cluster, headers, body, timeout| {
        // SAFETY: Envoy's filter pointer; the arrays live across the call.
        unsafe {
            envoy_dynamic_module_callback_http_filter_http_callout(
                envoy,
                id,
                cluster,
                headers.as_mut_ptr(),
                headers.len(),
                body,
                timeout,
            )
        }
    })
}

/// Dispatches the root's side call (credentials, key table, fleet store), on the main thread;
/// the id comes back in `http_filter_config_http_callout_done`.
pub fn config_callout(config: HttpFilterConfigEnvoyPtr, call: &SideCall) -> Option<u64> {
    dispatch(call, |id, cluster, headers, body, timeout| {
        // SAFETY: Envoy's config pointer, on the main thread; the arrays live across the call.
        unsafe {
            envoy_dynamic_module_callback_http_filter_config_http_callout(
                config,
                id,
                cluster,
                headers.as_mut_ptr(),
                headers.len(),
                body,
                timeout,
            )
        }
    })
}

pub fn resume_request(envoy: FilterPtr) {
    // SAFETY: Envoy's filter pointer.
    unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(envoy) }
}

/// Filter state `wasm.<name>`: the same access-log fields as the Wasm shell's.
pub fn set_log_field(envoy: FilterPtr, name: &str, value: &str) {
    timing::phase("x_log_fields", || set_filter_state(envoy, name, value));
}

fn set_filter_state(envoy: FilterPtr, name: &str, value: &str) {
    count("set_filter_state");
    let key = format!("wasm.{name}");
    // SAFETY: Envoy's filter pointer; the buffers live across the call.
    let ok = unsafe {
        envoy_dynamic_module_callback_http_set_filter_state_bytes(
            envoy,
            ModuleBuffer::of(key.as_bytes()),
            ModuleBuffer::of(value.as_bytes()),
        )
    };
    if !ok {
        log::warn!("set log field {name} failed");
    }
}

/// The metrics, defined once per configuration with tenant and model as labels (Envoy
/// freezes stat creation after `config_new`, so names cannot carry them as the Wasm shell's
/// do): `bedrock_openai.requests{tenant,model}`, `…errors{tenant,model,error_type}`, ….
pub struct MetricDefs {
    /// Ids of the fixed stats, in the order of [`Stat::FIXED`].
    fixed: [Option<usize>; Stat::FIXED.len()],
    errors: Option<usize>,
    /// Unlabelled counters the core names itself ([`Effect::Metric`]), under the Wasm shell's
    /// names so that both builds' stats agree.
    ///
    /// [`Effect::Metric`]: crate::pipeline::Effect::Metric
    named: Vec<(&'static str, Option<usize>)>,
}

/// The core's own counters, defined up front (Envoy refuses new stats after `config_new`).
const NAMED: [&str; 1] = [crate::fleet::UNAVAILABLE_METRIC];

impl MetricDefs {
    pub fn define(config: HttpFilterConfigEnvoyPtr) -> Self {
        let define = |full: String, kind: Kind, labels: &[&str]| {
            let mut names: Vec<ModuleBuffer> = labels
                .iter()
                .map(|l| ModuleBuffer::of(l.as_bytes()))
                .collect();
            let mut id = 0usize;
            // SAFETY: Envoy's config pointer, inside `config_new`; the buffers live across it.
            let r = unsafe {
                let f = match kind {
                    Kind::Counter => {
                        envoy_dynamic_module_callback_http_filter_config_define_counter
                    }
                    Kind::Histogram => {
                        envoy_dynamic_module_callback_http_filter_config_define_histogram
                    }
                };
                f(
                    config,
                    ModuleBuffer::of(full.as_bytes()),
                    names.as_mut_ptr(),
                    names.len(),
                    &mut id,
                )
            };
            if r == METRICS_SUCCESS {
                Some(id)
            } else {
                log::warn!("define metric {full} failed ({r})");
                None
            }
        };
        let labels = ["bedrock_tenant", "bedrock_model"];
        let ours = |name: &str| format!("bedrock_openai.{name}");
        Self {
            fixed: Stat::FIXED
                .each_ref()
                .map(|stat| define(ours(&stat.suffix()), stat.kind(), &labels)),
            errors: define(
                ours("errors"),
                Kind::Counter,
                &["bedrock_tenant", "bedrock_model", "bedrock_error_type"],
            ),
            named: NAMED
                .iter()
                .map(|&n| (n, define(n.to_string(), Kind::Counter, &[])))
                .collect(),
        }
    }
}

/// Adds a finished request's metrics.
pub fn metrics(envoy: FilterPtr, defs: &MetricDefs, m: &Metrics) {
    timing::phase("x_metrics", || add_metrics(envoy, defs, m));
}

fn add_metrics(envoy: FilterPtr, defs: &MetricDefs, m: &Metrics) {
    let tenant = segment(m.tenant.as_deref());
    let model = segment(m.model.as_deref());
    for (stat, value) in &m.values {
        let (id, error) = match stat {
            Stat::Errors(t) => (defs.errors, Some(t.as_str())),
            fixed => (fixed.fixed_index().and_then(|at| defs.fixed[at]), None),
        };
        let Some(id) = id else { continue };
        count("increment_metric");
        let mut values = vec![
            ModuleBuffer::of(tenant.as_bytes()),
            ModuleBuffer::of(model.as_bytes()),
        ];
        if let Some(e) = error {
            values.push(ModuleBuffer::of(e.as_bytes()));
        }
        // SAFETY: Envoy's filter pointer; the label buffers live across the call.
        unsafe {
            match stat.kind() {
                Kind::Counter => envoy_dynamic_module_callback_http_filter_increment_counter(
                    envoy,
                    id,
                    values.as_mut_ptr(),
                    values.len(),
                    *value,
                ),
                Kind::Histogram => {
                    envoy_dynamic_module_callback_http_filter_record_histogram_value(
                        envoy,
                        id,
                        values.as_mut_ptr(),
                        values.len(),
                        *value,
                    )
                }
            };
        }
    }
}

/// Adds to one of the core's own counters ([`NAMED`]); a name not defined there is dropped.
pub fn metric(envoy: FilterPtr, defs: &MetricDefs, update: &Update) {
    let id = defs
        .named
        .iter()
        .find(|(n, _)| *n == update.name)
        .and_then(|(_, id)| *id);
    let (Some(id), Kind::Counter) = (id, &update.kind) else {
        return;
    };
    // SAFETY: Envoy's filter pointer; no labels.
    unsafe {
        envoy_dynamic_module_callback_http_filter_increment_counter(
            envoy,
            id,
            std::ptr::null_mut(),
            0,
            update.value,
        );
    }
}
