//! IAM caller authentication, the way aws-iam-authenticator and Vault's AWS auth do it: the
//! caller presigns an `sts:GetCallerIdentity` request with its own AWS credentials and sends
//! the URL as a bearer token; the filter checks the URL's shape, has STS run it (through an
//! Envoy cluster) and maps the returned ARN to a tenant.
//!
//! Token: `k8s-aws-v1.` + base64url (no padding) of
//! `https://{sts_host}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=60&X-Amz-SignedHeaders=host[;x-k8s-aws-id]&X-Amz-Signature=…`
//! — the format of `aws eks get-token`. With `audience` configured, `x-k8s-aws-id` must be a
//! signed header and the filter sends the audience in it, so a token made for another
//! service (an EKS cluster, say) is refused by STS here.
//!
//! Shape rules ([`validate`], all 401 when broken, and checked before STS is asked): at most
//! 8 KiB; a URL of printable ASCII only (no space or control character) whose query is
//! `name=value` pairs of unreserved characters and `%XX` escapes, as presigners write it;
//! `https`, host exactly `sts_host`, path `/`,
//! no other query parameters than the ones above and `X-Amz-Security-Token`, none twice,
//! credential scope `…/sts/aws4_request`, `X-Amz-Expires` 1–900, not expired, not dated more
//! than 5 minutes ahead, `host` signed, a 64-hex signature. Only then is STS asked.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::auth::keys::{digest, KeyDigest};
use crate::error::ApiError;
use crate::upstream::side_call::SideCall;

pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
const AUDIENCE_HEADER: &str = "x-k8s-aws-id";
const MAX_TOKEN_LEN: usize = 8192;
const MAX_EXPIRES: u64 = 900;
const MAX_FUTURE_SKEW: Duration = Duration::from_secs(300);
const MAX_CACHE_ENTRIES: usize = 1024;
const ALLOWED_PARAMS: [&str; 9] = [
    "Action",
    "Version",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// `iam_auth` as written in the plugin configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIamAuth {
    /// IAM role / user ARN (or an exact assumed-role session ARN) → tenant.
    pub principals: BTreeMap<String, String>,
    #[serde(default)]
    pub sts_host: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub cache_seconds: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// An invalid `iam_auth` setting: the message names the field, and repeats a principal only
/// when it is an ARN (never a value pasted in the wrong place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IamConfigError(pub String);

impl std::fmt::Display for IamConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IamConfigError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamAuth {
    pub principals: BTreeMap<String, String>,
    pub sts_host: String,
    pub cluster: String,
    pub audience: Option<String>,
    pub cache: Duration,
    pub timeout: Duration,
}

impl IamAuth {
    pub(crate) fn from_raw(raw: RawIamAuth, region: &str) -> Result<Self, IamConfigError> {
        if raw.principals.is_empty() {
            return Err(IamConfigError(
                "`iam_auth.principals` must map at least one ARN to a tenant".into(),
            ));
        }
        if let Some((n, (arn, _))) = raw
            .principals
            .iter()
            .enumerate()
            .find(|(_, (arn, tenant))| {
                !arn.starts_with("arn:") || arn.split(':').count() < 6 || tenant.trim().is_empty()
            })
        {
            // The key is repeated only when it is an ARN: anything else may be a value
            // pasted in the wrong place.
            let entry = if arn.starts_with("arn:") && arn.bytes().all(|b| b.is_ascii_graphic()) {
                format!("`{arn}`")
            } else {
                format!("#{} (in sorted order)", n + 1)
            };
            return Err(IamConfigError(format!(
                "`iam_auth.principals` entry {entry} needs an `arn:…` key and a tenant name"
            )));
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let cache = match raw.cache_seconds {
            Some(n) if n > 3600 => {
                return Err(IamConfigError(
                    "`iam_auth.cache_seconds` must be at most 3600".into(),
                ))
            }
            Some(n) => n,
            None => 60,
        };
        Ok(Self {
            principals: raw.principals,
            sts_host: nonempty(raw.sts_host)
                .unwrap_or_else(|| format!("sts.{region}.amazonaws.com"))
                .to_ascii_lowercase(),
            cluster: nonempty(raw.cluster).unwrap_or_else(|| "sts".into()),
            audience: nonempty(raw.audience),
            cache: Duration::from_secs(cache),
            timeout: Duration::from_millis(raw.timeout_ms.filter(|n| *n > 0).unwrap_or(5_000)),
        })
    }
}

/// The bearer token, when it is an IAM token.
pub fn token_of(authorization: Option<&str>) -> Option<&str> {
    let t = crate::auth::keys::bearer(authorization?);
    t.starts_with(TOKEN_PREFIX).then_some(t)
}

/// A token whose shape passed [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    /// `/?{query as presigned}`.
    pub path: String,
    pub expires_at: SystemTime,
    pub access_key_id: String,
}

fn deny(why: impl std::fmt::Display) -> ApiError {
    ApiError::unauthorized(format!("Invalid IAM token: {why}."))
}

/// Checks a token's shape (see the module doc); every failure is a 401 saying which rule.
pub fn validate(cfg: &IamAuth, token: &str, now: SystemTime) -> Result<Presigned, ApiError> {
    let url = token_url(token)?;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| deny("the URL must be https"))?;
    let (host, path_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !host.eq_ignore_ascii_case(&cfg.sts_host) {
        return Err(deny(format!("the host must be `{}`", cfg.sts_host)));
    }
    if path_query.contains('#') {
        return Err(deny("the URL must not have a fragment"));
    }
    let query = path_query
        .strip_prefix("/?")
        .ok_or_else(|| deny("the path must be `/` with a query"))?;
    let params = query_params(query)?;
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if get("Action") != "GetCallerIdentity" {
        return Err(deny("the action must be GetCallerIdentity"));
    }
    if get("Version") != "2011-06-15" {
        return Err(deny("the version must be 2011-06-15"));
    }
    if get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
        return Err(deny("the algorithm must be AWS4-HMAC-SHA256"));
    }
    let scope: Vec<&str> = get("X-Amz-Credential").split('/').collect();
    let [access_key_id, scope_date, _region, service, terminator] = scope.as_slice() else {
        return Err(deny("X-Amz-Credential is malformed"));
    };
    if *service != "sts" || *terminator != "aws4_request" || access_key_id.is_empty() {
        return Err(deny("the credential scope must be for sts"));
    }
    let expires_at = expiry(get("X-Amz-Date"), scope_date, get("X-Amz-Expires"), now)?;
    check_signed_headers(cfg, get("X-Amz-SignedHeaders"))?;
    let sig = get("X-Amz-Signature");
    if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(deny("X-Amz-Signature is malformed"));
    }
    Ok(Presigned {
        path: path_query.to_string(),
        expires_at,
        access_key_id: access_key_id.to_string(),
    })
}

/// The presigned URL inside a token: at most [`MAX_TOKEN_LEN`], [`TOKEN_PREFIX`], base64url
/// of printable ASCII.
fn token_url(token: &str) -> Result<String, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(deny("too long"));
    }
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| deny(format!("it must start with `{TOKEN_PREFIX}`")))?;
    let url = base64url_decode(encoded)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| deny("not base64url of a URL"))?;
    // The URL goes to STS as the `:path` of a request: a control character, a space or
    // anything outside ASCII would break that request (it used to end in a 503), so such a
    // token is refused here, before anything else is read from it.
    if url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(deny(
            "the URL has characters a URL cannot have (spaces, control characters or non-ASCII)",
        ));
    }
    Ok(url)
}

/// A presigned URL's query parameters: name → decoded value.
type QueryParams<'q> = BTreeMap<&'q str, String>;

