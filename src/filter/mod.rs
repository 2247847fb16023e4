//! The proxy-wasm shell: moves headers and bytes between Envoy and the core, nothing more.
//! Compiled only for `wasm32`; every decision lives in the core modules.

mod fleet;
mod host;
mod http;
mod keys;
mod root;
mod timing;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        host::critical(&format!("panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::Root::default())
    });
}}
