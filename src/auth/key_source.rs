//! API keys kept in AWS: the tenant key table read from Secrets Manager (`GetSecretValue`) or
//! SSM Parameter Store (`GetParameter`), at start and on a refresh timer.
//!
//! Pure core: the signed request to send ([`fetch_request`]), reading the answer
//! ([`secret_from_response`], [`KeyTable::parse`]) and the refresh decisions ([`KeyState`]).
//! The shell (`filter/root.rs`) only dispatches, ticks and logs what it is told.
//!
//! The secret (`SecretString`, or the parameter's `Value`) is JSON, the key part of the
//! plugin configuration's `tenants` block — keys only as SHA-256 hex digests:
//!
//! ```json
//! {"tenants": {"acme": {"key_sha256": ["4ff444b1…"]}, "beta": {"key_sha256": ["…", "…"]}}}
//! ```
//!
//! Rules: no table is served until one has been read (every table key is 401 until then);
//! a failed refresh (HTTP error, unreadable secret, invalid table) keeps the last good table
//! and is retried after `retry_seconds`; a good one replaces the table at once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::auth::keys::{parse_digest, valid_tenant_name, DigestTable};
use crate::document::parse_json;
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::{self, Credentials, SignRequest};

const DEFAULT_REFRESH_SECONDS: u64 = 300;
const DEFAULT_RETRY_SECONDS: u64 = 10;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Bounds on the secret, so a wrong secret id cannot fill the VM's memory.
const MAX_KEYS: usize = 100_000;

/// Why the key table could not be read or used. The text never holds a key or the secret:
/// these errors are logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySourceError {
    /// An `api_keys_source` setting is invalid; the text names the field.
    Setting(String),
    /// There are no AWS credentials yet to sign the read with.
    NoCredentials,
    /// The signed read could not be built.
    Request(String),
    /// Envoy could not dispatch the read to its cluster.
    Dispatch { cluster: String },
    /// The service's answer holds no secret text: its status and error name, or its shape.
    Answer(String),
    /// The secret is not a valid key table: where, never what.
    Table(String),
}

impl std::fmt::Display for KeySourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setting(m) | Self::Request(m) | Self::Answer(m) | Self::Table(m) => {
                f.write_str(m)
            }
            Self::NoCredentials => f.write_str("no AWS credentials yet to sign the read with"),
            Self::Dispatch { cluster } => write!(f, "could not call cluster `{cluster}`"),
        }
    }
}

impl std::error::Error for KeySourceError {}

/// Where the table is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SecretsManager,
    Ssm,
}

impl<'de> Deserialize<'de> for Service {
    /// `secretsmanager` or `ssm`; anything else is `` `api_keys_source.service` must be … ``.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = &["secretsmanager", "ssm"];
        let tail = " must be `secretsmanager` or `ssm`";
        Ok(match crate::document::deserialize_one_of(d, names, tail)? {
            0 => Service::SecretsManager,
            _ => Service::Ssm,
        })
    }
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
        }
    }
    fn target(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager.GetSecretValue",
            Service::Ssm => "AmazonSSM.GetParameter",
        }
    }
}

/// `api_keys_source` as written in the plugin configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeySource {
    pub service: Service,
    /// The secret id / ARN, or the parameter name.
    pub id: String,
    /// Envoy cluster that reaches the service; default: the service name.
    #[serde(default)]
    pub cluster: Option<String>,
    /// `:authority` and SigV4 host; default `{service}.{region}.amazonaws.com`.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub refresh_seconds: Option<u64>,
    #[serde(default)]
    pub retry_seconds: Option<u64>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The validated key source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySource {
    pub service: Service,
    pub id: String,
    pub cluster: String,
    pub host: String,
    /// Time between good reads.
    pub refresh: Duration,
    /// Time between attempts while the last one failed (or nothing is loaded yet).
    pub retry: Duration,
    pub timeout: Duration,
}

