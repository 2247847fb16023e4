//! OpenAI API → Amazon Bedrock Converse, as an Envoy proxy-wasm filter.
//!
//! Everything outside `filter` is the pure core: no proxy-wasm import, tested natively with
//! `cargo test`. The groups, in the order a request flows through them:
//!
//! - [`config`]: the plugin configuration, validated once at plugin start.
//! - [`pipeline`]: one request from head to log: routing ([`pipeline::route`]), the head and
//!   body decisions ([`pipeline::request`]), the Bedrock call ([`pipeline::bedrock`]),
//!   `/v1/models`, `/v1/providers`, `/v1/mappings` ([`pipeline::metadata`]) and the answer
//!   ([`pipeline::response`]).
//! - [`auth`]: who is calling: API keys of [`auth::tenant`]s, the key table kept in AWS
//!   ([`auth::key_source`]), IAM callers verified by STS ([`auth::iam`]).
//! - [`catalog`]: known models and aliases, model names checked and made canonical
//!   ([`catalog::model_id`]).
//! - [`accounting`]: rate limits, usage and metrics of a tenant's requests.
//! - [`upstream`]: how Bedrock is reached: the request's parts, SigV4 ([`upstream::sigv4`])
//!   with static or refreshed ([`upstream::credentials`]) credentials, side calls.
//! - [`translate`], [`stream`], [`event_stream`]: OpenAI ↔ Converse, unary and streamed.
//! - [`openai`] / [`converse`]: wire types of the two APIs; [`error`]: every failure as an
//!   HTTP status plus OpenAI error body; [`headers`]: the one checked path for header writes;
//!   [`document`]: JSON documents read from outside, with errors that never repeat a value.
//!
//! The modules form a DAG (docs/architecture.md, "Layering"; `scripts/check_structure.py`).

pub mod accounting;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod converse;
pub mod document;
pub mod error;
pub mod event_stream;
pub mod headers;
pub mod openai;
pub mod pipeline;
pub mod stream;
pub mod translate;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
mod filter;

/// Test-only helpers shared by unit tests in several modules.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};

    /// botocore's `bedrock-runtime` service model, the oracle for what Bedrock accepts: the
    /// copy shipped in the pinned `botocore` package of the project venv (`make venv`, from
    /// `tests/requirements.txt`). `$BOTOCORE_BEDROCK_MODEL` (set by `make unit`) names the
    /// file; without it the venv is searched. Missing is a failure, never a skip.
    pub(crate) fn botocore_model() -> serde_json::Value {
        let path = botocore_model_path();
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("botocore model {}: {e}", path.display()));
        let text = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .unwrap_or_else(|e| panic!("botocore model {}: {e}", path.display()));
            out
        } else {
            String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Where the model is; missing is a panic naming the way to get it.
    fn botocore_model_path() -> PathBuf {
        if let Some(p) = std::env::var_os("BOTOCORE_BEDROCK_MODEL").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "BOTOCORE_BEDROCK_MODEL={} does not exist (run `make venv`)",
                p.display()
            );
            return p;
        }
        // .venv/lib/python3.*/site-packages/botocore/data/bedrock-runtime/<date>/service-2.json[.gz]
        let venv_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
        let mut found: Vec<PathBuf> = Vec::new();
        for py in read_dir(&venv_lib) {
            let data = py.join("site-packages/botocore/data/bedrock-runtime");
            for dated in read_dir(&data) {
                for name in ["service-2.json", "service-2.json.gz"] {
                    let f = dated.join(name);
                    if f.is_file() {
                        found.push(f);
                    }
                }
            }
        }
        // The newest API version (the dated directory names sort as dates).
        found.sort();
        found.pop().unwrap_or_else(|| {
            panic!(
                "botocore's bedrock-runtime service model not found: set BOTOCORE_BEDROCK_MODEL \
                 or run `make venv` (it installs the pinned botocore into {}/.venv)",
                env!("CARGO_MANIFEST_DIR")
            )
        })
    }

    fn read_dir(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }
}
