//! Prompt caching: client request → Converse body, every body checked against botocore's
//! model (`CachePointBlock`, `CacheTTL`) by `translate`.

use super::*;

const HAIKU_35: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

/// Translates `body` for `model`: the body (checked against botocore's model), the ignored
/// parameters and how the answer is read.
fn translate(model: &str, body: Value) -> (Value, Vec<String>, OutputMode) {
    let body = body.to_string();
    let req = ChatRequest::parse(body.as_bytes()).unwrap();
    let t = to_converse_request(&req, Target::new(model, Provider::infer(model))).unwrap();
    let v = serde_json::to_value(&t.body).unwrap();
    validate_against_botocore(&v);
    (v, t.ignored, t.output)
}

fn run(model: &str, body: Value) -> Result<Translation<'static>, ApiError> {
    let req = ChatRequest::parse(body.to_string().as_bytes())?.into_owned();
    to_converse_request(&req, Target::new(model, Provider::infer(model)))
}

fn tool_history() -> Vec<Value> {
    vec![
        user("weather in Paris and Rome?"),
        json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
        ]}),
        json!({"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"}),
        json!({"role": "tool", "tool_call_id": "call_2", "content": "sunny, 25C"}),
    ]
}

fn validate_against_botocore(v: &Value) {
    crate::test_support::check_converse_request(v).unwrap_or_else(|e| panic!("{e}: {v}"));
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

/// 1,200 bytes: enough before a cache point for a 1,024-token minimum (half of it in bytes).
fn long(tag: &str) -> String {
    format!("{tag} {}", "lorem ".repeat(200))
}

fn cc() -> Value {
    json!({"type": "ephemeral"})
}

fn cc_ttl(ttl: &str) -> Value {
    json!({"type": "ephemeral", "ttl": ttl})
}

fn cp() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn cp_1h() -> Value {
    json!({"cachePoint": {"type": "default", "ttl": "1h"}})
}

/// Like `translate`, for a target with this automatic caching.
fn translate_auto(model: &str, auto: AutoCache, body: Value) -> (Value, Vec<String>) {
    let body = body.to_string();
    let req = ChatRequest::parse(body.as_bytes()).unwrap();
    let target = Target {
        auto,
        ..Target::new(model, Provider::infer(model))
    };
    let t = to_converse_request(&req, target).unwrap();
    let v = serde_json::to_value(&t.body).unwrap();
    validate_against_botocore(&v);
    (v, t.ignored)
}

fn every_position(ttl: Option<crate::openai::chat::CacheTtl>) -> AutoCache {
    AutoCache {
        positions: Some(CachePositions {
            tools: true,
            system: true,
            history: true,
        }),
        ttl,
    }
}

fn cached_tool() -> Value {
    let mut t = weather_tool();
    t["function"]["description"] = json!(long("weather"));
    t["cache_control"] = cc();
    t
}

#[test]
fn cache_control_on_parts_messages_and_tools_becomes_cache_points() {
    let (got, ignored, _) = translate(
        CLAUDE_37,
        json!({"model": "m", "tools": [cached_tool()], "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": long("sys"), "cache_control": cc()},
                {"type": "text", "text": "today is Monday"}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": long("doc"), "cache_control": cc()},
                {"type": "text", "text": "question?"}
            ]},
            {"role": "assistant", "content": "answer", "cache_control": cc()},
            {"role": "user", "content": "and then?"}
        ]}),
    );
    assert_eq!(got["toolConfig"]["tools"][1], cp());
    assert_eq!(got["toolConfig"]["tools"].as_array().unwrap().len(), 2);
    assert_eq!(
        got["system"],
        json!([{"text": long("sys")}, cp(), {"text": "today is Monday"}])
    );
    assert_eq!(
        got["messages"][0]["content"],
        json!([{"text": long("doc")}, cp(), {"text": "question?"}])
    );
    assert_eq!(
        got["messages"][1]["content"],
        json!([{"text": "answer"}, cp()])
    );
    assert!(ignored.is_empty(), "{ignored:?}");
}

#[test]
fn openai_prompt_cache_breakpoint_is_a_cache_point_too() {
    let (got, ignored, _) = translate(
        SONNET_45,
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": long("doc"), "prompt_cache_breakpoint": {"mode": "explicit"}},
            {"type": "text", "text": "q"}
        ]}]}),
    );
    assert_eq!(got["messages"][0]["content"][1], cp());
    assert!(ignored.is_empty());
}

#[test]
fn a_tool_result_keeps_its_cache_point_when_results_move_first() {
    let mut messages = tool_history();
    messages[2]["cache_control"] = cc();
    messages[3]["content"] = json!(long("result"));
    messages[3]["cache_control"] = cc();
    let (got, _, _) = translate(
        CLAUDE_37,
        json!({"model": "m", "tools": [weather_tool()], "messages": messages}),
    );
    let turn = got["messages"][2]["content"].as_array().unwrap();
    let kinds: Vec<&str> = turn
        .iter()
        .map(|b| b.as_object().unwrap().keys().next().unwrap().as_str())
        .collect();
    // The first result's point is dropped: under 512 bytes of prefix can never be cached.
    assert_eq!(kinds, ["toolResult", "toolResult", "cachePoint"]);
}