impl KeySource {
    pub(crate) fn from_raw(raw: RawKeySource, region: &str) -> Result<Self, KeySourceError> {
        let field = |f: &str| format!("`api_keys_source.{f}`");
        let service = raw.service;
        if raw.id.trim().is_empty() {
            return Err(KeySourceError::Setting(format!("{} is empty", field("id"))));
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let seconds = |v: Option<u64>, default: u64, name: &str| match v {
            Some(0) => Err(KeySourceError::Setting(format!(
                "{} must be at least 1",
                field(name)
            ))),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        Ok(Self {
            service,
            id: raw.id,
            cluster: nonempty(raw.cluster).unwrap_or_else(|| service.signing_name().into()),
            host: nonempty(raw.host)
                .unwrap_or_else(|| format!("{}.{region}.amazonaws.com", service.signing_name())),
            refresh: Duration::from_secs(seconds(
                raw.refresh_seconds,
                DEFAULT_REFRESH_SECONDS,
                "refresh_seconds",
            )?),
            retry: Duration::from_secs(seconds(
                raw.retry_seconds,
                DEFAULT_RETRY_SECONDS,
                "retry_seconds",
            )?),
            timeout: Duration::from_millis(seconds(
                raw.timeout_ms,
                DEFAULT_TIMEOUT_MS,
                "timeout_ms",
            )?),
        })
    }
}

/// The credentials the read is signed with: the configured ones, or the live refreshed ones.
pub fn signing_credentials<'a>(
    upstream: &'a crate::upstream::Upstream,
    live: Option<&'a Credentials>,
) -> Option<&'a Credentials> {
    use crate::upstream::{AwsAuth, Upstream};
    match upstream {
        Upstream::Aws(AwsAuth::SigV4(c)) => Some(c),
        Upstream::Aws(AwsAuth::Refreshed(_)) => live,
        _ => None,
    }
}

