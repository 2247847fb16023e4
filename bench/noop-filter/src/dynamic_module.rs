//! The `"buffer"` mode of this crate as an Envoy dynamic module (`make bench-dynamic-module`): the same
//! work as the Wasm one (hold the request until its body is in, read it and write it back,
//! set `:path` and `content-length`; the same for a non-streaming answer; a stream chunk by
//! chunk), with the filter's own ABI declarations.

#![allow(clippy::missing_safety_doc)]

#[path = "../../../src/dynamic_module/abi.rs"]
mod abi;

use abi::*;
use std::ffi::c_void;

struct Buffer {
    stream: bool,
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const u8 {
    b"v0.1.0\0".as_ptr()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _: HttpFilterConfigEnvoyPtr,
    _: EnvoyBuffer,
    _: EnvoyBuffer,
) -> HttpFilterConfigModulePtr {
    std::ptr::NonNull::<u8>::dangling().as_ptr() as HttpFilterConfigModulePtr
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(_: HttpFilterConfigModulePtr) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
    _: EnvoyBuffer,
    _: EnvoyBuffer,
) -> *const c_void {
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(_: *const c_void) {}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    _: HttpFilterConfigModulePtr,
    _: HttpFilterEnvoyPtr,
) -> HttpFilterModulePtr {
    Box::into_raw(Box::new(Buffer { stream: false })) as HttpFilterModulePtr
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(f: HttpFilterModulePtr) {
    drop(unsafe { Box::from_raw(f as *mut Buffer) });
}

fn set(envoy: HttpFilterEnvoyPtr, kind: u32, name: &str, value: &str) {
    unsafe {
        envoy_dynamic_module_callback_http_set_header(
            envoy,
            kind,
            ModuleBuffer::of(name.as_bytes()),
            ModuleBuffer::of(value.as_bytes()),
        );
    }
}

fn header(envoy: HttpFilterEnvoyPtr, kind: u32, name: &str) -> String {
    let n = unsafe { envoy_dynamic_module_callback_http_get_headers_size(envoy, kind) };
    let mut raw = vec![
        EnvoyHttpHeader {
            key_ptr: std::ptr::null(),
            key_length: 0,
            value_ptr: std::ptr::null(),
            value_length: 0
        };
        n
    ];
    unsafe { envoy_dynamic_module_callback_http_get_headers(envoy, kind, raw.as_mut_ptr()) };
    raw.iter()
        .find(|h| unsafe { EnvoyBuffer { ptr: h.key_ptr, length: h.key_length }.as_slice() } == name.as_bytes())
        .map(|h| {
            let v = unsafe { EnvoyBuffer { ptr: h.value_ptr, length: h.value_length }.as_slice() };
            String::from_utf8_lossy(v).into_owned()
        })
        .unwrap_or_default()
}

/// Reads the whole body (buffered, then the chunk just received) and writes it back.
fn rewrite_body(envoy: HttpFilterEnvoyPtr, buffered: u32, received: u32) -> usize {
    let mut body = Vec::new();
    // The chunk just received may be the buffer itself (Envoy resumed a buffered body).
    let is_buffered = unsafe {
        if buffered == BUFFERED_REQUEST_BODY {
            envoy_dynamic_module_callback_http_received_buffered_request_body(envoy)
        } else {
            envoy_dynamic_module_callback_http_received_buffered_response_body(envoy)
        }
    };
    let parts: &[u32] = if is_buffered {
        &[received]
    } else {
        &[buffered, received]
    };
    for &t in parts {
        unsafe {
            let n = envoy_dynamic_module_callback_http_get_body_chunks_size(envoy, t);
            let mut raw = vec![EnvoyBuffer::EMPTY; n];
            if n > 0
                && envoy_dynamic_module_callback_http_get_body_chunks(envoy, t, raw.as_mut_ptr())
            {
                for c in &raw {
                    body.extend_from_slice(c.as_slice());
                }
            }
        }
    }
    unsafe {
        if !is_buffered {
            let b = envoy_dynamic_module_callback_http_get_body_size(envoy, buffered);
            envoy_dynamic_module_callback_http_drain_body(envoy, buffered, b);
        }
        let r = envoy_dynamic_module_callback_http_get_body_size(envoy, received);
        envoy_dynamic_module_callback_http_drain_body(envoy, received, r);
        envoy_dynamic_module_callback_http_append_body(envoy, received, ModuleBuffer::of(&body));
    }
    body.len()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    _: HttpFilterEnvoyPtr,
    _: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    if end_of_stream {
        HEADERS_CONTINUE
    } else {
        HEADERS_STOP_ITERATION
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    envoy: HttpFilterEnvoyPtr,
    _: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    if !end_of_stream {
        return BODY_STOP_AND_BUFFER;
    }
    let len = rewrite_body(envoy, BUFFERED_REQUEST_BODY, RECEIVED_REQUEST_BODY);
    let path = header(envoy, REQUEST_HEADER, ":path");
    set(envoy, REQUEST_HEADER, ":path", &path);
    set(envoy, REQUEST_HEADER, "content-length", &len.to_string());
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    envoy: HttpFilterEnvoyPtr,
    f: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    let f = unsafe { &mut *(f as *mut Buffer) };
    set(envoy, RESPONSE_HEADER, "x-wasm-noop", "buffer");
    f.stream = header(envoy, RESPONSE_HEADER, "content-type")
        .starts_with("application/vnd.amazon.eventstream");
    if end_of_stream || f.stream {
        HEADERS_CONTINUE
    } else {
        HEADERS_STOP_ITERATION
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    envoy: HttpFilterEnvoyPtr,
    f: HttpFilterModulePtr,
    end_of_stream: bool,
) -> u32 {
    let f = unsafe { &*(f as *const Buffer) };
    if !end_of_stream && !f.stream {
        return BODY_STOP_AND_BUFFER;
    }
    let len = rewrite_body(envoy, BUFFERED_RESPONSE_BODY, RECEIVED_RESPONSE_BODY);
    if !f.stream {
        set(envoy, RESPONSE_HEADER, "content-length", &len.to_string());
    }
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _: HttpFilterEnvoyPtr,
    _: HttpFilterModulePtr,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _: HttpFilterEnvoyPtr,
    _: HttpFilterModulePtr,
    _: u64,
    _: u32,
    _: *const EnvoyHttpHeader,
    _: usize,
    _: *const EnvoyBuffer,
    _: usize,
) {
}

unused_hooks!();
