//! Credentials that expire: fetched from EC2's instance metadata service (IMDSv2) or the
//! ECS/EKS container credentials endpoint, and fetched again before they expire.
//!
//! [`Refresher`] decides everything: when to fetch, which HTTP call comes next
//! ([`SideCall`]), how to read the answer, and which credentials are valid at a given time. The
//! shell only dispatches the calls (`dispatch_http_call` from the root context's timer) and
//! feeds the answers back. Requests made while no valid credentials exist are answered 503 by
//! the request phase, never sent unsigned.
//!
//! IMDSv2: `PUT /latest/api/token` (`x-aws-ec2-metadata-token-ttl-seconds`) → session token;
//! `GET /latest/meta-data/iam/security-credentials/` → role name (unless configured);
//! `GET /latest/meta-data/iam/security-credentials/{role}` → credential JSON. Container:
//! `GET {path}` with the optional `authorization` token → credential JSON. Both JSON shapes
//! carry `AccessKeyId`, `SecretAccessKey`, `Token` and `Expiration` (RFC 3339, UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::document::DocumentError;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::Credentials;

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// EC2 instance metadata (IMDSv2); `role` is discovered when not configured.
    Imds { role: Option<String> },
    /// ECS / EKS Pod Identity container credentials endpoint.
    Container {
        path: String,
        authorization: Option<String>,
    },
}

/// Validated `credentials_source` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSource {
    pub kind: SourceKind,
    /// Envoy cluster the calls go to.
    pub cluster: String,
    /// `:authority` of the calls.
    pub authority: String,
    /// SideCall new credentials this long before the current ones expire (but never before half
    /// their lifetime has passed).
    pub refresh_before: Duration,
    pub timeout: Duration,
}

const IMDS_TOKEN_PATH: &str = "/latest/api/token";
const IMDS_ROLE_PATH: &str = "/latest/meta-data/iam/security-credentials/";
const IMDS_TOKEN_TTL_SECONDS: u64 = 21_600;
/// Credentials this close to expiry are no longer used to sign (a request may take a while
/// to reach Bedrock); a quarter of the lifetime for very short-lived credentials.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
const MAX_BACKOFF_SECONDS: u64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Idle,
    Token,
    Role,
    Credentials,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Idle => "Idle",
            Step::Token => "Token",
            Step::Role => "Role",
            Step::Credentials => "Credentials",
        }
    }
}

/// Why a credentials refresh failed. Safe to log: it never holds a value of the answers,
/// which carry the secret key and the session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsError {
    /// The shell could not dispatch the call to its cluster.
    Dispatch {
        cluster: String,
    },
    /// A call of the chain (`Token`, `Role`, `Credentials`) got no answer.
    NoAnswer {
        step: &'static str,
    },
    /// A call of the chain answered another status than 200.
    Status {
        step: &'static str,
        status: u16,
    },
    /// An answer arrived while no call was in flight.
    Unexpected,
    EmptyToken,
    NoRole,
    /// The credential JSON cannot be read: where, never what.
    Unreadable(DocumentError),
    NotSuccess,
    EmptyKey,
    BadExpiration,
    Expired,
}

impl std::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dispatch { cluster } => write!(f, "could not dispatch to cluster `{cluster}`"),
            Self::NoAnswer { step } => write!(f, "{step} call failed (no answer)"),
            Self::Status { step, status } => write!(f, "{step} call answered HTTP {status}"),
            Self::Unexpected => f.write_str("unexpected answer"),
            Self::EmptyToken => f.write_str("IMDS returned an empty session token"),
            Self::NoRole => f.write_str("IMDS lists no instance role"),
            Self::Unreadable(e) => write!(f, "credential JSON is unreadable: {e}"),
            Self::NotSuccess => {
                f.write_str("credential endpoint answered a `Code` other than `Success`")
            }
            Self::EmptyKey => {
                f.write_str("credential JSON has an empty AccessKeyId or SecretAccessKey")
            }
            Self::BadExpiration => f.write_str("`Expiration` is not an RFC 3339 time"),
            Self::Expired => f.write_str("the credential endpoint returned expired credentials"),
        }
    }
}

