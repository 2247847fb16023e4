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
use crate::upstream::side_call::SideCall;
use crate::upstream::sigv4::{self, Credentials, SignRequest};

const DEFAULT_REFRESH_SECONDS: u64 = 300;
const DEFAULT_RETRY_SECONDS: u64 = 10;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Bounds on the secret, so a wrong secret id cannot fill the VM's memory.
const MAX_KEYS: usize = 100_000;

/// Where the table is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SecretsManager,
    Ssm,
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
pub struct RawKeySource {
    /// `secretsmanager` or `ssm`.
    pub service: String,
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
    pub fn from_raw(raw: RawKeySource, region: &str) -> Result<Self, String> {
        let field = |f: &str| format!("`api_keys_source.{f}`");
        let service = match raw.service.as_str() {
            "secretsmanager" => Service::SecretsManager,
            "ssm" => Service::Ssm,
            _ => {
                return Err(format!(
                    "{} must be `secretsmanager` or `ssm`",
                    field("service")
                ))
            }
        };
        if raw.id.trim().is_empty() {
            return Err(format!("{} is empty", field("id")));
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let seconds = |v: Option<u64>, default: u64, name: &str| match v {
            Some(0) => Err(format!("{} must be at least 1", field(name))),
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
) -> Result<SideCall, String> {
    let body = match src.service {
        Service::SecretsManager => serde_json::json!({ "SecretId": src.id }),
        Service::Ssm => serde_json::json!({ "Name": src.id, "WithDecryption": true }),
    };
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
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
    .map_err(|e| format!("signing the {} call failed: {e}", src.service.target()))?;
    let mut call = SideCall::new(&src.cluster, "POST", &src.host, "/".into(), src.timeout);
    call.headers
        .extend(signed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    call.headers.extend(auth);
    call.body = body;
    Ok(call)
}

/// The secret text out of a `GetSecretValue` / `GetParameter` answer.
pub fn secret_from_response(service: Service, status: u16, body: &[u8]) -> Result<String, String> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        format!(
            "{} answered {status} with a body that is not JSON",
            service.target()
        )
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
        return Err(format!(
            "{} answered {status} {kind}: {message}",
            service.target()
        ));
    }
    let text = match service {
        Service::SecretsManager => json.get("SecretString"),
        Service::Ssm => json.get("Parameter").and_then(|p| p.get("Value")),
    };
    text.and_then(|t| t.as_str())
        .map(String::from)
        .ok_or_else(|| {
            format!(
                "{} answered without {}",
                service.target(),
                match service {
                    Service::SecretsManager => "`SecretString` (binary secrets are not supported)",
                    Service::Ssm => "`Parameter.Value`",
                }
            )
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
    pub fn parse(text: &str, known: &dyn Fn(&str) -> bool) -> Result<Self, String> {
        let show = |k: &str| k == "tenants" || k == "key_sha256" || known(k);
        let raw: RawTable = parse_json(text.as_bytes(), &show)
            .map_err(|e| format!("the key table is not valid: {e}"))?;
        let mut keys = DigestTable::default();
        for (n, (name, entry)) in raw.tenants.into_iter().enumerate() {
            if !valid_tenant_name(&name) {
                return Err(format!(
                    "tenant name #{} (in sorted order) of the key table's `tenants` must be 1-64 letters, digits, `_` or `-`",
                    n + 1
                ));
            }
            if !known(&name) {
                return Err(format!(
                    "tenant name #{} (in sorted order) of the key table's `tenants` is not in the plugin configuration's `tenants`",
                    n + 1
                ));
            }
            let mut digests = Vec::with_capacity(entry.key_sha256.len());
            for (i, hex_digest) in entry.key_sha256.iter().enumerate() {
                digests.push(parse_digest(hex_digest).ok_or_else(|| {
                    format!("`tenants.{name}.key_sha256[{i}]` is not a 64-digit hex SHA-256")
                })?);
            }
            let at = |i: usize| format!("`tenants.{name}.key_sha256[{i}]`");
            keys.push(name.clone(), digests)
                .map_err(|dup| format!("{} is listed more than once", at(dup.position)))?;
            if keys.key_count() > MAX_KEYS {
                return Err(format!("the key table has more than {MAX_KEYS} keys"));
            }
        }
        Ok(Self { keys })
    }

    pub fn key_count(&self) -> usize {
        self.keys.key_count()
    }

    pub fn tenant_count(&self) -> usize {
        self.keys.owners().len()
    }

    /// The tenant of a presented key ([`DigestTable::lookup`]: constant time).
    pub fn lookup(&self, presented: &str) -> Option<&str> {
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
        error: String,
    },
    /// The refresh failed and there is no table yet: every table key is refused.
    NothingLoaded {
        error: String,
    },
}

impl Refresh {
    pub fn is_error(&self) -> bool {
        !matches!(self, Refresh::Loaded { .. })
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
    pub fn table(&self) -> Option<&KeyTable> {
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

    /// Records the outcome of a read (the parsed table, or why there is none).
    pub fn finished(&mut self, result: Result<KeyTable, String>) -> Refresh {
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

/// Deserializes a JSON document read from outside (the key table, the plugin configuration,
/// credential answers). An error says what is wrong and where — the field path, or the line
/// and column of broken JSON — and never repeats a value of the document: these documents
/// hold secrets, and their errors are logged. (serde's own messages quote the value:
/// `invalid type: string "sk-…", expected u64`.)
///
/// `show` says which object keys may appear in a field path (map keys are the document's
/// own: a tenant name, but also, by mistake, a key in the place of a tenant name); others
/// are shown as `?`.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    show: &dyn Fn(&str) -> bool,
) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| json_error(&e, None))?;
    from_json_value(&value, show)
}

/// [`parse_json`] for a document already parsed to a value.
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    show: &dyn Fn(&str) -> bool,
) -> Result<T, String> {
    T::deserialize(value).map_err(|e| {
        // Errors from a value carry no position: deserialize again from a rendering with one
        // member per line, and turn the line of that error into the field path.
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        match serde_json::from_str::<T>(&pretty) {
            Err(located) if located.line() > 0 => {
                let leaf = !located.to_string().starts_with("unknown field");
                json_error(&located, Some(path_at(&pretty, located.line(), leaf, show)))
            }
            _ => json_error(&e, None),
        }
    })
}

/// serde's names for the kind of value found (`Unexpected`'s `Display`, before the value).
const FOUND_KINDS: [&str; 17] = [
    "string",
    "integer",
    "floating point",
    "boolean",
    "character",
    "byte array",
    "unit value",
    "null",
    "Option value",
    "newtype struct",
    "sequence",
    "map",
    "unit variant",
    "newtype variant",
    "tuple variant",
    "struct variant",
    "enum",
];

/// A serde_json error as the kind of error and its location, without document values.
/// `path` is the field path of a value error (`None` when unknown; `""` for the top level).
pub fn json_error(e: &serde_json::Error, path: Option<String>) -> String {
    use serde_json::error::Category;
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = full.strip_suffix(&suffix).unwrap_or(&full);
    let what = match e.classify() {
        Category::Io => "it could not be read".to_string(),
        // serde_json's fixed wording (`expected `,` or `}``, `EOF while parsing a string`):
        // only value errors carry text from the document.
        Category::Syntax | Category::Eof => format!("not valid JSON: {text}"),
        Category::Data => value_error(text),
    };
    match path {
        Some(p) if !p.is_empty() => format!("`{p}`: {what}"),
        Some(_) => what,
        None if e.line() > 0 => format!("{what} (line {}, column {})", e.line(), e.column()),
        None => what,
    }
}

/// serde's data error messages with the offending value taken out.
fn value_error(text: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let found = FOUND_KINDS
                .iter()
                .find(|k| rest.starts_with(*k))
                .copied()
                .unwrap_or("a value");
            // The expected part comes last and is written by this crate's types.
            return match rest.rsplit_once(", expected ") {
                Some((_, expected)) if expected.starts_with("struct ") => {
                    format!("{prefix}{found}, expected an object")
                }
                Some((_, expected)) => format!("{prefix}{found}, expected {expected}"),
                None => format!("{prefix}{found}"),
            };
        }
    }
    for (prefix, kind) in [
        ("unknown field `", "unknown field"),
        ("unknown variant `", "unknown variant"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (name, tail) = rest
                .rsplit_once("`, expected ")
                .map(|(n, t)| (n, format!("expected {t}")))
                .or_else(|| {
                    rest.rsplit_once("`, there are no ")
                        .map(|(n, t)| (n, format!("there are no {t}")))
                })
                .unwrap_or(("", String::new()));
            // A field name is repeated only when it looks like one of this filter's (a typo
            // of one); anything else may be a value pasted in the wrong place.
            let named = if kind == "unknown field" && looks_like_field_name(name) {
                format!(" `{name}`")
            } else {
                String::new()
            };
            return if tail.is_empty() {
                format!("{kind}{named}")
            } else {
                format!("{kind}{named}, {tail}")
            };
        }
    }
    // These name only fields of this crate's types, or a count.
    if ["missing field `", "duplicate field `", "invalid length "]
        .iter()
        .any(|p| text.starts_with(p))
    {
        return text.to_string();
    }
    "a value does not have the expected type or shape".to_string()
}

/// `snake_case`, as every field of the configuration and the key table is, or a short
/// `camelCase` typo of one (`modelAliases`). A random token (a key pasted as a name) has
/// digits or many capitals and is not repeated.
fn looks_like_field_name(name: &str) -> bool {
    let snake = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let camel = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_alphabetic())
        && name.bytes().filter(u8::is_ascii_uppercase).count() <= 3;
    snake || camel
}

/// The field path (`tenants.acme.key_sha256[0]`) of line `line` (1-based) of `pretty`, a
/// `to_string_pretty` rendering (one member per line). `leaf`: include the member on that
/// line (not for an unknown field, whose name is the member).
fn path_at(pretty: &str, line: usize, leaf: bool, show: &dyn Fn(&str) -> bool) -> String {
    // One entry per open object (`true`) or array, with the member being read.
    let mut open: Vec<(bool, Option<String>, usize)> = Vec::new();
    for (n, raw) in pretty.lines().enumerate() {
        let t = raw.trim();
        let here = n + 1 == line;
        if t.starts_with('}') || t.starts_with(']') {
            if here {
                return render_path(&open, false);
            }
            open.pop();
            continue;
        }
        let rest = match open.last_mut() {
            None => t,
            Some((true, member, _)) => {
                let Some((key, rest)) = member_key(t, show) else {
                    return render_path(&open, false);
                };
                *member = Some(key);
                rest
            }
            Some((false, member, count)) => {
                *member = Some(format!("[{count}]"));
                *count += 1;
                t
            }
        };
        if here {
            return render_path(&open, leaf);
        }
        match rest.trim_end_matches(',') {
            "{" => open.push((true, None, 0)),
            "[" => open.push((false, None, 0)),
            _ => {}
        }
    }
    String::new()
}

/// `"key": rest` → (key, rest); a key `show` refuses, or that is not plain printable text,
/// is shown as `?`.
fn member_key<'t>(t: &'t str, show: &dyn Fn(&str) -> bool) -> Option<(String, &'t str)> {
    let mut escaped = false;
    let end = t.char_indices().skip(1).find_map(|(i, c)| {
        let done = c == '"' && !escaped;
        escaped = c == '\\' && !escaped;
        done.then_some(i)
    })?;
    let key: String = serde_json::from_str(&t[..=end]).ok()?;
    let rest = t[end + 1..].strip_prefix(": ")?;
    let plain = show(&key)
        && !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'`' && b != b'"' && b != b'\\');
    Some((if plain { key } else { "?".to_string() }, rest))
}

