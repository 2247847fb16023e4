//! Data-driven translation cases, one JSON file each, in both directions (layout and how to
//! add one: `docs/testing.md`):
//!
//! - `tests/fixtures/openai/{chat,completions}/*.json`: an OpenAI `request` → the Converse
//!   call the filter makes (`converse`: path, `x-bedrock-ignored-params`, how the answer will
//!   be read back, body) or the error it answers itself (`error`).
//! - `tests/fixtures/converse/{chat,completions}/*.json`: a unary Bedrock `answer` to a
//!   `request` → the client's `chat.completion` / `text_completion` (`openai`) or `error`.
//!
//! Each case runs through the code the filter runs (`pipeline::bedrock::chat` / `completion`, then
//! `ResponseHandler`), with the configuration of [`config`]. Every Converse body produced is
//! checked against botocore's model and Bedrock's conversation rules, every OpenAI answer and
//! error against OpenAI's schema (the full OpenAPI document when present, else the
//! repository's subset `tests/fixtures/openai/schemas.json`), then compared with the
//! expectation; a mismatch prints each differing path. `UPDATE_FIXTURES=1 cargo test --test
//! translation_fixtures` rewrites the expectations from what the code does: review the diff
//! line by line before committing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bedrock_openai_filter::accounting::usage::estimate_input_tokens;
use bedrock_openai_filter::config::Config;
use bedrock_openai_filter::headers::HeaderList;
use bedrock_openai_filter::pipeline::bedrock;
use bedrock_openai_filter::pipeline::response::{downstream_head, ResponseHandler, ResponseHead};
use bedrock_openai_filter::translate::tools::OutputMode;
use bedrock_openai_filter::upstream::{Exchange, UpstreamRequest};
use serde_json::{json, Map, Value};

mod support;

use support::openapi::{openapi, schema_errors};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// The request id the answers' ids are made from, and their `created`.
const REQUEST_ID: &str = "fixture";
const CREATED: u64 = 1_700_000_000;

/// The configuration every case runs with: SigV4 with static credentials in `us-east-1`, one
/// alias, `gpt-4o` → Claude 3.5 Sonnet v2, and two S3 buckets `s3://` URLs may name,
/// `bucket-a` and `bucket-b` (owned by account 123456789012). Any other `model` must be a
/// Bedrock id.
fn config() -> Config {
    Config::parse(
        br#"{"api_keys":["sk-fixture"],"region":"us-east-1",
             "credentials":{"access_key_id":"AKIDFIXTURE","secret_access_key":"fixture-secret"},
             "model_aliases":{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
             "s3_buckets":["bucket-a","bucket-b"],"s3_bucket_owners":{"bucket-b":"123456789012"}}"#,
        &|_| None,
    )
    .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Chat,
    Completions,
}

