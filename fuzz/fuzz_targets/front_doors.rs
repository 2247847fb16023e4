//! The other front doors' request bodies (`/v1/responses`, `/v1/embeddings`, legacy
//! `/v1/completions`; the first byte picks one) → `request::on_body` with a fixed config.
//! Never panics; a refusal is a 400 with an OpenAI error body; Responses and completions are
//! forwarded as a Converse call Bedrock's rules accept, embeddings become a fan-out of side
//! calls; every header the filter would write for an accepted request passes `headers.rs`'
//! check without a refusal.
#![no_main]

use std::sync::OnceLock;

use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::pipeline::request::{self, Endpoint, Prepared};
use libfuzzer_sys::fuzz_target;

static CFG: OnceLock<Config> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let endpoint = match pick % 3 {
        0 => Endpoint::Responses,
        1 => Endpoint::Embeddings,
        _ => Endpoint::Completions,
    };
    let cfg = CFG.get_or_init(|| {
        let mut c = fuzz::config();
        c.rate_limit_descriptors = true;
        c
    });
    let tenant = &cfg.tenants.tenants()[0];
    match request::on_body(cfg, tenant, endpoint, body, None, fuzz::now(), None) {
        Ok((Prepared::FanOut(_), ex, _)) => {
            assert_eq!(endpoint, Endpoint::Embeddings, "only embeddings fan out");
            assert!(!ex.bedrock_model.is_empty());
        }
        Ok((Prepared::Forward(up), ex, _)) => {
            assert_ne!(
                endpoint,
                Endpoint::Embeddings,
                "embeddings never forward the client's request"
            );
            fuzz::assert_headers_safe(cfg, &tenant.name, &up, &ex);
            assert!(up.path.starts_with("/model/"), "{}", up.path);
            let converse: serde_json::Value =
                serde_json::from_slice(&up.body).expect("Converse body is JSON");
            if let Err(e) = fuzz::bedrock_rules::check(&converse) {
                panic!(
                    "accepted, but Bedrock would refuse the Converse body ({e}): {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        Err(e) => {
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(&e.to_body()));
            let err: serde_json::Value =
                serde_json::from_slice(&e.to_body()).expect("error body is JSON");
            assert!(err["error"]["message"].is_string());
        }
    }
});