/// The query's parameters, decoded: only [`ALLOWED_PARAMS`], none twice.
fn query_params(query: &str) -> Result<QueryParams<'_>, ApiError> {
    if !is_presigned_query(query) {
        return Err(deny(
            "the query must be `name=value` pairs with percent-encoded values",
        ));
    }
    let mut params = QueryParams::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !ALLOWED_PARAMS.contains(&k) {
            return Err(deny(if k.len() <= 64 {
                format!("unexpected query parameter `{k}`")
            } else {
                "unexpected query parameter".to_string()
            }));
        }
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .map_err(|_| deny(format!("`{k}` is not UTF-8")))?;
        // No value STS accepts has a space, a control character or non-ASCII once decoded.
        if !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(deny(format!("`{k}` has characters it cannot have")));
        }
        if params.insert(k, v.into_owned()).is_some() {
            return Err(deny(format!("`{k}` is given twice")));
        }
    }
    Ok(params)
}

/// When the presigned request expires: `X-Amz-Date` (of the scope's date) plus
/// `X-Amz-Expires`, not past and not dated more than [`MAX_FUTURE_SKEW`] ahead.
fn expiry(
    date: &str,
    scope_date: &str,
    expires: &str,
    now: SystemTime,
) -> Result<SystemTime, ApiError> {
    let signed_at = parse_amz_date(date).ok_or_else(|| deny("X-Amz-Date is malformed"))?;
    if !date.starts_with(scope_date) {
        return Err(deny("the credential scope date is not X-Amz-Date's"));
    }
    let expires: u64 = expires
        .parse()
        .ok()
        .filter(|n| (1..=MAX_EXPIRES).contains(n))
        .ok_or_else(|| deny(format!("X-Amz-Expires must be 1 to {MAX_EXPIRES} seconds")))?;
    let expires_at = signed_at + Duration::from_secs(expires);
    if now > expires_at {
        return Err(deny("it has expired"));
    }
    if signed_at > now + MAX_FUTURE_SKEW {
        return Err(deny("it is dated in the future"));
    }
    Ok(expires_at)
}

/// `host` signed, the audience header too when one is configured, nothing else.
fn check_signed_headers(cfg: &IamAuth, signed_headers: &str) -> Result<(), ApiError> {
    let signed: Vec<&str> = signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(deny("`host` must be a signed header"));
    }
    if cfg.audience.is_some() && !signed.contains(&AUDIENCE_HEADER) {
        return Err(deny(format!("`{AUDIENCE_HEADER}` must be a signed header")));
    }
    if let Some(other) = signed
        .iter()
        .find(|h| **h != "host" && **h != AUDIENCE_HEADER)
    {
        return Err(deny(format!("signed header `{other}` cannot be forwarded")));
    }
    Ok(())
}

/// A query as a presigner writes it: `&`-separated `name=value` pairs of unreserved
/// characters (RFC 3986) and `%XX` escapes, nothing else (no `+`, `/` or `;` left raw).
fn is_presigned_query(query: &str) -> bool {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    !query.is_empty()
        && query.split('&').all(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'%' if b.len() > i + 2
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit() =>
                    {
                        i += 3
                    }
                    c if unreserved(c) => i += 1,
                    _ => return false,
                }
            }
            !k.is_empty() && k.bytes().all(unreserved)
        })
}

/// The call that has STS run the presigned request.
pub fn sts_call(cfg: &IamAuth, p: &Presigned) -> SideCall {
    let mut call = SideCall::new(
        &cfg.cluster,
        "GET",
        &cfg.sts_host,
        p.path.clone(),
        cfg.timeout,
    );
    call.headers
        .push(("accept".to_string(), "application/json".to_string()));
    if let Some(a) = &cfg.audience {
        call.headers.push((AUDIENCE_HEADER.to_string(), a.clone()));
    }
    call
}