impl Endpoint {
    fn dir(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completions => "completions",
        }
    }

    fn answer_schema(self) -> &'static str {
        match self {
            Self::Chat => "CreateChatCompletionResponse",
            Self::Completions => "CreateCompletionResponse",
        }
    }

    /// The filter's request half: the upstream call and what the answer needs, or its 400.
    fn call(self, request: &Value) -> Result<(UpstreamRequest, Exchange), Value> {
        let body = match request {
            // A string is the raw body, for bodies that are not JSON at all.
            Value::String(raw) => raw.as_bytes().to_vec(),
            other => serde_json::to_vec(other).unwrap(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(CREATED);
        let cfg = config();
        match self {
            Self::Chat => bedrock::chat(&cfg, &body, now, None),
            Self::Completions => bedrock::completion(&cfg, &body, now, None),
        }
        .map_err(|e| error_json(e.status, &serde_json::from_slice(&e.to_body()).unwrap()))
    }
}

/// An error expectation: the HTTP status and the members of the body's `error` object.
fn error_json(status: u16, body: &Value) -> Value {
    let mut e = body["error"].as_object().cloned().unwrap_or_default();
    e.insert("status".into(), json!(status));
    Value::Object(e)
}

/// [`OutputMode`] as a case states it: only what differs from the default.
fn output_json(mode: &OutputMode) -> Option<Value> {
    let mut m = Map::new();
    if let Some(t) = &mode.json_tool {
        m.insert("json_tool".into(), json!(t));
    }
    if mode.drop_tool_calls {
        m.insert("drop_tool_calls".into(), json!(true));
    }
    if mode.legacy_functions {
        m.insert("legacy_functions".into(), json!(true));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

/// What a request case produces: `{"converse": …}` or `{"error": …}`, plus the problems the
/// oracles found in it.
fn run_request(endpoint: Endpoint, case: &Map<String, Value>) -> (Value, Vec<String>) {
    let (up, ex) = match endpoint.call(&case["request"]) {
        Ok(ok) => ok,
        Err(e) => return (json!({ "error": e }), check_error(&e)),
    };
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = support::botocore::check_converse_request(&body) {
        problems.push(format!("botocore model: {e}"));
    }
    if let Err(e) = support::bedrock_rules::check(&body) {
        problems.push(format!("Bedrock rules: {e}"));
    }
    // The estimate made from the request before serialising it counts what the body has.
    let counted = estimate_input_tokens(&up.body);
    if ex.estimated_input_tokens != counted {
        problems.push(format!(
            "estimated {} input tokens, the body has {counted}",
            ex.estimated_input_tokens
        ));
    }
    let mut head = HeaderList::new(Vec::new());
    downstream_head(&mut head, &ex, REQUEST_ID, &[]);
    let mut converse = Map::new();
    converse.insert("path".into(), json!(up.path));
    if let Some(ignored) = head.get("x-bedrock-ignored-params") {
        converse.insert("x-bedrock-ignored-params".into(), json!(ignored));
    }
    if let Some(output) = output_json(&ex.output) {
        converse.insert("output".into(), output);
    }
    converse.insert("body".into(), body);
    (json!({ "converse": converse }), problems)
}

/// What an answer case produces: `{"openai": …}` (without the volatile `id` and `created`,
/// checked here) or `{"error": …}`, plus the problems the oracles found in it.
fn run_answer(endpoint: Endpoint, case: &Map<String, Value>) -> (Value, Vec<String>) {
    let ex = match endpoint.call(&case["request"]) {
        Ok((_, ex)) if !ex.stream => ex,
        Ok(_) => {
            return (
                Value::Null,
                vec!["answer cases are unary (streams: tests/stream_replay.rs)".into()],
            )
        }
        Err(e) => {
            return (
                Value::Null,
                vec![format!("the filter refuses the case's `request`: {e}")],
            )
        }
    };
    let answer = &case["answer"];
    let head = ResponseHead {
        status: answer
            .get("status")
            .map_or(200, |s| s.as_u64().unwrap() as u16),
        content_type: Some("application/json"),
        error_type: answer.get("x-amzn-errortype").and_then(Value::as_str),
    };
    let body = match &answer["body"] {
        Value::String(raw) => raw.as_bytes().to_vec(),
        other => serde_json::to_vec(other).unwrap(),
    };
    let id = ex.response_id(REQUEST_ID);
    let handler = ResponseHandler::new(&ex, &head, id.clone(), CREATED);
    let done = handler.finish_buffered(&body);
    let mut out: Value = serde_json::from_slice(&done.body).unwrap();
    if done.status != 200 {
        let e = error_json(done.status, &out);
        return (json!({ "error": e }), check_error(&e));
    }
    let mut problems = schema_errors(spec(), endpoint.answer_schema(), &out);
    let obj = out.as_object_mut().unwrap();
    let (got_id, got_created) = (obj.remove("id"), obj.remove("created"));
    if got_id != Some(json!(id)) || got_created != Some(json!(CREATED)) {
        problems.push(format!("`id` is not {id} or `created` is not {CREATED}"));
    }
    (json!({ "openai": out }), problems)
}

/// OpenAI's schemas, read once.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(openapi)
}

fn check_error(e: &Value) -> Vec<String> {
    let mut body = e.clone();
    body.as_object_mut().unwrap().remove("status");
    schema_errors(spec(), "ErrorResponse", &json!({ "error": body }))
}

/// Every path where `got` differs from `want`, as `path: expected …, got …` lines.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: expected {wv}, missing")),
                }
            }
            for (k, gv) in g.iter().filter(|(k, _)| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: not expected, got {gv}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, out);
            }
            for (i, wv) in w.iter().enumerate().skip(g.len()) {
                out.push(format!("{path}[{i}]: expected {wv}, missing"));
            }
            for (i, gv) in g.iter().enumerate().skip(w.len()) {
                out.push(format!("{path}[{i}]: not expected, got {gv}"));
            }
        }
        _ if want != got => out.push(format!("{path}: expected {want}, got {got}")),
        _ => {}
    }
}

/// The input and expectation keys a case may hold, per direction.
const REQUEST_KEYS: (&[&str], &[&str]) = (&["why", "request"], &["converse", "error"]);
const ANSWER_KEYS: (&[&str], &[&str]) = (&["why", "request", "answer"], &["openai", "error"]);