#[test]
fn models_without_caching_get_no_cache_points_and_say_so() {
    for model in [CLAUDE_35, LLAMA, GPT_OSS] {
        let (got, ignored, _) = translate(
            model,
            json!({"model": "m", "prompt_cache_retention": "24h", "messages": [
                {"role": "system", "content": [{"type": "text", "text": long("s"), "cache_control": cc()}]},
                user("x")
            ]}),
        );
        assert_eq!(got["system"], json!([{"text": long("s")}]), "{model}");
        assert_eq!(
            ignored,
            ["cache_control", "prompt_cache_retention"],
            "{model}"
        );
        // Automatic caching on such a model is silently nothing.
        let (got, ignored) = translate_auto(
            model,
            every_position(None),
            json!({"model": "m", "messages": [{"role": "system", "content": long("s")}, user("x")]}),
        );
        assert_eq!(got["system"].as_array().unwrap().len(), 1, "{model}");
        assert!(ignored.is_empty(), "{model}");
    }
}

#[test]
fn nova_caches_system_and_messages_but_not_tools() {
    let (got, ignored, _) = translate(
        NOVA_PRO,
        json!({"model": "m", "tools": [cached_tool()], "messages": [
            {"role": "system", "content": long("s"), "cache_control": cc()},
            user("x")
        ]}),
    );
    assert_eq!(got["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(got["system"][1], cp());
    assert_eq!(ignored, ["cache_control"]);
}

#[test]
fn a_prefix_certainly_below_the_minimum_is_not_marked() {
    // Claude 3.7 needs 1,024 tokens; "short" is 5 bytes.
    let (got, ignored, _) = translate(
        CLAUDE_37,
        json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "short", "cache_control": cc()}]}
        ]}),
    );
    assert_eq!(got["messages"][0]["content"], json!([{"text": "short"}]));
    assert_eq!(ignored, ["cache_control"]);
    // 600 bytes pass for Claude 3.7 (1,024 tokens) but not for Claude 3.5 Haiku (2,048).
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "lorem ".repeat(100), "cache_control": cc()}]}
    ]});
    assert_eq!(
        translate(CLAUDE_37, body.clone()).0["messages"][0]["content"][1],
        cp()
    );
    let (got, ignored, _) = translate(HAIKU_35, body);
    assert_eq!(got["messages"][0]["content"].as_array().unwrap().len(), 1);
    assert_eq!(ignored, ["cache_control"]);
}

#[test]
fn at_most_four_cache_points_tools_and_system_then_the_latest_messages() {
    let part = |tag: &str| json!([{"type": "text", "text": long(tag), "cache_control": cc()}]);
    let (got, ignored, _) = translate(
        CLAUDE_37,
        json!({"model": "m", "tools": [cached_tool()], "messages": [
            {"role": "system", "content": part("s")},
            {"role": "user", "content": part("u1")},
            {"role": "assistant", "content": part("a1")},
            {"role": "user", "content": part("u2")},
            {"role": "assistant", "content": part("a2")},
            {"role": "user", "content": part("u3")}
        ]}),
    );
    let marked = |path: &Value| path.as_array().unwrap().iter().any(|b| *b == cp());
    assert!(marked(&got["toolConfig"]["tools"]) && marked(&got["system"]));
    let msgs: Vec<bool> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| marked(&m["content"]))
        .collect();
    assert_eq!(msgs, [false, false, false, true, true]);
    assert_eq!(ignored, ["cache_control"]);
}

#[test]
fn ttl_1h_only_where_the_model_takes_it_and_never_after_a_shorter_one() {
    let body = |sys_ttl: &str| {
        json!({"model": "m", "messages": [
            {"role": "system", "content": [{"type": "text", "text": long("s"), "cache_control": cc_ttl(sys_ttl)}]},
            {"role": "user", "content": [{"type": "text", "text": long("u"), "cache_control": cc_ttl("1h")}]}
        ]})
    };
    let (got, ignored, _) = translate(SONNET_45, body("1h"));
    assert_eq!(
        (
            got["system"][1].clone(),
            got["messages"][0]["content"][1].clone()
        ),
        (cp_1h(), cp_1h())
    );
    assert!(ignored.is_empty());
    // A 5-minute point first: the later 1-hour one must come down to 5 minutes.
    let (got, ignored, _) = translate(SONNET_45, body("5m"));
    assert_eq!(
        (
            got["system"][1].clone(),
            got["messages"][0]["content"][1].clone()
        ),
        (cp(), cp())
    );
    assert_eq!(ignored, ["cache_control.ttl"]);
    // Claude 3.7 has no 1-hour TTL.
    let (got, ignored, _) = translate(CLAUDE_37, body("1h"));
    assert_eq!(got["system"][1], cp());
    assert_eq!(ignored, ["cache_control.ttl"]);
}