/// STS's answer → the caller's tenant: 401 when STS refuses the token, 403 when the identity
/// is not mapped, 503 when STS cannot be asked.
pub fn verdict(cfg: &IamAuth, status: u16, body: &[u8]) -> Result<String, ApiError> {
    let text = String::from_utf8_lossy(body);
    match status {
        200 => {}
        0 | 500..=599 => {
            return Err(ApiError::service_unavailable(format!(
                "The IAM token could not be verified: STS answered {status}."
            )))
        }
        _ => {
            let json_code = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.pointer("/Error/Code")?.as_str().map(String::from));
            let code = json_code
                .or_else(|| between(&text, "<Code>", "</Code>").map(String::from))
                .unwrap_or_else(|| "refused".into());
            return Err(deny(format!("STS refused it ({code})")));
        }
    }
    let arn = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/GetCallerIdentityResponse/GetCallerIdentityResult/Arn")
                .and_then(|a| a.as_str())
                .map(String::from)
        })
        .or_else(|| between(&text, "<Arn>", "</Arn>").map(String::from))
        .ok_or_else(|| {
            ApiError::service_unavailable("STS answered GetCallerIdentity without an Arn.")
        })?;
    tenant_for(cfg, &arn).map(String::from).ok_or_else(|| {
        ApiError::permission_denied(format!(
            "The AWS identity `{arn}` is not allowed to use this API."
        ))
        .with_code("iam_principal_not_mapped")
    })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// The tenant of an ARN: the ARN itself, or for an assumed-role session
/// (`arn:aws:sts::123:assumed-role/Role/session`) its role (`arn:aws:iam::123:role/Role`).
pub fn tenant_for<'c>(cfg: &'c IamAuth, arn: &str) -> Option<&'c str> {
    if let Some(t) = cfg.principals.get(arn) {
        return Some(t);
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [_, partition, "sts", "", account, resource] = parts.as_slice() {
        if let Some(role) = resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
        {
            let role_arn = format!("arn:{partition}:iam::{account}:role/{role}");
            return cfg.principals.get(&role_arn).map(String::as_str);
        }
    }
    None
}

/// Verified (and refused) tokens for a short while, so STS is asked once per token.
#[derive(Debug, Default)]
pub struct IamCache {
    entries: Vec<(KeyDigest, SystemTime, Result<String, ApiError>)>,
}

impl IamCache {
    pub fn get(&self, token: &str, now: SystemTime) -> Option<Result<String, ApiError>> {
        let d = digest(token);
        self.entries
            .iter()
            .find(|(k, until, _)| *k == d && now < *until)
            .map(|(_, _, v)| v.clone())
    }

    /// Keeps a verdict until `cache` has passed or the token expires, whichever is first.
    /// STS outages (5xx) are not kept.
    pub fn put(
        &mut self,
        cfg: &IamAuth,
        token: &str,
        p: &Presigned,
        verdict: &Result<String, ApiError>,
        now: SystemTime,
    ) {
        if matches!(verdict, Err(e) if e.status >= 500) {
            return;
        }
        self.entries.retain(|(_, until, _)| now < *until);
        if self.entries.len() >= MAX_CACHE_ENTRIES {
            drop(self.entries.remove(0));
        }
        let until = (now + cfg.cache).min(p.expires_at);
        self.entries.push((digest(token), until, verdict.clone()));
    }
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "sts.us-east-1.amazonaws.com";
    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn cfg(audience: Option<&str>) -> IamAuth {
        IamAuth::from_raw(
            RawIamAuth {
                principals: [
                    (
                        "arn:aws:iam::123456789012:role/bedrock-callers".to_string(),
                        "ops".to_string(),
                    ),
                    (
                        "arn:aws:iam::123456789012:user/alice".to_string(),
                        "alice".to_string(),
                    ),
                ]
                .into(),
                sts_host: None,
                cluster: None,
                audience: audience.map(String::from),
                cache_seconds: Some(60),
                timeout_ms: None,
            },
            "us-east-1",
        )
        .unwrap()
    }