/// Every case of `tests/fixtures/<side>/<endpoint>/`, sorted by name; a file that is not a
/// well-formed case (unknown key, no `why`, not exactly one expectation) fails the run.
fn load(dir: &Path, keys: (&[&str], &[&str])) -> Vec<(PathBuf, Map<String, Value>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let cases: Vec<_> = paths
        .into_iter()
        .map(|p| {
            assert!(
                p.extension().is_some_and(|e| e == "json"),
                "{}: not a .json case",
                p.display()
            );
            let text = std::fs::read_to_string(&p).unwrap();
            let case: Map<String, Value> =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let (inputs, expectations) = keys;
            for k in case.keys() {
                assert!(
                    inputs.contains(&k.as_str()) || expectations.contains(&k.as_str()),
                    "{}: unknown key `{k}` (a case holds {inputs:?} and one of {expectations:?})",
                    p.display()
                );
            }
            for k in inputs {
                assert!(case.contains_key(*k), "{}: no `{k}`", p.display());
            }
            assert!(
                case["why"].as_str().is_some_and(|w| !w.trim().is_empty()),
                "{}: `why` must say what the case shows",
                p.display()
            );
            let n = expectations
                .iter()
                .filter(|k| case.contains_key(**k))
                .count();
            assert_eq!(n, 1, "{}: one of {expectations:?} expected", p.display());
            (p, case)
        })
        .collect();
    assert!(!cases.is_empty(), "{}: no case", dir.display());
    cases
}

type Runner = fn(Endpoint, &Map<String, Value>) -> (Value, Vec<String>);