impl std::error::Error for CredentialsError {}

/// Valid credentials and when they stop being valid (`None`: never, as for static keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
    pub obtained: SystemTime,
}

/// The refresh state machine of one VM (one per Envoy worker).
#[derive(Debug, Clone)]
pub struct Refresher {
    source: CredentialSource,
    current: Option<Live>,
    step: Step,
    imds_token: Option<(String, SystemTime)>,
    role: Option<String>,
    failures: u32,
    retry_at: Option<SystemTime>,
    /// The last failure, for logs.
    last_error: Option<CredentialsError>,
}

/// What happened to a fetch chain after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Dispatch this next call.
    Next(SideCall),
    /// New credentials are in place.
    Refreshed { access_key_id: String },
    /// The chain failed; retried after a backoff. Safe to log.
    Failed(CredentialsError),
}

impl Progress {
    /// The next call of the chain, for the shell to dispatch; an end of the chain is logged
    /// here (the access key id, or why it failed; never a secret).
    pub fn next_call(self) -> Option<SideCall> {
        match self {
            Progress::Next(call) => return Some(call),
            Progress::Refreshed { access_key_id } => {
                log::info!("credentials refreshed: access key {access_key_id}");
            }
            Progress::Failed(why) => log::warn!("credentials refresh failed: {why}"),
        }
        None
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialJson {
    #[serde(default)]
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

impl Refresher {
    pub fn new(source: CredentialSource) -> Self {
        let role = match &source.kind {
            SourceKind::Imds { role } => role.clone(),
            SourceKind::Container { .. } => None,
        };
        Self {
            source,
            current: None,
            step: Step::Idle,
            imds_token: None,
            role,
            failures: 0,
            retry_at: None,
            last_error: None,
        }
    }

    pub fn source(&self) -> &CredentialSource {
        &self.source
    }

    /// Credentials to sign with at `now`, if any are valid.
    pub fn current(&self, now: SystemTime) -> Option<&Credentials> {
        let live = self.current.as_ref()?;
        match live.expires {
            Some(exp) => {
                let lifetime = exp.duration_since(live.obtained).unwrap_or_default();
                let margin = EXPIRY_MARGIN.min(lifetime / 4);
                (now + margin < exp).then_some(&live.credentials)
            }
            None => Some(&live.credentials),
        }
    }

    pub fn last_error(&self) -> Option<&CredentialsError> {
        self.last_error.as_ref()
    }

    /// When the current credentials should be replaced.
    fn refresh_at(&self) -> Option<SystemTime> {
        let live = self.current.as_ref()?;
        let exp = live.expires?;
        let early = exp
            .checked_sub(self.source.refresh_before)
            .unwrap_or(UNIX_EPOCH);
        let lifetime = exp.duration_since(live.obtained).unwrap_or_default();
        Some(early.max(live.obtained + lifetime / 2))
    }

    /// Called on every timer tick: the first call of a new fetch chain when one is due.
    pub fn poll(&mut self, now: SystemTime) -> Option<SideCall> {
        if self.step != Step::Idle {
            return None;
        }
        if self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let due = match (&self.current, self.refresh_at()) {
            (None, _) => true,
            (Some(_), Some(at)) => now >= at,
            (Some(_), None) => false,
        };
        if !due {
            return None;
        }
        Some(self.first_call(now))
    }

    fn first_call(&mut self, now: SystemTime) -> SideCall {
        match &self.source.kind {
            SourceKind::Container {
                path,
                authorization,
            } => {
                self.step = Step::Credentials;
                let headers = authorization
                    .iter()
                    .map(|a| ("authorization".to_string(), a.clone()))
                    .collect();
                self.call("GET", path.clone(), headers)
            }
            SourceKind::Imds { .. } => match self.imds_token.clone() {
                Some((token, exp)) if now + Duration::from_secs(60) < exp => {
                    self.after_token(token)
                }
                _ => {
                    self.step = Step::Token;
                    self.call(
                        "PUT",
                        IMDS_TOKEN_PATH.to_string(),
                        vec![(
                            "x-aws-ec2-metadata-token-ttl-seconds".to_string(),
                            IMDS_TOKEN_TTL_SECONDS.to_string(),
                        )],
                    )
                }
            },
        }
    }

    fn after_token(&mut self, token: String) -> SideCall {
        let headers = vec![("x-aws-ec2-metadata-token".to_string(), token)];
        match &self.role {
            Some(role) => {
                self.step = Step::Credentials;
                self.call("GET", format!("{IMDS_ROLE_PATH}{role}"), headers)
            }
            None => {
                self.step = Step::Role;
                self.call("GET", IMDS_ROLE_PATH.to_string(), headers)
            }
        }
    }

    fn call(&self, method: &'static str, path: String, headers: Vec<(String, String)>) -> SideCall {
        let s = &self.source;
        let mut call = SideCall::new(&s.cluster, method, &s.authority, path, s.timeout);
        call.headers.push(("accept".to_string(), "*/*".to_string()));
        call.headers.extend(headers);
        call
    }

    /// The answer to the last dispatched call; `status` is `None` when the call itself failed
    /// (no cluster, connect failure, timeout).
    pub fn on_response(&mut self, now: SystemTime, status: Option<u16>, body: &[u8]) -> Progress {
        let step = std::mem::replace(&mut self.step, Step::Idle);
        let Some(status) = status else {
            let step = step.name();
            return self.fail(now, CredentialsError::NoAnswer { step });
        };
        if status != 200 {
            if status == 401 && step != Step::Token {
                // The IMDS session token is no longer accepted: get a new one next time.
                self.imds_token = None;
            }
            let step = step.name();
            return self.fail(now, CredentialsError::Status { step, status });
        }
        match step {
            Step::Idle => Progress::Failed(CredentialsError::Unexpected),
            Step::Token => {
                let token = String::from_utf8_lossy(body).trim().to_string();
                if token.is_empty() {
                    return self.fail(now, CredentialsError::EmptyToken);
                }
                self.imds_token = Some((
                    token.clone(),
                    now + Duration::from_secs(IMDS_TOKEN_TTL_SECONDS),
                ));
                Progress::Next(self.after_token(token))
            }
            Step::Role => {
                let text = String::from_utf8_lossy(body);
                let Some(role) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
                    return self.fail(now, CredentialsError::NoRole);
                };
                self.role = Some(role.to_string());
                let token = self
                    .imds_token
                    .as_ref()
                    .map(|(t, _)| t.clone())
                    .unwrap_or_default();
                Progress::Next(self.after_token(token))
            }
            Step::Credentials => match parse_credentials(body, now) {
                Ok(live) => {
                    let id = live.credentials.access_key_id.clone();
                    self.current = Some(live);
                    self.failures = 0;
                    self.retry_at = None;
                    self.last_error = None;
                    Progress::Refreshed { access_key_id: id }
                }
                Err(e) => self.fail(now, e),
            },
        }
    }

    /// The shell could not dispatch the call at all.
    pub fn on_dispatch_failed(&mut self, now: SystemTime) -> Progress {
        self.step = Step::Idle;
        let cluster = self.source.cluster.clone();
        self.fail(now, CredentialsError::Dispatch { cluster })
    }

    fn fail(&mut self, now: SystemTime, error: CredentialsError) -> Progress {
        self.failures = self.failures.saturating_add(1);
        let backoff = 1u64
            .checked_shl(self.failures.saturating_sub(1))
            .unwrap_or(MAX_BACKOFF_SECONDS)
            .min(MAX_BACKOFF_SECONDS);
        self.retry_at = Some(now + Duration::from_secs(backoff));
        self.last_error = Some(error.clone());
        Progress::Failed(error)
    }
}

/// Parses the credential JSON of either endpoint.
pub fn parse_credentials(body: &[u8], now: SystemTime) -> Result<Live, CredentialsError> {
    // Errors never repeat a value of the answer: it holds the secret key and token.
    let c: CredentialJson =
        crate::document::parse_json(body, &|_| true).map_err(CredentialsError::Unreadable)?;
    if c.code.as_deref().is_some_and(|c| c != "Success") {
        return Err(CredentialsError::NotSuccess);
    }
    if c.access_key_id.trim().is_empty() || c.secret_access_key.is_empty() {
        return Err(CredentialsError::EmptyKey);
    }
    let expires = match c.expiration.as_deref() {
        None => None,
        Some(s) => Some(parse_rfc3339(s).ok_or(CredentialsError::BadExpiration)?),
    };
    if expires.is_some_and(|e| e <= now) {
        return Err(CredentialsError::Expired);
    }
    Ok(Live {
        credentials: Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.token.filter(|t| !t.is_empty()),
        },
        expires,
        obtained: now,
    })
}

/// `2025-11-25T14:45:00Z` (fractional seconds and `+00:00` accepted) → time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off.get(1..)?.split_once(':')?;
        (
            c,
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut t = clock.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn imds(role: Option<&str>) -> CredentialSource {
        CredentialSource {
            kind: SourceKind::Imds {
                role: role.map(str::to_string),
            },
            cluster: "imds".into(),
            authority: "169.254.169.254".into(),
            refresh_before: Duration::from_secs(300),
            timeout: Duration::from_secs(2),
        }
    }

    fn creds_json(id: &str, expires: &str) -> Vec<u8> {
        format!(
            r#"{{"Code":"Success","LastUpdated":"2025-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{id}","SecretAccessKey":"s","Token":"t","Expiration":"{expires}"}}"#
        )
        .into_bytes()
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(at(0)));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(at(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123Z"),
            Some(at(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(at(1_700_000_000))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(at(1_709_164_800))
        );
        for bad in ["", "2023-11-14", "2023-13-01T00:00:00Z", "x-y-zT1:2:3Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn imds_chain_discovers_the_role_then_refreshes_before_expiry() {
        let mut r = Refresher::new(imds(None));
        let t0 = 1_700_000_000;
        assert!(r.current(at(t0)).is_none());
        let f = r.poll(at(t0)).unwrap();
        assert_eq!((f.method, f.path.as_str()), ("PUT", IMDS_TOKEN_PATH));
        assert!(f
            .headers
            .iter()
            .any(|(k, v)| k == "x-aws-ec2-metadata-token-ttl-seconds" && v == "21600"));
        // In flight: ticks do not start a second chain.
        assert!(r.poll(at(t0)).is_none());
        let Progress::Next(f) = r.on_response(at(t0), Some(200), b"TOKEN") else {
            panic!()
        };
        assert_eq!((f.method, f.path.as_str()), ("GET", IMDS_ROLE_PATH));
        assert!(f
            .headers
            .contains(&("x-aws-ec2-metadata-token".into(), "TOKEN".into())));
        let Progress::Next(f) = r.on_response(at(t0), Some(200), b"my-role\n") else {
            panic!()
        };
        assert_eq!(f.path, format!("{IMDS_ROLE_PATH}my-role"));
        // Expires in one hour: valid now, refreshed 5 minutes before the end.
        let p = r.on_response(
            at(t0),
            Some(200),
            &creds_json("AKID1", "2023-11-14T23:13:20Z"),
        );
        assert_eq!(
            p,
            Progress::Refreshed {
                access_key_id: "AKID1".into()
            }
        );
        assert_eq!(
            r.current(at(t0 + 10)).unwrap().session_token.as_deref(),
            Some("t")
        );
        assert!(r.poll(at(t0 + 3000)).is_none());
        // Token and role are reused.
        let f = r.poll(at(t0 + 3300)).unwrap();
        assert_eq!(f.path, format!("{IMDS_ROLE_PATH}my-role"));
        // Still valid while the refresh is under way; not at the very end.
        assert!(r.current(at(t0 + 3300)).is_some());
        assert!(r.current(at(t0 + 3596)).is_none());
    }

    #[test]
    fn short_lived_credentials_are_refreshed_at_half_life() {
        let mut r = Refresher::new(CredentialSource {
            kind: SourceKind::Container {
                path: "/v2/credentials/abc".into(),
                authorization: Some("secret-auth".into()),
            },
            ..imds(None)
        });
        let t0 = 1_700_000_000;
        let f = r.poll(at(t0)).unwrap();
        assert_eq!((f.method, f.path.as_str()), ("GET", "/v2/credentials/abc"));
        assert!(f
            .headers
            .contains(&("authorization".into(), "secret-auth".into())));
        // 20 s of life (an emulator's): refresh at 10 s, not immediately.
        r.on_response(
            at(t0),
            Some(200),
            &creds_json("AKID2", "2023-11-14T22:13:40Z"),
        );
        assert!(r.poll(at(t0 + 9)).is_none());
        assert!(r.poll(at(t0 + 10)).is_some());
        // Valid until 5 s (a quarter of 20 s) before the end.
        assert!(r.current(at(t0 + 14)).is_some());
        assert!(r.current(at(t0 + 15)).is_none());
    }

    #[test]
    fn failures_back_off_and_never_yield_credentials() {
        let mut r = Refresher::new(imds(Some("role")));
        let t0 = 1_700_000_000;
        r.poll(at(t0)).unwrap();
        assert!(matches!(
            r.on_response(at(t0), None, b""),
            Progress::Failed(_)
        ));
        assert!(r.poll(at(t0)).is_none(), "backoff");
        r.poll(at(t0 + 1)).unwrap();
        let Progress::Next(_) = r.on_response(at(t0 + 1), Some(200), b"TOK") else {
            panic!()
        };
        assert!(matches!(
            r.on_response(at(t0 + 1), Some(401), b""),
            Progress::Failed(_)
        ));
        assert!(r.poll(at(t0 + 2)).is_none(), "second failure waits 2 s");
        // The rejected session token is not reused.
        assert_eq!(r.poll(at(t0 + 3)).unwrap().path, IMDS_TOKEN_PATH);
        r.on_dispatch_failed(at(t0 + 3));
        assert!(r.current(at(t0 + 3)).is_none());
        assert!(r.last_error().unwrap().to_string().contains("imds"));
        for bad in [
            &b"not json"[..],
            br#"{"Code":"Failure","AccessKeyId":"a","SecretAccessKey":"s"}"#,
            br#"{"AccessKeyId":"","SecretAccessKey":"s"}"#,
            br#"{"AccessKeyId":"a","SecretAccessKey":"s","Expiration":"2000-01-01T00:00:00Z"}"#,
        ] {
            assert!(parse_credentials(bad, at(t0)).is_err());
        }
        // Found in review: errors quoted the answer (serde's message, `Code`, `Expiration`),
        // which holds the secret key and token, and they are logged. They never do now.
        for (bad, says) in [
            (
                r#"{"AccessKeyId":"a","SecretAccessKey":["SECRET"]}"#,
                "`SecretAccessKey`: invalid type: sequence, expected a string",
            ),
            (
                r#"{"AccessKeyId":"a","SecretAccessKey":"SECRET","Token":{"t":"SECRET"}}"#,
                "`Token`: invalid type: map",
            ),
            (r#"{"AccessKeyId":"a"}"#, "missing field `SecretAccessKey`"),
            (
                r#"{"AccessKeyId":"a","SecretAccessKey":"SECRET"#,
                "not valid JSON",
            ),
            (r#""SECRET""#, "invalid type: string"),
            (
                r#"{"Code":"SECRET","AccessKeyId":"a","SecretAccessKey":"SECRET"}"#,
                "`Code` other than `Success`",
            ),
            (
                r#"{"AccessKeyId":"a","SecretAccessKey":"s","Expiration":"SECRET"}"#,
                "`Expiration` is not",
            ),
        ] {
            let e = parse_credentials(bad.as_bytes(), at(t0))
                .unwrap_err()
                .to_string();
            assert!(!e.contains("SECRET") && e.contains(says), "{bad}: {e}");
        }
        let never =
            parse_credentials(br#"{"AccessKeyId":"a","SecretAccessKey":"s"}"#, at(t0)).unwrap();
        assert_eq!(never.expires, None);
    }
}
