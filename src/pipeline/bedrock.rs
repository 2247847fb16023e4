//! The Bedrock call of one client request: the body parsed ([`crate::openai`]) and
//! translated ([`crate::translate`]), the model resolved (configured aliases, then
//! [`crate::catalog::model_id`]), the call signed or given the gateway token
//! ([`crate::upstream`]); and the request head as it goes upstream. Here, not in `upstream`,
//! because it reads the configuration, which is built from `upstream`'s types.

use std::time::SystemTime;

use crate::auth::tenant::Tenant;
use crate::catalog::content;
use crate::catalog::models;
use crate::catalog::models::Provider;
use crate::config::Config;
use crate::converse::request::ConverseRequest;
use crate::error::ApiError;
use crate::headers::HeaderList;
use crate::openai::chat::ChatRequest;
use crate::openai::completion::CompletionRequest;
use crate::openai::responses::{ResponsesRequest, DROPPED_REASONING};
use crate::pipeline::embeddings;
use crate::stream::OutputFormat;
use crate::translate::policy::{self, Asked, RequestPolicy};
use crate::translate::request::{completion_to_converse, to_converse_request, Target};
use crate::translate::responses::to_chat_request;
use crate::translate::tools::OutputMode;
use crate::upstream::sigv4::{self, Credentials, SignRequest};
use crate::upstream::{
    allowed_upstream, descriptor_headers, no_credentials, no_filter_credentials, AwsAuth, Exchange,
    Signing, Upstream, UpstreamRequest,
};

/// Who signs one upstream call: the filter (with the live refreshed credentials, when the
/// configuration has a credentials source), or Envoy's `aws_request_signing` after it.
#[derive(Debug, Clone, Copy)]
pub enum SignWith<'a> {
    Filter(Option<&'a Credentials>),
    Envoy,
}

/// The request head as it goes upstream: the client's headers cut to [`UPSTREAM_ALLOWED`],
/// then path, authority, length, the mode's headers (SigV4 or token) and, if configured,
/// the rate-limit descriptors. Every value passes [`HeaderList::set`]'s check.
pub fn upstream_head(
    h: &mut HeaderList,
    cfg: &Config,
    tenant: &str,
    up: &UpstreamRequest,
    ex: &Exchange,
) {
    h.retain(allowed_upstream);
    h.set(":path", &up.path);
    h.set(":authority", &up.authority);
    h.set("content-length", &up.body.len().to_string());
    for (k, v) in &up.headers {
        h.set(k, v);
    }
    if cfg.rate_limit_descriptors {
        for (k, v) in descriptor_headers(tenant, ex) {
            h.set(k, &v);
        }
    }
}

/// `POST /v1/chat/completions` → signed Converse / ConverseStream call, with the gateway's
/// automatic prompt caching. `live` holds the refreshed credentials, when the configuration
/// uses a credentials source.
pub fn chat(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    chat_for(cfg, None, body, now, live)
}

/// [`chat`] for a tenant: its automatic prompt caching for the model called, its service
/// tier and its guardrails.
pub fn chat_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = ChatRequest::parse(body)?;
    let ctx = CallContext {
        now,
        live,
        size_hint: body.len(),
    };
    converse_for(cfg, tenant, req, OutputFormat::Chat, ctx)
}

/// `POST /v1/responses` → the Converse call of the chat request it stands for, answered as a
/// `response` object ([`OutputFormat::Responses`]).
pub fn responses_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = ResponsesRequest::parse(body)?;
    let chat = to_chat_request(&req);
    let format = OutputFormat::Responses {
        echo: req.echo,
        encrypted_reasoning: req.encrypted_reasoning,
    };
    let ctx = CallContext {
        now,
        live,
        size_hint: body.len(),
    };
    let (up, mut ex) = converse_for(cfg, tenant, chat, format, ctx)?;
    // Reasoning the model does not take back is reported under the Responses name.
    if let Some(at) = ex.ignored.iter().position(|n| n == "thinking_blocks") {
        ex.ignored.remove(at);
        if !ex.ignored.iter().any(|n| n == DROPPED_REASONING) {
            ex.ignored.insert(at, DROPPED_REASONING.into());
        }
    }
    Ok((up, ex))
}

/// When a call is made, with which live credentials, and about how long its body will be
/// (the client's body length: the Converse body is about as long).
#[derive(Clone, Copy)]
struct CallContext<'a> {
    now: SystemTime,
    live: Option<&'a Credentials>,
    size_hint: usize,
}