/// Runs every case of one directory and fails once, listing every failing case.
fn run_dir(side: &str, endpoint: Endpoint, keys: (&[&str], &[&str]), run: Runner) {
    let dir = Path::new(FIXTURES).join(side).join(endpoint.dir());
    let update = std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let cases = load(&dir, keys);
    let mut failures = Vec::new();
    for (path, case) in &cases {
        let name = path.strip_prefix(FIXTURES).unwrap().display().to_string();
        let (got, problems) = run(endpoint, case);
        if !problems.is_empty() {
            // Never written as an expectation, whatever the mode.
            let problems = problems.join("\n  ");
            failures.push(format!(
                "{name}: the output fails its oracle:\n  {problems}"
            ));
            continue;
        }
        let want: Map<String, Value> = keys
            .1
            .iter()
            .filter_map(|k| Some((k.to_string(), case.get(*k)?.clone())))
            .collect();
        let mut lines = Vec::new();
        diff("", &Value::Object(want), &got, &mut lines);
        if lines.is_empty() {
            continue;
        }
        if update {
            rewrite(path, case, keys, &got);
            eprintln!("UPDATE_FIXTURES: rewrote {name}");
        } else {
            let why = case["why"].as_str().unwrap();
            failures.push(format!("{name} ({why}):\n  {}", lines.join("\n  ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases in {side}/{} failed (after a reviewed change, \
         `UPDATE_FIXTURES=1 cargo test --test translation_fixtures` rewrites the expectations):\n\n{}\n",
        failures.len(),
        cases.len(),
        endpoint.dir(),
        failures.join("\n\n")
    );
}

/// Writes `got` as the case's expectation, keeping the inputs as they were written when the
/// expectation is the file's last member (as every case is laid out).
fn rewrite(path: &Path, case: &Map<String, Value>, keys: (&[&str], &[&str]), got: &Value) {
    let (key, value) = got.as_object().unwrap().iter().next().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let old = keys
        .1
        .iter()
        .find_map(|k| text.rfind(&format!(",\n  \"{k}\": ")));
    let head = match old {
        Some(at) => text[..at].to_string(),
        None => {
            let inputs: Vec<String> = keys.0.iter().map(|k| member(k, &case[*k], &[])).collect();
            format!("{{\n{}", inputs.join(",\n"))
        }
    };
    let order = [
        "path",
        "x-bedrock-ignored-params",
        "output",
        "status",
        "type",
        "param",
        "code",
    ];
    std::fs::write(
        path,
        format!("{head},\n{}\n}}\n", member(key, value, &order)),
    )
    .unwrap();
}

/// Lines of a case file are at most this wide where a value allows.
const WIDTH: usize = 100;

/// A top-level member of a case file: `  "key": value`.
fn member(key: &str, v: &Value, order: &[&str]) -> String {
    let prefix = format!("  {}: ", json!(key));
    format!("{prefix}{}", pretty(v, 2, prefix.chars().count(), order))
}

fn one_line(v: &Value) -> String {
    match v {
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(one_line).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            let members: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", json!(k), one_line(v)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        other => other.to_string(),
    }
}

/// JSON as a person lays it out: a value that fits on its line stays on it, else one member
/// or item per line. `order` puts those keys of this object first.
fn pretty(v: &Value, indent: usize, used: usize, order: &[&str]) -> String {
    let line = one_line(v);
    let (open, close, items): (char, char, Vec<(Option<&String>, &Value)>) = match v {
        Value::Array(a) if !a.is_empty() => ('[', ']', a.iter().map(|x| (None, x)).collect()),
        Value::Object(m) if !m.is_empty() => {
            let rank = |k: &String| order.iter().position(|o| o == k).unwrap_or(order.len());
            let mut members: Vec<_> = m.iter().map(|(k, x)| (Some(k), x)).collect();
            members.sort_by_key(|(k, _)| rank(k.unwrap()));
            ('{', '}', members)
        }
        _ => return line,
    };
    if used + line.chars().count() <= WIDTH {
        return line;
    }
    let pad = " ".repeat(indent + 2);
    let lines: Vec<String> = items
        .into_iter()
        .map(|(k, x)| {
            let key = k.map(|k| format!("{}: ", json!(k))).unwrap_or_default();
            let used = pad.len() + key.chars().count();
            format!("{pad}{key}{}", pretty(x, indent + 2, used, &[]))
        })
        .collect();
    format!(
        "{open}\n{}\n{}{close}",
        lines.join(",\n"),
        " ".repeat(indent)
    )
}

#[test]
fn chat_requests() {
    run_dir("openai", Endpoint::Chat, REQUEST_KEYS, run_request);
}

#[test]
fn completion_requests() {
    run_dir("openai", Endpoint::Completions, REQUEST_KEYS, run_request);
}

#[test]
fn chat_answers() {
    run_dir("converse", Endpoint::Chat, ANSWER_KEYS, run_answer);
}

#[test]
fn completion_answers() {
    run_dir("converse", Endpoint::Completions, ANSWER_KEYS, run_answer);
}

#[test]
fn the_diff_names_every_difference() {
    let want = json!({"a": {"b": [1, 2, 3], "c": "x"}, "gone": true});
    let got = json!({"a": {"b": [1, 5], "c": "x", "extra": null}});
    let mut lines = Vec::new();
    diff("", &want, &got, &mut lines);
    assert_eq!(
        lines,
        [
            ".a.b[1]: expected 2, got 5",
            ".a.b[2]: expected 3, missing",
            ".a.extra: not expected, got null",
            ".gone: expected true, missing",
        ]
    );
    let mut none = Vec::new();
    diff("", &want, &want, &mut none);
    assert!(none.is_empty());
}

#[test]
fn the_botocore_check_catches_mistakes() {
    for bad in [
        json!({"messages": [{"role": "user", "content": [{"txt": "x"}]}]}),
        json!({"messages": [{"role": "user", "content": [{"text": "x", "image": {}}]}]}),
        json!({"messages": [], "toolConfig": {"tools": []}}),
        json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]}]}),
        json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
        json!({"messages": [{"role": "user", "content": [{"text": "x"}]}, {"role": "user", "content": [{"text": "y"}]}]}),
    ] {
        assert!(
            support::botocore::check_converse_request(&bad).is_err(),
            "{bad}"
        );
    }
    let good = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]});
    support::botocore::check_converse_request(&good).unwrap();
}

#[test]
fn the_schema_subset_rejects_bad_answers() {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("openai/schemas.json")).unwrap();
    let subset: Value = serde_json::from_str(&text).unwrap();
    let good = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
            "message": {"role": "assistant", "content": "hi", "refusal": null}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    assert_eq!(
        schema_errors(&subset, "CreateChatCompletionResponse", &good),
        Vec::<String>::new()
    );
    let mut bad = Vec::new();
    for (path, value) in [
        ("/choices/0/message/refusal", None),
        ("/choices/0/message/reasoning", Some(json!("r"))),
        ("/choices/0/finish_reason", Some(json!("done"))),
        ("/object", Some(json!("chat.completion.chunk"))),
        ("/usage/total_tokens", Some(json!("2"))),
    ] {
        let mut v = good.clone();
        let (parent, key) = path.rsplit_once('/').unwrap();
        let obj = v.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(x) => obj.insert(key.into(), x),
            None => obj.remove(key),
        };
        bad.push(("CreateChatCompletionResponse", v));
    }
    bad.push((
        "CreateCompletionResponse",
        json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "text": "x"}]}),
    ));
    for (name, v) in bad {
        assert!(
            !schema_errors(&subset, name, &v).is_empty(),
            "{name} accepted {v}"
        );
    }
}