fn render_path(open: &[(bool, Option<String>, usize)], leaf: bool) -> String {
    let upto = if leaf {
        open.len()
    } else {
        open.len().saturating_sub(1)
    };
    let mut path = String::new();
    for member in open[..upto].iter().filter_map(|(_, m, _)| m.as_deref()) {
        if !path.is_empty() && !member.starts_with('[') {
            path.push('.');
        }
        path.push_str(member);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::digest;
    use std::time::UNIX_EPOCH;

    fn src() -> KeySource {
        KeySource::from_raw(
            RawKeySource {
                service: "secretsmanager".into(),
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
        let raw = |service: &str, id: &str, refresh: Option<u64>| RawKeySource {
            service: service.into(),
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
        for (r, field) in [
            (raw("kms", "p", None), "service"),
            (raw("ssm", " ", None), "id"),
            (raw("ssm", "p", Some(0)), "refresh_seconds"),
        ] {
            let e = KeySource::from_raw(r, "r").unwrap_err();
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
        .unwrap_err();
        assert!(
            e.contains("ResourceNotFoundException") && e.contains("400"),
            "{e}"
        );
        assert!(secret_from_response(Service::SecretsManager, 503, b"<html>").is_err());
        assert!(
            secret_from_response(Service::SecretsManager, 200, br#"{"SecretBinary":"AA=="}"#)
                .unwrap_err()
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
        let e = KeyTable::parse(&table_json("ghost", &["k"]), &|t| t == "acme").unwrap_err();
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
            let e = KeyTable::parse(&bad, &|_| true).unwrap_err();
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
            let e = KeyTable::parse(&doc, &|t| t == "acme").unwrap_err();
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
    fn json_errors_say_where_and_what_without_values() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            n: Option<u64>,
            flag: Option<bool>,
            list: Option<Vec<Inner>>,
            map: Option<BTreeMap<String, Inner>>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            need: String,
        }
        let e = |doc: &str| parse_json::<Doc>(doc.as_bytes(), &|k| k != "hidden").unwrap_err();
        for (doc, want) in [
            (
                r#"{"n": "sk-x"}"#,
                "`n`: invalid type: string, expected u64",
            ),
            (r#"{"n": -7}"#, "`n`: invalid value: integer, expected u64"),
            (
                r#"{"n": 1.5}"#,
                "`n`: invalid type: floating point, expected u64",
            ),
            (
                r#"{"flag": "yes"}"#,
                "`flag`: invalid type: string, expected a boolean",
            ),
            (
                r#"{"list": [{"need": "a"}, {"need": 7}]}"#,
                "`list[1].need`: invalid type: integer, expected a string",
            ),
            (
                r#"{"list": [{"need": "a"}, {}]}"#,
                "`list[1]`: missing field `need`",
            ),
            (
                r#"{"list": [{"need": "a"}, {"x": 1, "need": "b"}]}"#,
                "`list[1]`: unknown field `x`, expected `need`",
            ),
            (
                r#"{"map": {"k.1": {"need": "a", "other": 2}}}"#,
                "`map.k.1`: unknown field `other`, expected `need`",
            ),
            (r#"{"map": {"k": {}}}"#, "`map.k`: missing field `need`"),
            (
                r#"{"map": {"hidden": {}}}"#,
                "`map.?`: missing field `need`",
            ),
            (r#"{"map": {"a\nb": {}}}"#, "`map.?`: missing field `need`"),
            (
                r#"{"map": {"k": {"need": "a", "Sk-X": 1}}}"#,
                "`map.k`: unknown field, expected `need`",
            ),
            (
                r#"{"nn": 1}"#,
                "unknown field `nn`, expected one of `n`, `flag`, `list`, `map`",
            ),
            (
                "{\"n\": 1,\n \"n\" 2}",
                "not valid JSON: expected `:` (line 2, column 6)",
            ),
            // serde reads a struct from a list too, member by member.
            (
                r#"[1, 2]"#,
                "`[1]`: invalid type: integer, expected a boolean",
            ),
            (r#""sk-x""#, "invalid type: string, expected an object"),
            (
                r#"{"n": "a, expected \"x"}"#,
                "`n`: invalid type: string, expected u64",
            ),
        ] {
            assert_eq!(e(doc), want, "{doc}");
        }
        assert!(parse_json::<Doc>(br#"{"map": {"k": {"need": "v"}}, "n": 3}"#, &|_| true).is_ok());
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
