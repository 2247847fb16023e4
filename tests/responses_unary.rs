//! Unary `/v1/responses` answers: Converse bodies → `response` objects, checked against the
//! `Response` schema of OpenAI's OpenAPI document when it is there, and for content.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_openai_filter::openai::responses::ResponsesRequest;
use bedrock_openai_filter::translate::responses::{to_response, ResponseContext};
use bedrock_openai_filter::translate::tools::OutputMode;
use serde_json::{json, Value};

mod support;

fn answer(converse: Value, request: Value) -> Value {
    let req = ResponsesRequest::parse(request.to_string().as_bytes()).unwrap();
    let ctx = ResponseContext {
        id: "resp_abc".into(),
        created: 1_700_000_000,
        model: "m".into(),
        output: OutputMode::default(),
        echo: req.echo,
        encrypted_reasoning: req.encrypted_reasoning,
    };
    let (bytes, counts) = to_response(converse.to_string().as_bytes(), &ctx).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["usage"]["total_tokens"], counts.total());
    v
}

fn check_schema(v: &Value) {
    let spec = support::openapi::openapi();
    if spec["components"]["schemas"]["Response"].is_null() {
        return; // The repository's subset has no Responses schemas; the e2e SDK check runs.
    }
    let errors = support::openapi::schema_errors(&spec, "Response", v);
    assert!(errors.is_empty(), "{errors:?}\n{v}");
}

#[test]
fn text_reasoning_and_calls_become_output_items() {
    let v = answer(
        json!({"output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}
        ]}}, "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 4}}),
        json!({"model": "m", "input": "hi", "instructions": "be brief", "metadata": {"a": "b"},
               "tools": [{"type": "function", "name": "w", "parameters": {"type": "object"}}]}),
    );
    check_schema(&v);
    assert_eq!(
        (v["object"].as_str(), v["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    let types: Vec<&str> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["reasoning", "message", "function_call"]);
    assert_eq!(v["output"][0]["summary"][0]["text"], "hmm");
    // Not asked for: no `encrypted_content`, as OpenAI.
    assert!(v["output"][0].get("encrypted_content").is_none());
    assert_eq!(v["output"][1]["content"][0]["text"], "Let me check.");
    assert_eq!(v["output"][2]["call_id"], "t1");
    assert_eq!(v["output"][2]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(v["usage"]["input_tokens"], 14);
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 4);
    assert_eq!(
        (v["instructions"].as_str(), v["store"].as_bool()),
        (Some("be brief"), Some(false))
    );
    assert_eq!(v["metadata"], json!({"a": "b"}));
    assert_eq!(v["tools"][0]["name"], "w");
}

/// Decodes an `encrypted_content` (opaque to clients; base64 of the block's JSON here).
fn unseal(v: &Value) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn include_seals_each_reasoning_block_in_its_item() {
    let converse = json!({"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "c2ln"}}},
        {"reasoningContent": {"redactedContent": "AAEC"}},
        {"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}
    ]}}, "stopReason": "tool_use",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}});
    let tools = json!([{"type": "function", "name": "w", "parameters": {"type": "object"}}]);
    let v = answer(
        converse.clone(),
        json!({"model": "m", "input": "hi", "tools": tools,
               "include": ["reasoning.encrypted_content"]}),
    );
    check_schema(&v);
    let out = v["output"].as_array().unwrap();
    let kinds: Vec<&str> = out.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reasoning", "reasoning", "function_call"]);
    assert_ne!(out[0]["id"], out[1]["id"]);
    assert_eq!(
        out[0]["summary"],
        json!([{"type": "summary_text", "text": "hmm"}])
    );
    assert_eq!(
        unseal(&out[0]["encrypted_content"]),
        json!({"type": "thinking", "thinking": "hmm", "signature": "c2ln"})
    );
    assert_eq!(out[1]["summary"], json!([]));
    assert_eq!(
        unseal(&out[1]["encrypted_content"]),
        json!({"type": "redacted_thinking", "data": "AAEC"})
    );
    // Without `include` the redacted block has nothing to show.
    let v = answer(
        converse,
        json!({"model": "m", "input": "hi", "tools": tools}),
    );
    let kinds: Vec<&str> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "function_call"]);
}

#[test]
fn cut_short_answers_are_incomplete() {
    for (stop, reason) in [
        ("max_tokens", "max_output_tokens"),
        ("guardrail_intervened", "content_filter"),
    ] {
        let v = answer(
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "par"}]}},
                   "stopReason": stop, "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
            json!({"model": "m", "input": "hi", "max_output_tokens": 1}),
        );
        check_schema(&v);
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], reason);
        assert_eq!(v["output"][0]["status"], "incomplete");
        assert_eq!(v["max_output_tokens"], 1);
    }
}

#[test]
fn the_schema_check_can_fail() {
    let spec = support::openapi::openapi();
    if spec["components"]["schemas"]["Response"].is_null() {
        return;
    }
    let mut v = answer(
        json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
               "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
        json!({"model": "m", "input": "hi"}),
    );
    v["output"][0]["content"][0]["type"] = json!("text");
    assert!(!support::openapi::schema_errors(&spec, "Response", &v).is_empty());
}
