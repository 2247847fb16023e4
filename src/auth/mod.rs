//! Who is calling: an API key of a configured tenant, a key from the table kept in AWS, or an
//! AWS identity verified with STS; each ends as a [`tenant::Tenant`].

pub mod caller;
pub mod iam;
pub mod key_source;
pub mod keys;
pub mod tenant;