/// The signed `GetSecretValue` / `GetParameter` call (AWS JSON 1.1 protocol).
pub fn fetch_request(
    src: &KeySource,
    creds: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<SideCall, KeySourceError> {
    let body = match src.service {
        Service::SecretsManager => serde_json::json!({ "SecretId": src.id }),
        Service::Ssm => serde_json::json!({ "Name": src.id, "WithDecryption": true }),
    };
    let body = serde_json::to_vec(&body).map_err(|e| KeySourceError::Request(e.to_string()))?;
    let content_type = "application/x-amz-json-1.1";
    let signed = [
        ("content-type", content_type),
        ("x-amz-target", src.service.target()),
    ];
    let auth = sigv4::sign(
        creds,
        region,
        src.service.signing_name(),
        &SignRequest {
            method: "POST",
            host: &src.host,
            path: "/",
            headers: &signed,
            body: &body,
        },
        now,
    )
    .map_err(|e| {
        KeySourceError::Request(format!(
            "signing the {} call failed: {e}",
            src.service.target()
        ))
    })?;
    let mut call = SideCall::new(&src.cluster, "POST", &src.host, "/".into(), src.timeout);
    call.headers
        .extend(signed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    call.headers.extend(auth);
    call.body = body;
    Ok(call)
}

/// The secret text out of a `GetSecretValue` / `GetParameter` answer.
pub fn secret_from_response(
    service: Service,
    status: u16,
    body: &[u8],
) -> Result<String, KeySourceError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        KeySourceError::Answer(format!(
            "{} answered {status} with a body that is not JSON",
            service.target()
        ))
    })?;
    if status != 200 {
        let kind = json
            .get("__type")
            .and_then(|t| t.as_str())
            .unwrap_or("unknown error");
        let message = json
            .get("message")
            .or_else(|| json.get("Message"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return Err(KeySourceError::Answer(format!(
            "{} answered {status} {kind}: {message}",
            service.target()
        )));
    }
    let text = match service {
        Service::SecretsManager => json.get("SecretString"),
        Service::Ssm => json.get("Parameter").and_then(|p| p.get("Value")),
    };
    text.and_then(|t| t.as_str())
        .map(String::from)
        .ok_or_else(|| {
            KeySourceError::Answer(format!(
                "{} answered without {}",
                service.target(),
                match service {
                    Service::SecretsManager => "`SecretString` (binary secrets are not supported)",
                    Service::Ssm => "`Parameter.Value`",
                }
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    tenants: BTreeMap<String, RawTenantKeys>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantKeys {
    key_sha256: Vec<String>,
}

/// Key digests → tenant names, as read from the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTable {
    keys: DigestTable<String>,
}

impl KeyTable {
    /// Parses the secret text; `known` says whether a tenant is in the plugin
    /// configuration's `tenants` (where its models and limits are). Errors say where, and
    /// never quote the table (a raw key stored by mistake must not reach the log): a tenant
    /// name is named only when it is one of the configuration's.
    pub fn parse(text: &str, known: &dyn Fn(&str) -> bool) -> Result<Self, KeySourceError> {
        let show = |k: &str| k == "tenants" || k == "key_sha256" || known(k);
        let raw: RawTable = parse_json(text.as_bytes(), &show)
            .map_err(|e| KeySourceError::Table(format!("the key table is not valid: {e}")))?;
        let mut keys = DigestTable::default();
        for (n, (name, entry)) in raw.tenants.into_iter().enumerate() {
            if !valid_tenant_name(&name) {
                return Err(KeySourceError::Table(format!(
                    "tenant name #{} (in sorted order) of the key table's `tenants` must be 1-64 letters, digits, `_` or `-`",
                    n + 1
                )));
            }
            if !known(&name) {
                return Err(KeySourceError::Table(format!(
                    "tenant name #{} (in sorted order) of the key table's `tenants` is not in the plugin configuration's `tenants`",
                    n + 1
                )));
            }
            let mut digests = Vec::with_capacity(entry.key_sha256.len());
            for (i, hex_digest) in entry.key_sha256.iter().enumerate() {
                digests.push(parse_digest(hex_digest).ok_or_else(|| {
                    KeySourceError::Table(format!(
                        "`tenants.{name}.key_sha256[{i}]` is not a 64-digit hex SHA-256"
                    ))
                })?);
            }
            let at = |i: usize| format!("`tenants.{name}.key_sha256[{i}]`");
            keys.push(name.clone(), digests).map_err(|dup| {
                KeySourceError::Table(format!("{} is listed more than once", at(dup.position)))
            })?;
            if keys.key_count() > MAX_KEYS {
                return Err(KeySourceError::Table(format!(
                    "the key table has more than {MAX_KEYS} keys"
                )));
            }
        }
        Ok(Self { keys })
    }

    pub(crate) fn key_count(&self) -> usize {
        self.keys.key_count()
    }

    pub(crate) fn tenant_count(&self) -> usize {
        self.keys.owners().len()
    }

    /// The tenant of a presented key ([`DigestTable::lookup`]: constant time).
    pub(crate) fn lookup(&self, presented: &str) -> Option<&str> {
        self.keys.lookup(presented).map(String::as_str)
    }
}

/// What a finished refresh did, for the shell to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    Loaded {
        tenants: usize,
        keys: usize,
    },
    /// The refresh failed; the previous table stays in use.
    KeptLastGood {
        error: KeySourceError,
    },
    /// The refresh failed and there is no table yet: every table key is refused.
    NothingLoaded {
        error: KeySourceError,
    },
}

impl Refresh {
    pub fn is_error(&self) -> bool {
        !matches!(self, Refresh::Loaded { .. })
    }

    /// Logs the outcome: a warning when the table did not load.
    pub fn log(&self) {
        if self.is_error() {
            log::warn!("{self}");
        } else {
            log::info!("{self}");
        }
    }
}

impl std::fmt::Display for Refresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refresh::Loaded { tenants, keys } => {
                write!(
                    f,
                    "API key table loaded: {tenants} tenant(s), {keys} key(s)"
                )
            }
            Refresh::KeptLastGood { error } => write!(
                f,
                "API key table refresh failed, still serving the last good table: {error}"
            ),
            Refresh::NothingLoaded { error } => write!(
                f,
                "API key table could not be loaded, table keys are refused until it is: {error}"
            ),
        }
    }
}

/// The table in use and the refresh schedule, one per VM (worker).
#[derive(Debug, Default)]
pub struct KeyState {
    table: Option<KeyTable>,
    in_flight: Option<SystemTime>,
    last_attempt: Option<SystemTime>,
    last_failed: bool,
}

