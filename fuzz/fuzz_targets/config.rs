//! Plugin configuration (`Config::parse`): never panics; what it accepts is usable.
#![no_main]

use bedrock_openai_filter::config::Config;
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
            _ => return None,
        };
        (env_bits & bit != 0).then(|| v.to_string())
    };
    if let Ok(c) = Config::parse(json, &env) {
        assert!(!c.api_keys.is_empty());
        assert!(c.api_keys.iter().all(|k| k.trim().len() >= 8));
        assert!(!c.region.is_empty());
        assert!(c
            .region
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-'));
        assert!(!c.bedrock_host.trim().is_empty());
        assert!(!c.credentials.access_key_id.trim().is_empty());
        assert!(!c.credentials.secret_access_key.is_empty());
    }
});