/// A parsed chat request (or the one a Responses request stands for) → signed Converse /
/// ConverseStream call, answered in `format`.
fn converse_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    req: ChatRequest<'_>,
    format: OutputFormat,
    ctx: CallContext<'_>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    // Precedence: the `bedrock_model` extension, then a configured alias, then `model` as is.
    let bedrock_model = match &req.bedrock_model {
        Some(id) => id.clone(),
        None => resolve_model(cfg, &req.model)?,
    };
    if crate::translate::embeddings::model_for(&bedrock_model).is_some() {
        return Err(embeddings::not_a_chat_model(&req.model));
    }
    let provider = req
        .model_provider
        .unwrap_or_else(|| Provider::infer(&bedrock_model));
    let canonical_model = crate::catalog::model_id::canonical(&bedrock_model).to_string();
    let entry = cfg.catalog.entry_for(&bedrock_model);
    let mut translation = to_converse_request(
        &req,
        Target {
            model_id: &bedrock_model,
            provider,
            caching: entry.map_or_else(
                || crate::catalog::caching::infer(&bedrock_model),
                |e| e.prompt_caching,
            ),
            auto: tenant.map_or(cfg.prompt_caching, |t| {
                t.prompt_caching.for_model(&canonical_model)
            }),
            content: entry.map_or_else(|| content::infer(&bedrock_model), |e| e.content),
            s3: tenant.map_or(&cfg.s3, |t| &t.s3),
        },
    )?;
    let asked = Asked {
        service_tier: req.service_tier.as_deref(),
        guardrail: req.guardrail_config.as_ref(),
    };
    let no_policy = RequestPolicy::default();
    policy::apply(
        tenant.map_or(&no_policy, |t| &t.policy),
        asked,
        &mut translation.body,
        &bedrock_model,
        req.stream,
        &mut translation.ignored,
    )?;
    // Each message's text gains `[{"text":` … `}]` on the way: room for that too, so that a
    // long conversation's body is not copied again as it grows.
    let hint = ctx.size_hint.saturating_add(16 * req.messages.len());
    let body = converse_body(&translation.body, hint)?;
    let up = call(cfg, body, &bedrock_model, req.stream, ctx.now, ctx.live)?;
    // What `accounting::usage::estimate_input_tokens` would read back from `up.body`.
    let estimated_input_tokens = translation.body.text_chars().div_ceil(4).max(1);
    Ok((
        up,
        Exchange {
            model: req.model,
            canonical_model,
            via_bedrock_model: req.bedrock_model.is_some(),
            bedrock_model,
            stream: req.stream,
            include_usage: req.include_usage,
            format,
            estimated_input_tokens,
            ignored: translation.ignored,
            output: translation.output,
        },
    ))
}

/// `POST /v1/completions` (legacy) → the same Converse call with the prompt as one user turn.
pub fn completion(
    cfg: &Config,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    completion_for(cfg, None, body, now, live)
}

