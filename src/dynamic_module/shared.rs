//! Shared data for every worker of the process: what proxy-wasm's shared data is to the Wasm
//! shell (usage and rate-limit counters), here one map behind a mutex. A read-modify-write
//! holds the lock, so it needs no compare-and-swap retry.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

fn map() -> MutexGuard<'static, HashMap<String, Vec<u8>>> {
    static SHARED: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let m = SHARED.get_or_init(Mutex::default);
    // A worker that panicked mid-update (caught by the hook guard) leaves a value that was
    // either written whole or not at all.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn get(key: &str) -> Option<Vec<u8>> {
    map().get(key).cloned()
}

pub fn update(key: &str, f: &mut dyn FnMut(Option<&[u8]>) -> Vec<u8>) {
    let mut m = map();
    let next = f(m.get(key).map(Vec::as_slice));
    m.insert(key.to_string(), next);
}
