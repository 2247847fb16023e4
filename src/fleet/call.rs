//! A store call signed (SigV4, service `dynamodb`) into a [`SideCall`] for the shell.

use std::time::SystemTime;

use super::dynamo::{StoreCall, CONTENT_TYPE};
use super::FleetConfig;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::{self, Credentials, SignError, SignRequest};

/// The signed `POST /` with `x-amz-target: DynamoDB_20120810.<Op>`.
pub fn signed(
    cfg: &FleetConfig,
    creds: &Credentials,
    store: &StoreCall,
    now: SystemTime,
) -> Result<SideCall, SignError> {
    let target = store.target();
    let signed = [
        ("content-type", CONTENT_TYPE),
        ("x-amz-target", target.as_str()),
    ];
    let req = SignRequest {
        method: "POST",
        host: &cfg.host,
        path: "/",
        headers: &signed,
        body: &store.body,
    };
    let auth = sigv4::sign(creds, &cfg.region, "dynamodb", &req, now)?;
    let mut call = SideCall::new(&cfg.cluster, "POST", &cfg.host, "/".into(), cfg.timeout);
    call.headers
        .extend(signed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    call.headers.extend(auth);
    call.body = store.body.clone();
    Ok(call)
}