/// [`completion`] for a tenant: its default tier and its guardrail.
pub fn completion_for(
    cfg: &Config,
    tenant: Option<&Tenant>,
    body: &[u8],
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<(UpstreamRequest, Exchange), ApiError> {
    let req = CompletionRequest::parse(body)?;
    let mut converse = completion_to_converse(&req)?;
    let bedrock_model = resolve_model(cfg, &req.model)?;
    if crate::translate::embeddings::model_for(&bedrock_model).is_some() {
        return Err(embeddings::not_a_chat_model(&req.model));
    }
    let mut ignored = Vec::new();
    let no_policy = RequestPolicy::default();
    policy::apply(
        tenant.map_or(&no_policy, |t| &t.policy),
        Asked::default(),
        &mut converse,
        &bedrock_model,
        req.stream,
        &mut ignored,
    )?;
    let up = call(
        cfg,
        converse_body(&converse, body.len())?,
        &bedrock_model,
        req.stream,
        now,
        live,
    )?;
    let estimated_input_tokens = crate::accounting::usage::estimate_input_tokens(&up.body);
    Ok((
        up,
        Exchange {
            model: req.model,
            canonical_model: crate::catalog::model_id::canonical(&bedrock_model).to_string(),
            via_bedrock_model: false,
            bedrock_model,
            stream: req.stream,
            include_usage: req.include_usage,
            format: OutputFormat::Completion {
                echo: req.echo.then_some(req.prompt),
            },
            ignored,
            output: OutputMode::default(),
            estimated_input_tokens,
        },
    ))
}

/// The Bedrock id a client's `model` calls: its alias target (checked with the
/// configuration), else the name itself, which must then be a Bedrock id.
fn resolve_model(cfg: &Config, model: &str) -> Result<String, ApiError> {
    let id = cfg.catalog.bedrock_id(model);
    crate::catalog::model_id::check_bedrock_id("model", id)?;
    Ok(id.to_string())
}

/// The Converse body's bytes, written into one buffer of about `size_hint` bytes (the
/// client's texts go in as the JSON tokens they came as).
pub fn converse_body(
    converse: &ConverseRequest<'_>,
    size_hint: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(size_hint.saturating_add(512));
    serde_json::to_writer(&mut body, converse)
        .map_err(|e| ApiError::internal(format!("serialising the Converse body: {e}")))?;
    Ok(body)
}

/// The upstream request for a Converse body (serialised by [`converse_body`]), in the
/// configured mode.
pub fn call(
    cfg: &Config,
    body: Vec<u8>,
    bedrock_model: &str,
    stream: bool,
    now: SystemTime,
    live: Option<&Credentials>,
) -> Result<UpstreamRequest, ApiError> {
    let operation = models::operation(stream);
    let accept = if stream {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    // The client's request passes through the rest of the filter chain: Envoy may sign it.
    let sign = match cfg.signing {
        Signing::Envoy => SignWith::Envoy,
        Signing::Filter => SignWith::Filter(live),
    };
    request_for(cfg, body, bedrock_model, operation, accept, now, sign)
}

/// The upstream request for a JSON body to `/model/{id}/{operation}` (`converse`,
/// `converse-stream`, `invoke`), in the configured mode: signed with SigV4 (here, or left to
/// Envoy), with the Bedrock API key, or with the gateway's token on its path template.
pub fn request_for(
    cfg: &Config,
    body: Vec<u8>,
    bedrock_model: &str,
    operation: &str,
    accept: &str,
    now: SystemTime,
    sign: SignWith<'_>,
) -> Result<UpstreamRequest, ApiError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match &cfg.upstream {
        Upstream::Gateway(g) => {
            // The gateway documents `accept: application/json` for every operation.
            headers.push(("accept".to_string(), "application/json".to_string()));
            headers.push((g.token_header.clone(), g.token.clone()));
            Ok(UpstreamRequest {
                path: g.path_for(bedrock_model, operation),
                authority: g.host.clone(),
                headers,
                body,
            })
        }
        Upstream::Aws(auth) => {
            let path = models::model_path(bedrock_model, operation);
            headers.push(("accept".to_string(), accept.to_string()));
            let (region, host) = cfg.region_for(bedrock_model);
            let credentials = match (auth, sign) {
                // `signing: envoy` refuses an API key, so Envoy never signs over a bearer.
                (AwsAuth::ApiKey(key), _) => {
                    headers.push(("authorization".to_string(), format!("Bearer {key}")));
                    None
                }
                (_, SignWith::Envoy) => None,
                (AwsAuth::SigV4(c), SignWith::Filter(_)) => Some(c),
                (AwsAuth::Refreshed(_), SignWith::Filter(live)) => {
                    Some(live.ok_or_else(no_credentials)?)
                }
                (AwsAuth::Absent, SignWith::Filter(_)) => return Err(no_filter_credentials()),
            };
            if let Some(credentials) = credentials {
                let signed = [("content-type", "application/json")];
                let auth = sigv4::sign(
                    credentials,
                    region,
                    "bedrock",
                    &SignRequest {
                        method: "POST",
                        host: &host,
                        path: &path,
                        headers: &signed,
                        body: &body,
                    },
                    now,
                )
                .map_err(|e| {
                    ApiError::internal(format!("signing the Bedrock request failed: {e}"))
                })?;
                headers.extend(auth);
            }
            Ok(UpstreamRequest {
                path,
                authority: host,
                headers,
                body,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
            None,
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
    fn reasoning_a_model_does_not_take_back_is_reported_under_its_responses_name() {
        use crate::openai::chat::ThinkingBlock;
        let sealed = crate::openai::responses::seal_reasoning(&ThinkingBlock::Thinking {
            thinking: "t".into(),
            signature: Some("c2ln".into()),
        });
        let body = serde_json::json!({"model": "x", "bedrock_model": "amazon.nova-pro-v1:0",
            "input": [{"role": "user", "content": "a"},
                      {"type": "reasoning", "summary": [], "encrypted_content": sealed},
                      {"type": "reasoning", "summary": []},
                      {"role": "assistant", "content": "b"},
                      {"role": "user", "content": "c"}]});
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let (up, ex) = responses_for(&cfg(), None, body.to_string().as_bytes(), now, None).unwrap();
        assert_eq!(ex.ignored, vec![DROPPED_REASONING]);
        let sent: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
        assert!(!sent.to_string().contains("reasoningContent"));
    }

    #[test]
    fn bedrock_model_wins_over_alias_and_model_provider_over_inference() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let call = |body: &str| chat(&cfg(), body.as_bytes(), now, None).unwrap();
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
    fn only_allowed_client_headers_go_upstream() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let (up, ex) = chat(
            &cfg(),
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            now,
            None,
        )
        .unwrap();
        let client = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/v1/chat/completions"),
            (":authority", "localhost:10000"),
            ("content-type", "application/json"),
            ("content-length", "70"),
            ("content-encoding", "gzip"),
            ("authorization", "Bearer sk-local-demo"),
            ("x-api-key", "k"),
            ("x-amz-security-token", "forged"),
            ("x-amzn-trace-id", "t"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "http"),
            ("x-envoy-original-path", "/evil"),
            ("x-bedrock-tenant", "forged"),
            ("x-custom", "1"),
            ("cookie", "c"),
            ("openai-organization", "o"),
            ("x-request-id", "rid-1"),
        ];
        let run = |descriptors: bool| {
            let mut c = cfg();
            c.rate_limit_descriptors = descriptors;
            let mut h = HeaderList::new(
                client
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
            upstream_head(&mut h, &c, "acme", &up, &ex);
            h
        };
        let h = run(false);
        let mut names: Vec<&str> = h.entries().iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                ":authority",
                ":method",
                ":path",
                ":scheme",
                "accept",
                "authorization",
                "content-length",
                "content-type",
                "x-amz-date",
                "x-amz-security-token",
                "x-forwarded-proto",
                "x-request-id"
            ]
        );
        assert_eq!(
            h.get(":authority"),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert!(h
            .get("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256"));
        assert_eq!(h.get("x-amz-security-token"), Some("tok"));
        assert_eq!(
            h.get("content-length"),
            Some(up.body.len().to_string().as_str())
        );
        // Descriptors only when configured, with the canonical model.
        let h = run(true);
        assert_eq!(h.get("x-bedrock-tenant"), Some("acme"));
        assert_eq!(
            h.get("x-bedrock-model-id"),
            Some("anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
        assert!(h.get("x-bedrock-token-estimate").is_some());
    }

    fn envoy_signing_cfg(env: &dyn Fn(&str) -> Option<String>) -> Config {
        Config::parse(
            br#"{"api_keys":["sk-local-demo"],"region":"us-east-1","signing":"envoy",
                 "model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"}}"#,
            env,
        )
        .unwrap()
    }

    fn keys_in_env(k: &str) -> Option<String> {
        match k {
            "AWS_ACCESS_KEY_ID" => Some("AKID".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("s".into()),
            "AWS_SESSION_TOKEN" => Some("tok".into()),
            _ => None,
        }
    }

    #[test]
    fn envoy_signing_prepares_the_call_without_signing_it() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let body =
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
        let (signed, _) = chat(&cfg(), body, now, None).unwrap();
        for c in [
            envoy_signing_cfg(&keys_in_env),
            envoy_signing_cfg(&|_| None),
        ] {
            let (up, ex) = chat(&c, body, now, None).unwrap();
            // Everything but the SigV4 headers is what the filter's own signer gets.
            assert_eq!(
                (&up.path, &up.authority, &up.body),
                (&signed.path, &signed.authority, &signed.body)
            );
            let names: Vec<&str> = up.headers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["content-type", "accept"]);
            // A client's own authorization or x-amz-* never reaches Envoy's signer.
            let mut h = HeaderList::from_pairs([
                (":path", "/v1/chat/completions"),
                ("authorization", "Bearer sk-local-demo"),
                ("x-amz-date", "20200101T000000Z"),
                ("x-amz-content-sha256", "forged"),
                ("x-amz-security-token", "forged"),
            ]);
            upstream_head(&mut h, &c, "default", &up, &ex);
            for n in [
                "authorization",
                "x-amz-date",
                "x-amz-content-sha256",
                "x-amz-security-token",
            ] {
                assert_eq!(h.get(n), None, "{n}");
            }
            assert_eq!(
                h.get("content-length"),
                Some(up.body.len().to_string().as_str())
            );
        }
        let (up, _) = completion(
            &envoy_signing_cfg(&keys_in_env),
            br#"{"model":"gpt-4o","prompt":"hi"}"#,
            now,
            None,
        )
        .unwrap();
        assert!(up.headers.iter().all(|(k, _)| k != "authorization"));
    }

    #[test]
    fn envoy_signing_still_signs_the_filters_own_side_calls() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let body = br#"{"model":"amazon.titan-embed-text-v2:0","input":"hi"}"#;
        let (job, _) =
            embeddings::embeddings(&envoy_signing_cfg(&keys_in_env), body, now, None).unwrap();
        let auth = job.calls[0]
            .call
            .headers
            .iter()
            .find(|(k, _)| k == "authorization");
        assert!(auth
            .unwrap()
            .1
            .starts_with("AWS4-HMAC-SHA256 Credential=AKID/"));
        // No credentials in the filter: the side call is refused, never sent unsigned.
        let e = embeddings::embeddings(&envoy_signing_cfg(&|_| None), body, now, None).unwrap_err();
        assert_eq!(e.status, 503);
    }
}