impl KeyState {
    pub(crate) fn table(&self) -> Option<&KeyTable> {
        self.table.as_ref()
    }

    /// Whether to start a read now: never while one is in flight (unless it is overdue by
    /// twice its timeout), at once when nothing was tried, after `retry` when nothing is
    /// loaded or the last read failed, else after `refresh`.
    pub fn due(&self, src: &KeySource, now: SystemTime) -> bool {
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        if let Some(started) = self.in_flight {
            return since(started) > src.timeout * 2;
        }
        match self.last_attempt {
            None => true,
            Some(t) if self.table.is_none() || self.last_failed => since(t) >= src.retry,
            Some(t) => since(t) >= src.refresh,
        }
    }

    pub fn started(&mut self, now: SystemTime) {
        self.in_flight = Some(now);
        self.last_attempt = Some(now);
    }

    /// On a tick: the signed read to dispatch when one is due (the read counts as started),
    /// or why none could be built (the read counts as failed). `None` when nothing is due.
    pub fn poll(
        &mut self,
        src: &KeySource,
        upstream: &crate::upstream::Upstream,
        region: &str,
        live: Option<&Credentials>,
        now: SystemTime,
    ) -> Option<Result<SideCall, Refresh>> {
        if !self.due(src, now) {
            return None;
        }
        self.started(now);
        let Some(creds) = signing_credentials(upstream, live) else {
            return Some(Err(self.finished(Err(KeySourceError::NoCredentials))));
        };
        Some(fetch_request(src, creds, region, now).map_err(|e| self.finished(Err(e))))
    }

    /// The read [`KeyState::poll`] gave could not be dispatched (an unknown cluster).
    pub fn not_dispatched(&mut self, call: SideCall) -> Refresh {
        self.finished(Err(KeySourceError::Dispatch {
            cluster: call.cluster,
        }))
    }

    /// Records the outcome of a read (the parsed table, or why there is none).
    pub fn finished(&mut self, result: Result<KeyTable, KeySourceError>) -> Refresh {
        self.in_flight = None;
        match result {
            Ok(table) => {
                let r = Refresh::Loaded {
                    tenants: table.tenant_count(),
                    keys: table.key_count(),
                };
                self.table = Some(table);
                self.last_failed = false;
                r
            }
            Err(error) => {
                self.last_failed = true;
                if self.table.is_some() {
                    Refresh::KeptLastGood { error }
                } else {
                    Refresh::NothingLoaded { error }
                }
            }
        }
    }

