//! The Bedrock request: path, authority, headers and signed body for one client request,
//! plus the [`Exchange`] the response phase needs to answer in the client's terms.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::error::ApiError;
use crate::models;
use crate::models::Provider;
use crate::openai::chat::ChatRequest;
use crate::sigv4::{self, SignRequest};
use crate::translate::request::{to_converse_request, Target};
use crate::translate::tools::OutputMode;

/// What the shell writes into the request before it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub path: String,
    pub authority: String,
    /// Headers to set (replacing any client value): content type, accept, SigV4 headers.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Per-request facts carried from the request phase to the response phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The model name as the client sent it; echoed in responses.
    pub model: String,
    /// The Bedrock model id actually called.
    pub bedrock_model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Request parameters accepted but not honoured: the `x-bedrock-ignored-params` header.
    pub ignored: Vec<String>,
    /// How the answer is read back (JSON-answer tool, dropped tool calls).
    pub output: OutputMode,
}

/// Client headers that must never reach Bedrock: the caller's credentials, encodings we
/// could not decode, and anything that could pose as AWS signing input.
pub fn strip_from_upstream(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization"
            | "x-api-key"
            | "api-key"
            | "accept-encoding"
            | "cookie"
            | "proxy-authorization"
    ) || n.starts_with("x-amz-")
        || n.starts_with("openai-")
}

/// `POST /v1/chat/completions` → signed Converse / ConverseStream call.
pub fn chat(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = ChatRequest::parse(body)?;
    // Precedence: the `bedrock_model` extension, then a configured alias, then `model` as is.
    let bedrock_model = match &req.bedrock_model {
        Some(id) => id.clone(),
        None => models::resolve(&cfg.model_aliases, &req.model).to_string(),
    };
    let provider = req
        .model_provider
        .unwrap_or_else(|| Provider::infer(&bedrock_model));
    let translation = to_converse_request(
        &req,
        Target {
            model_id: &bedrock_model,
            provider,
        },
    )?;
    let body = serde_json::to_vec(&translation.body)
        .map_err(|e| ApiError::internal(format!("serialising the Converse body: {e}")))?;
    let path = models::converse_path(&bedrock_model, req.stream);
    let accept = if req.stream {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    let signed = [("content-type", "application/json")];
    let auth = sigv4::sign(
        &cfg.credentials,
        &cfg.region,
        "bedrock",
        &SignRequest {
            method: "POST",
            host: &cfg.bedrock_host,
            path: &path,
            headers: &signed,
            body: &body,
        },
        now,
    )
    .map_err(|e| ApiError::internal(format!("signing the Bedrock request failed: {e}")))?;
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), accept.to_string()),
    ];
    headers.extend(auth);
    Ok((
        UpstreamRequest {
            path,
            authority: cfg.bedrock_host.clone(),
            headers,
            body,
        },
        Exchange {
            model: req.model,
            bedrock_model,
            stream: req.stream,
            include_usage: req.include_usage,
            ignored: translation.ignored,
            output: translation.output,
        },
    ))
}

/// Seconds since the epoch, for `created`.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
                 "credentials":{"access_key_id":"AKID","secret_access_key":"s","session_token":"tok"}}"#,
            &|_| None,
        )
        .unwrap()
    }

    #[test]
    fn builds_a_signed_converse_stream_call() {
        let (up, ex) = chat(
            &cfg(),
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        assert_eq!(
            up.path,
            "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"
        );
        assert_eq!(up.authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let h = |n: &str| {
            up.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("accept"), Some("application/vnd.amazon.eventstream"));
        assert!(h("authorization").unwrap().starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/bedrock/aws4_request"
        ));
        assert_eq!(h("x-amz-date"), Some("20231114T221320Z"));
        assert_eq!(h("x-amz-security-token"), Some("tok"));
        assert_eq!(ex.model, "gpt-4o");
        assert_eq!(
            ex.bedrock_model,
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert!(ex.stream);
        let body: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
    }

    #[test]
    fn bedrock_model_wins_over_alias_and_model_provider_over_inference() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let call = |body: &str| chat(&cfg(), body.as_bytes(), now).unwrap();
        // Alias only.
        let (up, ex) = call(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(
            ex.bedrock_model,
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert!(up.path.contains("claude-3-5-sonnet"));
        // bedrock_model over the alias; the client still sees its own model name.
        let (up, ex) = call(
            r#"{"model":"gpt-4o","bedrock_model":"amazon.nova-pro-v1:0","messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(ex.bedrock_model, "amazon.nova-pro-v1:0");
        assert_eq!(ex.model, "gpt-4o");
        assert_eq!(up.path, "/model/amazon.nova-pro-v1%3A0/converse");
        // A provisioned-model ARN says nothing about its family: model_provider does. Here it
        // turns on the Claude 4 temperature/top_p policy, reported in `ignored`.
        let arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123def456";
        let body = format!(
            r#"{{"model":"x","bedrock_model":"{arn}","messages":[{{"role":"user","content":"hi"}}],"temperature":0.5,"top_p":0.5,"seed":3}}"#
        );
        let (_, ex) = call(&body);
        assert_eq!(ex.ignored, vec!["seed"]);
        let body = body.replace(
            r#""model":"x""#,
            r#""model":"x","model_provider":"anthropic""#,
        );
        let (up, ex) = call(&body);
        assert_eq!(ex.ignored, vec!["seed", "top_p"]);
        let sent: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert!(sent["inferenceConfig"].get("topP").is_none());
    }

    #[test]
    fn caller_credentials_are_stripped() {
        for h in [
            "Authorization",
            "x-api-key",
            "X-Amz-Security-Token",
            "accept-encoding",
            "openai-organization",
        ] {
            assert!(strip_from_upstream(h), "{h}");
        }
        for h in ["content-type", "x-request-id", "user-agent"] {
            assert!(!strip_from_upstream(h), "{h}");
        }
    }
}
