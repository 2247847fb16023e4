//! The embeddings fan-out in the callback orders Envoy produces: answers in any order, a
//! bounded number in flight, one call failing, the client going away mid-fan-out, a call
//! that cannot be dispatched or times out.

use super::*;

const TITAN: &str = "amazon.titan-embed-text-v2:0";

fn embeddings_post() -> Vec<(&'static str, String)> {
    let mut h = post("sk-local-demo");
    h[1] = (":path", "/v1/embeddings".into());
    h
}

fn embed_config() -> Rc<Config> {
    config(json!({
        "model_aliases": {"text-embedding-3-small": TITAN, "gpt-4o": "us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
        "embeddings": {"max_in_flight": 2},
        "tenants": {"acme": {"key_sha256": [SHA_DEMO], "limits": {"tokens_per_minute": 100000}}}
    }))
}

/// Sends an embeddings request with `n` inputs; returns the output of the body callback.
fn start(h: &mut Harness, n: usize) -> Output {
    assert_eq!(
        h.headers(&pairs(&embeddings_post()), false).step,
        Step::Pause
    );
    let input: Vec<String> = (0..n).map(|i| format!("text number {i}")).collect();
    let body = json!({"model": "text-embedding-3-small", "input": input}).to_string();
    h.body(body.as_bytes(), true)
}

fn titan_answer(value: f32, tokens: Option<u64>) -> (HeaderList, Vec<u8>) {
    let mut headers = HeaderList::from_pairs([(":status", "200")]);
    if let Some(t) = tokens {
        headers.set("x-amzn-bedrock-input-token-count", &t.to_string());
    }
    let body = json!({"embedding": [value, 0.0], "inputTextTokenCount": 99}).to_string();
    (headers, body.into_bytes())
}

fn give(h: &mut Harness, token: u32, headers: &HeaderList, body: &[u8]) -> Output {
    let mut read = |_: usize| Vec::new();
    h.env(|f, e| f.on_side_call_answer(e, token, headers, body, &mut read))
}

#[test]
fn every_answer_back_in_any_order_makes_one_list_in_input_order() {
    let mut h = Harness::new(embed_config());
    let out = start(&mut h, 3);
    assert_eq!(out.step, Step::Pause);
    assert_eq!(h.flow.phase(), "fan_out");
    // Two in flight at most: the third waits for an answer.
    assert_eq!(h.host.calls.len(), 2);
    let call = &h.host.calls[0];
    assert_eq!(call.cluster, "bedrock");
    assert_eq!(call.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert!(call
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256"));
    let sent: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(sent["inputText"], "text number 0");
    // The second answers first; its count comes from Bedrock's header.
    let (hd, b) = titan_answer(2.0, Some(5));
    assert_eq!(give(&mut h, 2, &hd, &b).step, Step::Pause);
    assert_eq!(h.host.calls.len(), 3, "the waiting call goes out");
    // An unknown token changes nothing.
    assert_eq!(give(&mut h, 42, &hd, &b).step, Step::Pause);
    let (hd, b) = titan_answer(3.0, None);
    assert_eq!(give(&mut h, 3, &hd, &b).step, Step::Pause);
    let (hd, b) = titan_answer(1.0, Some(4));
    let out = give(&mut h, 1, &hd, &b);
    let r = reply_of(&out);
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let firsts: Vec<f64> = (0..3)
        .map(|i| v["data"][i]["embedding"][0].as_f64().unwrap())
        .collect();
    assert_eq!(firsts, [1.0, 2.0, 3.0]);
    assert_eq!(v["data"][2]["index"], 2);
    assert_eq!(v["model"], "text-embedding-3-small");
    // Header counts, else the body's (Titan's inputTextTokenCount).
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 4 + 5 + 99, "total_tokens": 108})
    );
    assert_eq!(r.headers.get("x-token-usage-input"), Some("108"));
    assert_eq!(r.headers.get("x-bedrock-model"), Some(TITAN));
    assert!(r.headers.get("x-ratelimit-limit-tokens").is_some());
    let effects = h.log();
    assert_eq!(field(&effects, "bedrock_error_type"), Some("-"));
    assert_eq!(field(&effects, "bedrock_input_tokens"), Some("108"));
    let u = usage::TenantUsage::decode(h.host.shared_get(&usage::key("acme")).as_deref());
    let m = u.models[TITAN];
    assert_eq!((m.requests, m.errors, m.input_tokens), (1, 0, 108));
}