    /// A read's answer → the outcome: [`secret_from_response`] then [`KeyTable::parse`].
    pub fn answer(
        &mut self,
        service: Service,
        status: u16,
        body: &[u8],
        known: &dyn Fn(&str) -> bool,
    ) -> Refresh {
        let result =
            secret_from_response(service, status, body).and_then(|t| KeyTable::parse(&t, known));
        self.finished(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::digest;
    use crate::document::DocumentError;
    use std::time::UNIX_EPOCH;

    fn src() -> KeySource {
        KeySource::from_raw(
            RawKeySource {
                service: Service::SecretsManager,
                id: "bedrock/keys".into(),
                cluster: None,
                host: None,
                refresh_seconds: Some(60),
                retry_seconds: Some(5),
                timeout_ms: Some(1000),
            },
            "us-east-1",
        )
        .unwrap()
    }

    fn table_json(tenant: &str, keys: &[&str]) -> String {
        let digests: Vec<String> = keys.iter().map(|k| hex::encode(digest(k))).collect();
        serde_json::json!({"tenants": {tenant: {"key_sha256": digests}}}).to_string()
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn builds_a_signed_get_secret_value_call() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s".into(),
            session_token: None,
        };
        let call = fetch_request(&src(), &creds, "us-east-1", at(0)).unwrap();
        assert_eq!(call.cluster, "secretsmanager");
        let h = |n: &str| call.header(n);
        assert_eq!(
            h(":authority"),
            Some("secretsmanager.us-east-1.amazonaws.com")
        );
        assert_eq!(h("x-amz-target"), Some("secretsmanager.GetSecretValue"));
        assert_eq!(h("content-type"), Some("application/x-amz-json-1.1"));
        let auth = h("authorization").unwrap();
        assert!(
            auth.contains("/us-east-1/secretsmanager/aws4_request"),
            "{auth}"
        );
        assert!(auth.contains("x-amz-target"), "{auth}");
        assert_eq!(call.body, br#"{"SecretId":"bedrock/keys"}"#);
        let mut ssm = src();
        ssm.service = Service::Ssm;
        let call = fetch_request(&ssm, &creds, "us-east-1", at(0)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Name": "bedrock/keys", "WithDecryption": true})
        );
    }

    #[test]
    fn config_defaults_and_errors() {
        let s = src();
        assert_eq!(
            (s.refresh, s.retry, s.timeout),
            (
                Duration::from_secs(60),
                Duration::from_secs(5),
                Duration::from_millis(1000)
            )
        );
        // The service is read by serde: anything but the two names fails there.
        let service = |s: &str| -> Result<Service, DocumentError> {
            crate::document::from_json_value(&serde_json::json!(s), &|_| true)
        };
        let raw = |service_name: &str, id: &str, refresh: Option<u64>| RawKeySource {
            service: service(service_name).unwrap(),
            id: id.into(),
            cluster: Some("aws".into()),
            host: Some("localhost".into()),
            refresh_seconds: refresh,
            retry_seconds: None,
            timeout_ms: None,
        };
        let ok = KeySource::from_raw(raw("ssm", "p", None), "eu-west-1").unwrap();
        assert_eq!(
            (ok.cluster.as_str(), ok.host.as_str()),
            ("aws", "localhost")
        );
        assert_eq!(ok.refresh, Duration::from_secs(DEFAULT_REFRESH_SECONDS));
        let e = crate::config::Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"r","credentials":{"access_key_id":"a","secret_access_key":"b"},
                 "api_keys_source":{"service":"kms","id":"p"}}"#,
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("api_keys_source.service"), "{e}");
        assert!(service("kms").is_err());
        for (r, field) in [
            (raw("ssm", " ", None), "id"),
            (raw("ssm", "p", Some(0)), "refresh_seconds"),
        ] {
            let e = KeySource::from_raw(r, "r").unwrap_err().to_string();
            assert!(e.contains(&format!("api_keys_source.{field}")), "{e}");
        }
    }

