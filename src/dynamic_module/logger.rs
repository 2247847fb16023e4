//! `log` records to Envoy's log (the `dynamic_modules` logger), as proxy-wasm does for the
//! Wasm shell; the level check is Envoy's, so a disabled level costs no formatting.

use super::abi::*;

struct EnvoyLog;

fn level(l: log::Level) -> u32 {
    match l {
        log::Level::Error => LOG_ERROR,
        log::Level::Warn => LOG_WARN,
        log::Level::Info => LOG_INFO,
        log::Level::Debug => LOG_DEBUG,
        log::Level::Trace => LOG_TRACE,
    }
}

impl log::Log for EnvoyLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // SAFETY: a plain call into Envoy.
        unsafe { envoy_dynamic_module_callback_log_enabled(level(metadata.level())) }
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        // SAFETY: the message lives across the call.
        unsafe {
            envoy_dynamic_module_callback_log(
                level(record.level()),
                ModuleBuffer::of(message.as_bytes()),
            )
        }
    }

    fn flush(&self) {}
}

/// Routes `log` to Envoy (once per process; later calls are no-ops).
pub fn install() {
    static LOGGER: EnvoyLog = EnvoyLog;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}