#[test]
fn one_failed_call_fails_the_request_and_later_answers_are_ignored() {
    let mut h = Harness::new(embed_config());
    start(&mut h, 4);
    let (ok, b) = titan_answer(1.0, Some(3));
    give(&mut h, 1, &ok, &b);
    let throttled = HeaderList::from_pairs([
        (":status", "429"),
        (
            "x-amzn-errortype",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
    ]);
    let out = give(&mut h, 2, &throttled, br#"{"message":"Too many requests"}"#);
    let (status, body) = error_of(&out);
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "ThrottlingException");
    assert_eq!(reply_of(&out).headers.get("retry-after"), Some("1"));
    let dispatched = h.host.calls.len();
    assert_eq!(dispatched, 3, "no call goes out after the failure");
    let (hd, b) = titan_answer(1.0, Some(3));
    assert_eq!(give(&mut h, 3, &hd, &b), Output::new(Step::Pause));
    assert_eq!(h.host.calls.len(), dispatched);
    let effects = h.log();
    assert_eq!(
        field(&effects, "bedrock_error_type"),
        Some("rate_limit_error")
    );
    let u = usage::TenantUsage::decode(h.host.shared_get(&usage::key("acme")).as_deref());
    assert_eq!(
        (u.models[TITAN].errors, u.models[TITAN].input_tokens),
        (1, 3)
    );
}

#[test]
fn a_client_that_goes_away_mid_fan_out_is_accounted_and_nothing_more_is_sent() {
    let mut h = Harness::new(embed_config());
    start(&mut h, 5);
    let (hd, b) = titan_answer(1.0, Some(6));
    give(&mut h, 1, &hd, &b);
    assert_eq!(h.host.calls.len(), 3);
    // The client resets: Envoy runs the log callback; in-flight answers may still arrive.
    let effects = h.log();
    assert_eq!(h.flow.phase(), "done");
    assert_eq!(field(&effects, "bedrock_model"), Some(TITAN));
    assert_eq!(give(&mut h, 2, &hd, &b), Output::new(Step::Pause));
    assert_eq!(
        h.host.calls.len(),
        3,
        "nothing is dispatched for a request that is gone"
    );
    let u = usage::TenantUsage::decode(h.host.shared_get(&usage::key("acme")).as_deref());
    assert_eq!(u.models[TITAN].input_tokens, 6);
}

#[test]
fn undispatchable_and_timed_out_calls_are_openai_errors() {
    let mut h = Harness::new(embed_config());
    h.host.dispatch_fails = true;
    let (status, body) = error_of(&start(&mut h, 1));
    assert_eq!(status, 503);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`bedrock`"));
    let mut h = Harness::new(embed_config());
    start(&mut h, 1);
    let (status, _) = error_of(&give(&mut h, 1, &HeaderList::default(), b""));
    assert_eq!(status, 504);
    // A 200 that is not the model's shape.
    let mut h = Harness::new(embed_config());
    start(&mut h, 1);
    let ok = HeaderList::from_pairs([(":status", "200")]);
    assert_eq!(error_of(&give(&mut h, 1, &ok, b"{}")).0, 502);
}

#[test]
fn chat_models_and_embedding_models_stay_on_their_endpoints() {
    let mut h = Harness::new(embed_config());
    h.headers(&pairs(&embeddings_post()), false);
    let body = json!({"model": "gpt-4o", "input": "a"}).to_string();
    let (status, body) = error_of(&h.body(body.as_bytes(), true));
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("model"))
    );
    assert!(h.host.calls.is_empty());
    let mut h = Harness::new(embed_config());
    h.headers(&pairs(&post("sk-local-demo")), false);
    let body =
        json!({"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = error_of(&h.body(body.to_string().as_bytes(), true));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("model_not_chat"))
    );
}

#[test]
fn cohere_batches_are_one_call_each_chunk() {
    let mut h = Harness::new(embed_config());
    h.headers(&pairs(&embeddings_post()), false);
    let input: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let body =
        json!({"model": "cohere.embed-english-v3", "input": input, "encoding_format": "base64"});
    assert_eq!(h.body(body.to_string().as_bytes(), true).step, Step::Pause);
    assert_eq!(h.host.calls.len(), 2);
    let answer = |n: usize| {
        json!({"embeddings": vec![vec![0.5_f32; 2]; n], "id": "x", "texts": []}).to_string()
    };
    let ok = HeaderList::from_pairs([
        (":status", "200"),
        ("x-amzn-bedrock-input-token-count", "10"),
    ]);
    give(&mut h, 2, &ok, answer(4).as_bytes());
    let out = give(&mut h, 1, &ok, answer(96).as_bytes());
    let v: Value = serde_json::from_slice(&reply_of(&out).body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 100);
    assert_eq!(v["data"][99]["embedding"], "AAAAPwAAAD8=");
    assert_eq!(v["usage"]["prompt_tokens"], 20);
}