    #[test]
    fn reads_both_answers_and_their_errors() {
        let sm = serde_json::json!({"ARN": "a", "Name": "n", "SecretString": "text"}).to_string();
        assert_eq!(
            secret_from_response(Service::SecretsManager, 200, sm.as_bytes()).unwrap(),
            "text"
        );
        let ssm =
            serde_json::json!({"Parameter": {"Name": "n", "Value": "v", "Type": "SecureString"}})
                .to_string();
        assert_eq!(
            secret_from_response(Service::Ssm, 200, ssm.as_bytes()).unwrap(),
            "v"
        );
        let e = secret_from_response(
            Service::SecretsManager,
            400,
            br#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ResourceNotFoundException") && e.contains("400"),
            "{e}"
        );
        assert!(secret_from_response(Service::SecretsManager, 503, b"<html>").is_err());
        assert!(
            secret_from_response(Service::SecretsManager, 200, br#"{"SecretBinary":"AA=="}"#)
                .unwrap_err()
                .to_string()
                .contains("binary")
        );
    }

    #[test]
    fn table_maps_keys_to_tenants() {
        let t =
            KeyTable::parse(&table_json("acme", &["sk-acme-1", "sk-acme-2"]), &|_| true).unwrap();
        assert_eq!(t.lookup("sk-acme-1"), Some("acme"));
        assert_eq!(t.lookup("sk-acme-2"), Some("acme"));
        assert_eq!(t.lookup("sk-acme-3"), None);
        assert_eq!(t.lookup(""), None);
        let e = KeyTable::parse(&table_json("ghost", &["k"]), &|t| t == "acme")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("#1") && e.contains("tenants") && !e.contains("ghost"),
            "{e}"
        );
        let upper = serde_json::json!({"tenants": {"b": {"key_sha256": [hex::encode(digest("k")).to_uppercase()]}}});
        assert_eq!(
            KeyTable::parse(&upper.to_string(), &|_| true)
                .unwrap()
                .lookup("k"),
            Some("b")
        );
        let d = hex::encode(digest("k"));
        for (bad, says) in [
            ("nope".to_string(), "not valid"),
            (
                r#"{"tenants":{"a":{"key_sha256":["abcd"]}}}"#.to_string(),
                "tenants.a.key_sha256[0]",
            ),
            (
                format!(r#"{{"tenants":{{"a b":{{"key_sha256":["{d}"]}}}}}}"#),
                "tenant name",
            ),
            (
                format!(
                    r#"{{"tenants":{{"a":{{"key_sha256":["{d}"]}},"b":{{"key_sha256":["{d}"]}}}}}}"#
                ),
                "more than once",
            ),
            (
                r#"{"tenants":{"a":{"key_sha256":[],"limits":{}}}}"#.to_string(),
                "limits",
            ),
            (r#"{"keys":[]}"#.to_string(), "keys"),
        ] {
            let e = KeyTable::parse(&bad, &|_| true).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// Found in review: a malformed table logged serde's message, which quotes the value
    /// (`invalid type: string "sk-…", expected a sequence`) — a raw API key stored in the
    /// secret by mistake went to Envoy's log. Errors name the place, never a value.
    #[test]
    fn table_errors_never_quote_the_table() {
        const SECRET: &str = "sk-SECRET-MARKER-1";
        let d = hex::encode(digest("k"));
        for (doc, says) in [
            // A raw key where the digests go, as a string, inside the list, as a number.
            (
                format!(r#"{{"tenants":{{"acme":{{"key_sha256":"{SECRET}"}}}}}}"#),
                "`tenants.acme.key_sha256`: invalid type: string, expected a sequence",
            ),
            (
                format!(r#"{{"tenants":{{"acme":{{"key_sha256":["{d}", ["{SECRET}"]]}}}}}}"#),
                "`tenants.acme.key_sha256[1]`: invalid type: sequence, expected a string",
            ),
            (
                format!(r#"{{"tenants":{{"acme":"{SECRET}"}}}}"#),
                "`tenants.acme`: invalid type: string",
            ),
            (
                format!(r#"{{"tenants":{{"acme":{{"key_sha256":[], "{SECRET}": 1}}}}}}"#),
                "`tenants.acme`: unknown field, expected `key_sha256`",
            ),
            (
                format!(r#"{{"tenants":{{"acme":{{"key_sha256":[]}}}}, "api_key": "{SECRET}"}}"#),
                "unknown field `api_key`, expected `tenants`",
            ),
            (
                format!(r#"{{"tenants":{{"acme":{{"key_sha256":["{SECRET}"]}}}}}}"#),
                "`tenants.acme.key_sha256[0]` is not a 64-digit hex SHA-256",
            ),
            (
                format!(r#"{{"tenants":{{"{SECRET} x":{{"key_sha256":[]}}}}}}"#),
                "tenant name #1",
            ),
            (
                format!(r#"{{"tenants":{{"{SECRET}":{{"key_sha256":[]}}}}}}"#),
                "#1",
            ),
            // Key and tenant swapped: the key is a map key, not repeated in the path.
            (
                format!(r#"{{"tenants":{{"{SECRET}":"acme"}}}}"#),
                "`tenants.?`: invalid type: string",
            ),
            (
                format!(r#"["{SECRET}"]"#),
                "`[0]`: invalid type: string, expected a map",
            ),
            (format!(r#""{SECRET}""#), "invalid type: string"),
            (
                format!(r#"{{"tenants": {{"a": "{SECRET}"#),
                "not valid JSON",
            ),
            (format!(r#"{{"tenants": {SECRET}}}"#), "line 1, column"),
            (SECRET.to_string(), "not valid JSON"),
        ] {
            let e = KeyTable::parse(&doc, &|t| t == "acme")
                .unwrap_err()
                .to_string();
            assert!(!e.contains("SECRET"), "{doc}: {e}");
            assert!(e.contains(says), "{doc}: {e}");
            let mut st = KeyState::default();
            let body = serde_json::json!({ "SecretString": doc }).to_string();
            let logged = st
                .answer(Service::SecretsManager, 200, body.as_bytes(), &|t| {
                    t == "acme"
                })
                .to_string();
            assert!(!logged.contains("SECRET"), "{logged}");
        }
    }

    #[test]
    fn poll_builds_the_due_read_or_says_why_not() {
        use crate::upstream::{AwsAuth, Upstream};
        let s = src();
        let mut st = KeyState::default();
        // Nothing to sign with: the read fails at once and is retried after `retry`.
        let no_creds = Upstream::Aws(AwsAuth::ApiKey("k".into()));
        let r = st.poll(&s, &no_creds, "us-east-1", None, at(0));
        assert!(
            matches!(
                r,
                Some(Err(Refresh::NothingLoaded {
                    error: KeySourceError::NoCredentials
                }))
            ),
            "{r:?}"
        );
        assert!(st.poll(&s, &no_creds, "us-east-1", None, at(1)).is_none());
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s".into(),
            session_token: None,
        };
        let sigv4 = Upstream::Aws(AwsAuth::SigV4(creds));
        let Some(Ok(call)) = st.poll(&s, &sigv4, "us-east-1", None, at(5)) else {
            panic!("a due read with credentials is built");
        };
        assert_eq!(call.cluster, "secretsmanager");
        assert!(
            st.poll(&s, &sigv4, "us-east-1", None, at(6)).is_none(),
            "in flight"
        );
        let r = st.not_dispatched(call);
        assert!(
            matches!(&r, Refresh::NothingLoaded { error: KeySourceError::Dispatch { cluster } } if cluster == "secretsmanager"),
            "{r:?}"
        );
    }

    #[test]
    fn refresh_schedule_and_last_good_table() {
        let s = src();
        let mut st = KeyState::default();
        assert!(st.due(&s, at(0)));
        st.started(at(0));
        assert!(!st.due(&s, at(1)), "in flight");
        assert!(st.due(&s, at(3)), "in flight for over twice the timeout");
        // First read fails: nothing loaded, retried after `retry`.
        let r = st.answer(
            Service::SecretsManager,
            500,
            br#"{"__type":"InternalServiceError"}"#,
            &|_| true,
        );
        assert!(matches!(r, Refresh::NothingLoaded { .. }), "{r}");
        assert!(st.table().is_none());
        assert!(!st.due(&s, at(4)));
        assert!(st.due(&s, at(5)));
        st.started(at(5));
        let body = serde_json::json!({"SecretString": table_json("acme", &["sk-one"])}).to_string();
        assert_eq!(
            st.answer(Service::SecretsManager, 200, body.as_bytes(), &|_| true),
            Refresh::Loaded {
                tenants: 1,
                keys: 1
            }
        );
        assert_eq!(st.table().unwrap().lookup("sk-one"), Some("acme"));
        assert!(!st.due(&s, at(60)));
        assert!(st.due(&s, at(65)));
        // A failed refresh keeps the table; the next try comes after `retry`.
        st.started(at(65));
        let r = st.answer(
            Service::SecretsManager,
            200,
            br#"{"SecretString":"{broken"}"#,
            &|_| true,
        );
        assert!(
            matches!(r, Refresh::KeptLastGood { .. }) && r.is_error(),
            "{r}"
        );
        assert_eq!(st.table().unwrap().lookup("sk-one"), Some("acme"));
        assert!(st.due(&s, at(70)));
        // Rotation: the new table replaces the old one whole.
        st.started(at(70));
        let body = serde_json::json!({"SecretString": table_json("acme", &["sk-two"])}).to_string();
        st.answer(Service::SecretsManager, 200, body.as_bytes(), &|_| true);
        assert_eq!(st.table().unwrap().lookup("sk-one"), None);
        assert_eq!(st.table().unwrap().lookup("sk-two"), Some("acme"));
    }
}
