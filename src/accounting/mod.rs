//! What a tenant's requests count for: per-minute limits ([`ratelimit`]), usage over a window
//! ([`usage`]) and metrics and access-log fields ([`metrics`]), all keyed by the canonical
//! model actually called. Pure functions over bytes the shell keeps in shared data.

pub mod metrics;
pub mod phases;
pub mod ratelimit;
pub mod usage;
