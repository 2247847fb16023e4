//! OpenAI chat request body → signed Converse request (`request::on_body` with a fixed config).
//! Never panics; accepts with a `/model/…` path and a Converse body that Bedrock's rules
//! accept (tests/support/bedrock_rules.rs), or rejects with a 400 and an OpenAI error body.
//! Header safety: every header the filter would write for an accepted request (upstream head
//! with rate-limit descriptors, downstream head) passes `headers.rs`' check without a single
//! refusal, so no body can put a control character or an oversized value into a header.
#![no_main]

use std::sync::OnceLock;

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::pipeline::request::{self, Endpoint};
use libfuzzer_sys::fuzz_target;

static CFG: OnceLock<Config> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let cfg = CFG.get_or_init(|| {
        let mut c = fuzz::config();
        c.rate_limit_descriptors = true;
        c
    });
    let tenant = &cfg.tenants.tenants()[0];
    match request::on_body(
        cfg,
        tenant,
        Endpoint::ChatCompletions,
        data,
        None,
        fuzz::now(),
        None,
    ) {
        Ok((request::Prepared::FanOut(_), ..)) => panic!("a chat request is forwarded"),
        Ok((request::Prepared::Forward(up), ex, _)) => {
            fuzz::assert_headers_safe(cfg, &tenant.name, &up, &ex);
            assert!(up.path.starts_with("/model/"), "{}", up.path);
            assert!(up.path.ends_with("/converse") || up.path.ends_with("/converse-stream"));
            assert!(!ex.bedrock_model.is_empty());
            let body: serde_json::Value =
                serde_json::from_slice(&up.body).expect("Converse body is JSON");
            if let Err(e) = fuzz::bedrock_rules::check(&body) {
                panic!(
                    "accepted, but Bedrock would refuse the Converse body ({e}): {}",
                    String::from_utf8_lossy(data)
                );
            }
            assert!(up.headers.iter().any(|(k, _)| k == "authorization"));
        }
        Err(e) => {
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(&e.to_body()));
            let body: serde_json::Value =
                serde_json::from_slice(&e.to_body()).expect("error body is JSON");
            assert!(body["error"]["message"].is_string());
        }
    }
});
