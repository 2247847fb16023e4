//! [`SideCall`]: an HTTP call the filter makes itself through an Envoy cluster, next to the
//! client's request — the credentials refresh ([`crate::upstream::credentials`]), the key
//! table read ([`crate::auth::key_source`]) and the STS check of an IAM caller
//! ([`crate::auth::iam`]). The core decides the call; the shell dispatches every one through
//! one host function (`filter/host.rs` `dispatch`) and hands the answer back.
//!
//! It lives in `upstream/` because these are outbound calls like the Bedrock call, and
//! `auth` already depends on `upstream` (SigV4 signing of the key table read); `upstream`
//! does not depend on `auth`.

use std::time::Duration;

/// One call for the shell to dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideCall {
    /// The Envoy cluster the call goes to.
    pub cluster: String,
    pub method: &'static str,
    /// `:path`, with the query.
    pub path: String,
    /// `:authority`.
    pub authority: String,
    /// Headers after the pseudo-headers.
    pub headers: Vec<(String, String)>,
    /// Empty: no body.
    pub body: Vec<u8>,
    pub timeout: Duration,
}

impl SideCall {
    /// A call without headers or body.
    pub fn new(
        cluster: &str,
        method: &'static str,
        authority: &str,
        path: String,
        timeout: Duration,
    ) -> Self {
        Self {
            cluster: cluster.to_string(),
            method,
            path,
            authority: authority.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout,
        }
    }

    /// Every header as sent: `:method`, `:path`, `:authority`, then the rest.
    pub(crate) fn all_headers(&self) -> Vec<(&str, &str)> {
        let mut all = vec![
            (":method", self.method),
            (":path", self.path.as_str()),
            (":authority", self.authority.as_str()),
        ];
        all.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        all
    }

    /// The value of one header (pseudo-headers included), as sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all_headers()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_headers_come_first() {
        let mut c = SideCall::new("c", "GET", "h", "/p".into(), Duration::from_secs(1));
        c.headers.push(("accept".into(), "*/*".into()));
        assert_eq!(
            c.all_headers(),
            [
                (":method", "GET"),
                (":path", "/p"),
                (":authority", "h"),
                ("accept", "*/*")
            ]
        );
        assert_eq!(c.header(":authority"), Some("h"));
        assert_eq!(c.header("accept"), Some("*/*"));
        assert_eq!(c.header("x"), None);
    }
}