#[test]
fn automatic_cache_points_after_tools_system_and_before_the_last_user_turn() {
    let body = json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f", "description": long("tool")}}],
    "messages": [
        {"role": "system", "content": long("s")},
        user(&long("u1")),
        {"role": "assistant", "content": "a1"},
        user("u2")
    ]});
    let (got, ignored) = translate_auto(CLAUDE_37, every_position(None), body.clone());
    assert_eq!(got["toolConfig"]["tools"][1], cp());
    assert_eq!(got["system"], json!([{"text": long("s")}, cp()]));
    assert_eq!(got["messages"][1]["content"], json!([{"text": "a1"}, cp()]));
    assert_eq!(got["messages"][2]["content"], json!([{"text": "u2"}]));
    assert!(ignored.is_empty());
    // `prompt_cache_options.mode: explicit` turns them off for the request.
    let mut explicit = body.clone();
    explicit["prompt_cache_options"] = json!({"mode": "explicit"});
    let (got, _) = translate_auto(CLAUDE_37, every_position(None), explicit);
    assert_eq!(got["system"].as_array().unwrap().len(), 1);
    assert_eq!(got["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    // One position only; a first user turn has nothing before it.
    let only_history = AutoCache {
        positions: Some(CachePositions {
            history: true,
            ..CachePositions::default()
        }),
        ttl: None,
    };
    let (got, _) = translate_auto(
        CLAUDE_37,
        only_history,
        json!({"model": "m", "messages": [user(&long("u"))]}),
    );
    assert_eq!(got["messages"][0]["content"].as_array().unwrap().len(), 1);
}

#[test]
fn client_points_come_before_automatic_ones() {
    let part = |tag: &str| json!([{"type": "text", "text": long(tag), "cache_control": cc()}]);
    let (got, ignored) = translate_auto(
        CLAUDE_37,
        every_position(None),
        json!({"model": "m", "messages": [
            {"role": "system", "content": long("s")},
            {"role": "user", "content": part("u1")},
            {"role": "assistant", "content": part("a1")},
            {"role": "user", "content": part("u2")},
            {"role": "assistant", "content": part("a2")},
            user("u3")
        ]}),
    );
    // Four client points; the automatic system point does not fit (and is not reported).
    assert_eq!(got["system"].as_array().unwrap().len(), 1);
    let points = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"].as_array().unwrap().contains(&cp()))
        .count();
    assert_eq!(points, 4);
    assert!(ignored.is_empty());
}

#[test]
fn retention_24h_asks_for_the_1h_ttl_where_there_is_one() {
    let body = json!({"model": "m", "prompt_cache_retention": "24h",
        "messages": [{"role": "system", "content": long("s")}, user("x")]});
    let (got, ignored) = translate_auto(SONNET_45, every_position(None), body.clone());
    assert_eq!(got["system"][1], cp_1h());
    assert!(ignored.is_empty());
    let (got, ignored) = translate_auto(CLAUDE_37, every_position(None), body.clone());
    assert_eq!(got["system"][1], cp());
    assert_eq!(ignored, ["prompt_cache_retention"]);
    // The configured TTL wins over the request's wish.
    let short = every_position(Some(crate::openai::chat::CacheTtl::FiveMinutes));
    let (got, ignored) = translate_auto(SONNET_45, short, body);
    assert_eq!(got["system"][1], cp());
    assert_eq!(ignored, ["prompt_cache_retention"]);
    // `in_memory` is the default: nothing to report.
    let (_, ignored, _) = translate(
        SONNET_45,
        json!({"model": "m", "prompt_cache_retention": "in_memory", "messages": [user("x")]}),
    );
    assert!(ignored.is_empty());
}

#[test]
fn prompt_cache_key_is_accepted_and_reported_ignored() {
    let (_, ignored, _) = translate(
        SONNET_45,
        json!({"model": "m", "prompt_cache_key": "tenant-42", "messages": [user("x")]}),
    );
    assert_eq!(ignored, ["prompt_cache_key"]);
}

#[test]
fn bad_cache_fields_are_400s_naming_the_field() {
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]}]}),
            "messages[0].content[0].cache_control.type",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}),
            "messages[0].cache_control.ttl",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": "yes"}]}]}),
            "messages[0].content[0].cache_control",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "prompt_cache_breakpoint": {"mode": "auto"}}]}]}),
            "messages[0].content[0].prompt_cache_breakpoint",
        ),
        (
            json!({"messages": [user("x")], "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": {}}]}),
            "tools[0].cache_control.type",
        ),
        (
            json!({"messages": [user("x")], "prompt_cache_retention": "forever"}),
            "prompt_cache_retention",
        ),
        (
            json!({"messages": [user("x")], "prompt_cache_options": {"mode": "sometimes"}}),
            "prompt_cache_options.mode",
        ),
        (
            json!({"messages": [user("x")], "prompt_cache_options": {"ttl": "1h"}}),
            "prompt_cache_options.ttl",
        ),
        (
            json!({"messages": [user("x")], "prompt_cache_key": 42}),
            "prompt_cache_key",
        ),
    ];
    for (mut body, param) in cases {
        body["model"] = json!("m");
        let e = run(SONNET_45, body).unwrap_err();
        assert_eq!(e.status, 400, "{param}");
        assert_eq!(e.param.as_deref(), Some(param));
    }
}
