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
