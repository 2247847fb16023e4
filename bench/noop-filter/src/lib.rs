//! A proxy-wasm HTTP filter that does no work of its own, in two modes chosen by the plugin
//! configuration, as reference points for `make bench`:
//!
//! - `""` (no configuration): lets every request and response through untouched (it only adds
//!   `x-wasm-noop: 1` to responses, to be seen to run). Its cost is the floor for any Wasm
//!   filter: the V8 calls into the module for each header and body callback.
//! - `"buffer"`: does what our filter must do before any translation, and nothing else: holds
//!   the request headers until the whole body is in, reads the body into the module and writes
//!   it back, changes `:path` and `content-length`; holds a non-streaming answer until its
//!   whole body is in, reads it and writes it back (a streaming answer is read and written
//!   back chunk by chunk). It adds `x-wasm-noop: buffer`. Its cost is the floor for a filter
//!   that rewrites both bodies, before any parsing or signing.

#[cfg(all(feature = "dynamic-module", not(target_arch = "wasm32")))]
mod dynamic_module;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::{Action, ContextType};

    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { buffer: false }) });
    }}

    struct Root {
        buffer: bool,
    }

    impl Context for Root {}

    impl RootContext for Root {
        fn on_configure(&mut self, _: usize) -> bool {
            let cfg = self.get_plugin_configuration().unwrap_or_default();
            self.buffer = cfg.trim_ascii() == b"buffer";
            true
        }

        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }

        fn create_http_context(&self, _id: u32) -> Option<Box<dyn HttpContext>> {
            if self.buffer {
                Some(Box::new(Buffer { stream: false }))
            } else {
                Some(Box::new(Noop))
            }
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

    struct Buffer {
        stream: bool,
    }

    impl Context for Buffer {}

    impl HttpContext for Buffer {
        fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
            if end_of_stream {
                Action::Continue
            } else {
                Action::Pause
            }
        }

        fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
            if !end_of_stream {
                return Action::Pause;
            }
            let body = self.get_http_request_body(0, size).unwrap_or_default();
            self.set_http_request_body(0, size, &body);
            let path = self.get_http_request_header(":path").unwrap_or_default();
            self.set_http_request_header(":path", Some(&path));
            self.set_http_request_header("content-length", Some(&body.len().to_string()));
            Action::Continue
        }

        fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
            self.set_http_response_header("x-wasm-noop", Some("buffer"));
            let ctype = self
                .get_http_response_header("content-type")
                .unwrap_or_default();
            self.stream = ctype.starts_with("application/vnd.amazon.eventstream");
            if end_of_stream || self.stream {
                Action::Continue
            } else {
                Action::Pause
            }
        }

        fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
            if !end_of_stream && !self.stream {
                return Action::Pause;
            }
            let body = self.get_http_response_body(0, size).unwrap_or_default();
            self.set_http_response_body(0, size, &body);
            if !self.stream {
                self.set_http_response_header("content-length", Some(&body.len().to_string()));
            }
            Action::Continue
        }
    }
}
