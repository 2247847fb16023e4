//! Plugin configuration (`Config::parse`): never panics, and a configuration that is
//! accepted can serve: a plain chat request translates and is signed (or carries its token)
//! without an internal error.
#![no_main]

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::pipeline::bedrock;
use bedrock_openai_filter::upstream::sigv4::Credentials;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks which environment variables exist.
    let (env_bits, json) = data.split_first().map_or((0, data), |(b, rest)| (*b, rest));
    let env = |k: &str| -> Option<String> {
        let (bit, v) = match k {
            "AWS_REGION" => (1, "eu-west-1"),
            "AWS_ACCESS_KEY_ID" => (2, "AKIDENV"),
            "AWS_SECRET_ACCESS_KEY" => (4, "secret"),
            "AWS_SESSION_TOKEN" => (8, "token"),
            "AWS_BEARER_TOKEN_BEDROCK" => (16, "bedrock-api-key"),
            "BEDROCK_GATEWAY_TOKEN" => (32, "gateway-token"),
            _ => return None,
        };
        (env_bits & bit != 0).then(|| v.to_string())
    };
    let Ok(c) = Config::parse(json, &env) else {
        return;
    };
    assert!(!c.region.is_empty());
    assert!(
        c.region
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-'),
        "{}",
        c.region
    );
    assert!(!c.bedrock_host.trim().is_empty());
    // Credentials a refreshing source would have fetched by now.
    let live = Credentials {
        access_key_id: "AKIDLIVE".into(),
        secret_access_key: "live-secret".into(),
        session_token: Some("live-token".into()),
    };
    let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    if let Err(e) = bedrock::chat(&c, body, fuzz::now(), Some(&live)) {
        assert_ne!(
            e.status,
            500,
            "accepted config cannot serve: {} ({})",
            String::from_utf8_lossy(&e.to_body()),
            String::from_utf8_lossy(json)
        );
    }
});