    fn b64url(s: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, x)| acc | (u32::from(*x) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    // 2023-11-14T22:13:20Z is 1_700_000_000.
    const DATE: &str = "20231114T221320Z";

    fn at(offset: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs((1_700_000_000 + offset) as u64)
    }

    fn url(host: &str, query: &str) -> String {
        format!("https://{host}/?{query}")
    }

    fn query(overrides: &[(&str, Option<&str>)]) -> String {
        let mut params: Vec<(String, String)> = [
            ("Action", "GetCallerIdentity"),
            ("Version", "2011-06-15"),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKIDCALLER%2F20231114%2Fus-east-1%2Fsts%2Faws4_request",
            ),
            ("X-Amz-Date", DATE),
            ("X-Amz-Expires", "60"),
            ("X-Amz-SignedHeaders", "host%3Bx-k8s-aws-id"),
            ("X-Amz-Signature", SIG),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in overrides {
            params.retain(|(pk, _)| pk != k);
            if let Some(v) = v {
                params.push((k.to_string(), v.to_string()));
            }
        }
        params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn token(u: &str) -> String {
        format!("{TOKEN_PREFIX}{}", b64url(u))
    }

    #[test]
    fn a_well_formed_token_passes_and_is_forwarded_as_presigned() {
        let q = query(&[]);
        let p = validate(&cfg(Some("bedrock")), &token(&url(HOST, &q)), at(10)).unwrap();
        assert_eq!(p.path, format!("/?{q}"));
        assert_eq!(p.access_key_id, "AKIDCALLER");
        assert_eq!(p.expires_at, at(60));
        let call = sts_call(&cfg(Some("bedrock")), &p);
        assert_eq!(call.cluster, "sts");
        assert!(call.header(":authority") == Some(HOST));
        assert!(call.header("x-k8s-aws-id") == Some("bedrock"));
        // Padding and the uppercase host are tolerated.
        let padded = format!("{}==", token(&url("STS.us-east-1.amazonaws.com", &q)));
        assert!(validate(&cfg(None), &padded, at(0)).is_ok());
    }

    #[test]
    fn shape_rules() {
        let c = cfg(Some("bedrock"));
        let cases: Vec<(String, SystemTime, &str)> = vec![
            ("Bearer-ish".into(), at(0), "must start"),
            (format!("{TOKEN_PREFIX}***"), at(0), "base64url"),
            (
                token(&url("sts.amazonaws.com.evil.com", &query(&[]))),
                at(0),
                "host",
            ),
            (token(&url("evil.com", &query(&[]))), at(0), "host"),
            (
                token(&format!("http://{HOST}/?{}", query(&[]))),
                at(0),
                "https",
            ),
            (
                token(&format!("https://{HOST}/x?{}", query(&[]))),
                at(0),
                "path",
            ),
            (
                token(&format!("{}#f", url(HOST, &query(&[])))),
                at(0),
                "fragment",
            ),
            (
                token(&url(HOST, &query(&[("Action", Some("AssumeRole"))]))),
                at(0),
                "GetCallerIdentity",
            ),
            (
                token(&url(HOST, &query(&[("Action", None)]))),
                at(0),
                "GetCallerIdentity",
            ),
            (
                token(&url(HOST, &query(&[("Version", Some("2099-01-01"))]))),
                at(0),
                "version",
            ),
            (
                token(&url(HOST, &query(&[("RoleArn", Some("x"))]))),
                at(0),
                "unexpected",
            ),
            (
                token(&format!(
                    "{}&Action=GetCallerIdentity",
                    url(HOST, &query(&[]))
                )),
                at(0),
                "twice",
            ),
            (
                token(&url(
                    HOST,
                    &query(&[(
                        "X-Amz-Credential",
                        Some("AKID%2F20231114%2Fus-east-1%2Fs3%2Faws4_request"),
                    )]),
                )),
                at(0),
                "sts",
            ),
            (
                token(&url(
                    HOST,
                    &query(&[(
                        "X-Amz-Credential",
                        Some("AKID%2F20231115%2Fus-east-1%2Fsts%2Faws4_request"),
                    )]),
                )),
                at(0),
                "scope date",
            ),
            (
                token(&url(HOST, &query(&[("X-Amz-Expires", Some("901"))]))),
                at(0),
                "X-Amz-Expires",
            ),
            (
                token(&url(HOST, &query(&[("X-Amz-Expires", Some("0"))]))),
                at(0),
                "X-Amz-Expires",
            ),
            (token(&url(HOST, &query(&[]))), at(61), "expired"),
            (token(&url(HOST, &query(&[]))), at(-301), "future"),
            (
                token(&url(HOST, &query(&[("X-Amz-Date", Some("2023-11-14"))]))),
                at(0),
                "X-Amz-Date",
            ),
            (
                token(&url(
                    HOST,
                    &query(&[("X-Amz-SignedHeaders", Some("x-k8s-aws-id"))]),
                )),
                at(0),
                "`host`",
            ),
            (
                token(&url(HOST, &query(&[("X-Amz-SignedHeaders", Some("host"))]))),
                at(0),
                "x-k8s-aws-id",
            ),
            (
                token(&url(
                    HOST,
                    &query(&[("X-Amz-SignedHeaders", Some("host%3Bx-k8s-aws-id%3Bx-evil"))]),
                )),
                at(0),
                "x-evil",
            ),
            (
                token(&url(HOST, &query(&[("X-Amz-Signature", Some("abc"))]))),
                at(0),
                "Signature",
            ),
            (
                format!("{TOKEN_PREFIX}{}", "A".repeat(MAX_TOKEN_LEN)),
                at(0),
                "too long",
            ),
        ];
        for (t, now, says) in cases {
            let e = validate(&c, &t, now).unwrap_err();
            assert_eq!(e.status, 401);
            assert!(e.message.contains(says), "{says}: {}", e.message);
        }
        // Without an audience, `host` alone is enough.
        let host_only = token(&url(HOST, &query(&[("X-Amz-SignedHeaders", Some("host"))])));
        assert!(validate(&cfg(None), &host_only, at(0)).is_ok());
    }

    /// Found in review: a token whose URL had a CR/LF, a space or similar in a raw query
    /// value passed [`validate`], was dispatched to STS as `:path`, and the broken dispatch
    /// answered 503. Every malformed token is a 401 like any other bad token, decided before
    /// STS is asked.
    #[test]
    fn malformed_tokens_are_401_before_sts() {
        let c = cfg(Some("bedrock"));
        let with = |k: &'static str, v: &str| token(&url(HOST, &query(&[(k, Some(v))])));
        let long_token = with("X-Amz-Security-Token", &"A".repeat(MAX_TOKEN_LEN));
        let cases: Vec<(&str, String)> = vec![
            ("CR", with("X-Amz-Date", "20231114T221320Z\r")),
            ("LF", with("X-Amz-Date", "20231114T221320Z\n")),
            (
                "CRLF header",
                with("X-Amz-Signature", &format!("{SIG}\r\nx-evil: 1")),
            ),
            ("NUL", with("X-Amz-Expires", "60\0")),
            (
                "space",
                with(
                    "X-Amz-Credential",
                    "AKID CALLER%2F20231114%2Fus-east-1%2Fsts%2Faws4_request",
                ),
            ),
            ("tab", with("Version", "2011-06-15\t")),
            ("DEL", with("Version", "2011-06-15\u{7f}")),
            ("non-ASCII", with("X-Amz-Security-Token", "tok\u{e9}n")),
            ("raw `;`", with("X-Amz-SignedHeaders", "host;x-k8s-aws-id")),
            (
                "raw `/`",
                with(
                    "X-Amz-Credential",
                    "AKIDCALLER/20231114/us-east-1/sts/aws4_request",
                ),
            ),
            ("raw `+`", with("X-Amz-Security-Token", "a+b")),
            ("raw `\"`", with("X-Amz-Security-Token", "a\"b")),
            ("bad escape", with("X-Amz-Security-Token", "a%zz")),
            ("short escape", with("X-Amz-Security-Token", "a%4")),
            ("encoded CRLF", with("X-Amz-Security-Token", "a%0D%0Ab")),
            ("encoded NUL", with("X-Amz-Expires", "60%00")),
            (
                "encoded space",
                with(
                    "X-Amz-Credential",
                    "AKID%20CALLER%2F20231114%2Fus-east-1%2Fsts%2Faws4_request",
                ),
            ),
            ("encoded non-UTF-8", with("X-Amz-Security-Token", "a%FF")),
            ("empty pair", token(&format!("{}&", url(HOST, &query(&[]))))),
            ("no query", token(&format!("https://{HOST}/?"))),
            ("over-long", long_token),
            (
                "duplicated",
                token(&format!("{}&X-Amz-Date={DATE}", url(HOST, &query(&[])))),
            ),
            (
                "missing signature",
                token(&url(HOST, &query(&[("X-Amz-Signature", None)]))),
            ),
            (
                "missing credential",
                token(&url(HOST, &query(&[("X-Amz-Credential", None)]))),
            ),
            (
                "missing date",
                token(&url(HOST, &query(&[("X-Amz-Date", None)]))),
            ),
            ("space in base64", format!("{TOKEN_PREFIX}aHR0 cHM6")),
            ("CR in base64", format!("{TOKEN_PREFIX}aHR0\rcHM6")),
            ("non-ASCII base64", format!("{TOKEN_PREFIX}aHR0\u{e9}cHM6")),
            ("not UTF-8", format!("{TOKEN_PREFIX}__79")),
            ("empty", TOKEN_PREFIX.to_string()),
            (
                "CR in host",
                token(&format!("https://{HOST}\r/?{}", query(&[]))),
            ),
            (
                "space before query",
                token(&format!("https://{HOST}/ ?{}", query(&[]))),
            ),
        ];
        for (what, t) in cases {
            let e = validate(&c, &t, at(0)).unwrap_err();
            assert_eq!(
                (e.status, e.kind, e.code.as_deref()),
                (
                    401,
                    crate::error::ErrorType::AuthenticationError,
                    Some("invalid_api_key")
                ),
                "{what}: {}",
                e.message
            );
            assert!(
                e.message.starts_with("Invalid IAM token: "),
                "{what}: {}",
                e.message
            );
            assert!(
                e.message.bytes().all(|b| b.is_ascii_graphic() || b == b' '),
                "{what}: the message stays printable: {:?}",
                e.message
            );
        }
        // The same values percent-encoded the way presigners write them are fine.
        let t = with("X-Amz-Security-Token", "IQoJb3JpZ2luX2VjE%2B%2F%3D");
        assert!(validate(&c, &t, at(0)).is_ok());
        assert!(is_presigned_query("a=b&c=%41~-._"));
        for bad in ["", "a=b&", "=b", "a=%4", "a=b c", "a=b+c", "a=\u{e9}"] {
            assert!(!is_presigned_query(bad), "{bad:?}");
        }
    }

    #[test]
    fn verdicts_and_arn_mapping() {
        let c = cfg(None);
        let ok = |arn: &str| {
            format!(
                r#"{{"GetCallerIdentityResponse":{{"GetCallerIdentityResult":{{"Arn":"{arn}","Account":"123456789012","UserId":"x"}}}}}}"#
            )
        };
        assert_eq!(
            verdict(
                &c,
                200,
                ok("arn:aws:sts::123456789012:assumed-role/bedrock-callers/s1").as_bytes()
            )
            .unwrap(),
            "ops"
        );
        assert_eq!(
            verdict(
                &c,
                200,
                ok("arn:aws:iam::123456789012:user/alice").as_bytes()
            )
            .unwrap(),
            "alice"
        );
        let xml = "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/alice</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>";
        assert_eq!(verdict(&c, 200, xml.as_bytes()).unwrap(), "alice");
        for (status, body, want) in [
            (
                200,
                ok("arn:aws:sts::123456789012:assumed-role/other/s1"),
                403,
            ),
            (
                200,
                ok("arn:aws:sts::999999999999:assumed-role/bedrock-callers/s1"),
                403,
            ),
            (
                403,
                r#"{"Error":{"Code":"SignatureDoesNotMatch","Message":"m"}}"#.to_string(),
                401,
            ),
            (503, String::new(), 503),
            (0, String::new(), 503),
            (200, "{}".to_string(), 503),
        ] {
            let e = verdict(&c, status, body.as_bytes()).unwrap_err();
            assert_eq!(e.status, want, "{status} {body}");
        }
        let e = verdict(&c, 403, br#"{"Error": {"Code": "SignatureDoesNotMatch"}}"#).unwrap_err();
        assert!(e.message.contains("SignatureDoesNotMatch"), "{}", e.message);
    }

    #[test]
    fn cache_keeps_verdicts_briefly_and_not_outages() {
        let c = cfg(None);
        let t = token(&url(HOST, &query(&[])));
        let p = validate(&c, &t, at(0)).unwrap();
        let mut cache = IamCache::default();
        cache.put(&c, &t, &p, &Ok("ops".into()), at(0));
        assert_eq!(cache.get(&t, at(30)), Some(Ok("ops".into())));
        assert_eq!(cache.get(&t, at(60)), None, "token expiry bounds the cache");
        assert_eq!(cache.get("other", at(1)), None);
        let mut cache = IamCache::default();
        let outage = Err(ApiError::service_unavailable("x"));
        cache.put(&c, &t, &p, &outage, at(0));
        assert_eq!(cache.get(&t, at(1)), None);
        cache.put(&c, &t, &p, &Err(deny("no")), at(0));
        assert_eq!(cache.get(&t, at(1)).map(|r| r.is_err()), Some(true));
    }

    #[test]
    fn config_and_helpers() {
        assert_eq!(parse_amz_date(DATE), Some(at(0)));
        assert_eq!(
            parse_amz_date("20000229T000000Z"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(parse_amz_date("20231314T221320Z"), None);
        assert_eq!(base64url_decode("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            token_of(Some("Bearer k8s-aws-v1.abc")),
            Some("k8s-aws-v1.abc")
        );
        assert_eq!(token_of(Some("Bearer sk-x")), None);
        let raw = |p: &[(&str, &str)]| RawIamAuth {
            principals: p
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            sts_host: None,
            cluster: None,
            audience: None,
            cache_seconds: None,
            timeout_ms: None,
        };
        assert!(IamAuth::from_raw(raw(&[]), "r")
            .unwrap_err()
            .0
            .contains("principals"));
        let e = IamAuth::from_raw(raw(&[("role/x", "t")]), "r")
            .unwrap_err()
            .0;
        assert!(e.contains("#1") && !e.contains("role/x"), "{e}");
        let e = IamAuth::from_raw(raw(&[("arn:aws:iam::1:role/r", " ")]), "r")
            .unwrap_err()
            .0;
        assert!(e.contains("`arn:aws:iam::1:role/r`"), "{e}");
        let ok = IamAuth::from_raw(raw(&[("arn:aws:iam::1:role/r", "t")]), "eu-west-1").unwrap();
        assert_eq!(
            (ok.sts_host.as_str(), ok.cache),
            ("sts.eu-west-1.amazonaws.com", Duration::from_secs(60))
        );
    }
}
