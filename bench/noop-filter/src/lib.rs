//! A proxy-wasm HTTP filter that lets every request and response through untouched (it only
//! adds `x-wasm-noop: 1` to responses, to be seen to run). Its
//! cost in `make bench` is the floor for any Wasm filter: the V8 calls into the module for
//! each header and body callback.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Noop))
    }
}

struct Noop;

impl Context for Noop {}

impl HttpContext for Noop {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        Action::Continue
    }
    fn on_http_request_body(&mut self, _: usize, _: bool) -> Action {
        Action::Continue
    }
    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        // One host call, so that a benchmark can see the filter ran.
        self.set_http_response_header("x-wasm-noop", Some("1"));
        Action::Continue
    }
    fn on_http_response_body(&mut self, _: usize, _: bool) -> Action {
        Action::Continue
    }
}
