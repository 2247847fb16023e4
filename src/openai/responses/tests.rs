use super::*;
use crate::openai::chat::{ContentPart, ReasoningEffort, ResponseFormat, Role, ToolChoice};
use serde_json::{json, Value};

fn parse(v: Value) -> ResponsesRequest {
    ResponsesRequest::parse(v.to_string().as_bytes()).unwrap()
}

fn err(v: Value) -> ApiError {
    ResponsesRequest::parse(v.to_string().as_bytes()).unwrap_err()
}

const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

#[test]
fn a_string_input_is_one_user_message() {
    let r = parse(json!({"model": "m", "input": "hi", "instructions": "be brief"}));
    assert_eq!(
        r.input,
        [InputItem::Message {
            role: Role::User,
            content: vec![ContentPart::Text("hi".into())]
        }]
    );
    assert_eq!(r.instructions.as_deref(), Some("be brief"));
    assert_eq!(r.echo.0["store"], json!(false));
    assert_eq!(r.echo.0["tool_choice"], json!("auto"));
    assert_eq!(r.echo.0["text"], json!({"format": {"type": "text"}}));
    assert!(r.ignored.is_empty());
}

#[test]
fn parses_items_parts_tools_and_options() {
    let r = parse(json!({
        "model": "m",
        "input": [
            {"role": "developer", "content": "rules"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_1X1}"), "detail": "auto"},
                {"type": "input_file", "filename": "a.txt", "file_data": "data:text/plain;base64,aGk="}
            ]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{\"x\":1}", "id": "fc_1", "status": "completed"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}
        ],
        "tools": [{"type": "function", "name": "w", "description": "weather",
                   "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}, "strict": true}],
        "tool_choice": {"type": "function", "name": "w"},
        "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": true}},
        "reasoning": {"effort": "low", "summary": "auto"},
        "max_output_tokens": 50, "temperature": 0.2, "top_p": 0.9,
        "metadata": {"k": "v"}, "user": "u", "service_tier": "flex",
        "store": true, "parallel_tool_calls": false, "include": ["reasoning.encrypted_content"]
    }));
    assert_eq!(r.input.len(), 4);
    let InputItem::Message { content, .. } = &r.input[1] else {
        panic!("{:?}", r.input[1])
    };
    assert!(matches!(content[1], ContentPart::Image(_)));
    assert!(matches!(&content[2], ContentPart::Document(d) if d.format == "txt"));
    assert_eq!(
        r.input[2],
        InputItem::FunctionCall {
            call_id: "c1".into(),
            name: "w".into(),
            arguments: json!({"x": 1})
        }
    );
    assert!(r.tools[0].strict);
    assert_eq!(r.tool_choice, Some(ToolChoice::Function("w".into())));
    assert!(
        matches!(r.format, ResponseFormat::JsonSchema { ref name, strict: true, .. } if name == "a")
    );
    assert_eq!(r.reasoning_effort, Some(ReasoningEffort::Low));
    assert_eq!(
        (r.max_output_tokens, r.temperature, r.top_p),
        (Some(50), Some(0.2), Some(0.9))
    );
    assert_eq!(r.metadata, [("k".to_string(), "v".to_string())]);
    assert_eq!(r.ignored, ["parallel_tool_calls", "store"]);
    assert_eq!(r.echo.0["store"], json!(false));
    assert_eq!(r.echo.0["parallel_tool_calls"], json!(false));
    assert_eq!(r.echo.0["tools"][0]["name"], json!("w"));
    assert_eq!(r.echo.0["service_tier"], json!("flex"));
}

#[test]
fn stateful_fields_and_built_in_tools_are_refused_by_name() {
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("conversation", json!("conv_1")),
        ("prompt", json!({"id": "pmpt_1"})),
        ("background", json!(true)),
    ] {
        let mut body = json!({"model": "m", "input": "hi"});
        body[field] = value;
        let e = err(body);
        assert_eq!((e.status, e.param.as_deref()), (400, Some(field)), "{e}");
    }
    assert!(
        err(json!({"model": "m", "input": "hi", "previous_response_id": "r"}))
            .message
            .contains("full conversation in `input`")
    );
    for tool in [
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "mcp",
        "image_generation",
    ] {
        let e = err(
            json!({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}, {"type": tool}]}),
        );
        assert_eq!(e.param.as_deref(), Some("tools[1].type"));
        assert!(e.message.contains(&format!("`{tool}`")), "{e}");
    }
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        (json!({"model": "m"}), "input"),
        (json!({"model": "m", "input": []}), "input"),
        (json!({"model": "m", "input": 3}), "input"),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [{"type": "web_search_call"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "x"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
            "input[0].content[0].file_id",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]}),
            "input[0].content[0].file_id",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_data": "data:text/plain;base64,@@"}]}]}),
            "input[0].content[0].file_data",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}]}),
            "input[0].arguments",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}),
            "input[0].call_id",
        ),
        (
            json!({"model": "m", "input": "hi", "tool_choice": {"type": "function", "name": "nope"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": "m", "input": "hi", "tool_choice": {"type": "file_search"}}),
            "tool_choice.type",
        ),
        (
            json!({"model": "m", "input": "hi", "text": {"format": {"type": "yaml"}}}),
            "text.format.type",
        ),
        (
            json!({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "schema": {}}}}),
            "text.format.name",
        ),
        (
            json!({"model": "m", "input": "hi", "reasoning": {"effort": "huge"}}),
            "reasoning.effort",
        ),
        (
            json!({"model": "m", "input": "hi", "max_output_tokens": 0}),
            "max_output_tokens",
        ),
        (
            json!({"model": "m", "input": "hi", "store": "yes"}),
            "store",
        ),
        (
            json!({"model": "m", "input": "hi", "include": "reasoning.encrypted_content"}),
            "include",
        ),
        (
            json!({"model": "m", "input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "summary": [], "encrypted_content": "tampered!"}
            ]}),
            "input[1].encrypted_content",
        ),
    ];
    for (body, param) in cases {
        let e = err(body.clone());
        assert_eq!(
            (e.status, e.param.as_deref()),
            (400, Some(param)),
            "{body}: {e}"
        );
    }
}

#[test]
fn reasoning_items_carry_their_sealed_block_or_are_reported_dropped() {
    use crate::openai::chat::ThinkingBlock;
    let block = ThinkingBlock::Thinking {
        thinking: "hm".into(),
        signature: Some("c2ln".into()),
    };
    let r = parse(
        json!({"model": "m", "include": ["reasoning.encrypted_content"], "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}],
             "encrypted_content": seal_reasoning(&block)},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": null}
        ]}),
    );
    assert!(r.encrypted_reasoning);
    assert_eq!(r.input[1], InputItem::Reasoning(Some(block)));
    assert_eq!(r.input[2], InputItem::Reasoning(None));
    assert_eq!(r.ignored, [DROPPED_REASONING]);
    let r = parse(json!({"model": "m", "input": "hi"}));
    assert!(!r.encrypted_reasoning && r.ignored.is_empty());
}

#[test]
fn web_search_is_dropped_and_reported() {
    let r = ResponsesRequest::parse(
        json!({"model": "m", "input": "hi", "tools": [
            {"type": "web_search", "external_web_access": false},
            {"type": "function", "name": "f"},
            {"type": "web_search_preview"}, {"type": "web_search"}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.ignored, ["tools.web_search", "tools.web_search_preview"]);
    assert_eq!(r.echo.0["tools"].as_array().unwrap().len(), 1);
}

fn codex_like_tools() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
         "tools": [
            {"type": "function", "name": "close_agent", "strict": false,
             "parameters": {"type": "object", "properties": {"target": {"type": "string"}}}},
            {"type": "function", "name": "send_input", "description": "Send."}]}
    ])
}

#[test]
fn namespace_tools_are_flattened_and_echoed_as_sent() {
    let r = ResponsesRequest::parse(
        json!({"model": "m", "input": "hi", "tools": codex_like_tools(),
               "tool_choice": {"type": "function", "name": "multi_agent_v1__send_input"}})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "multi_agent_v1__close_agent",
            "multi_agent_v1__send_input"
        ]
    );
    let echoed = &r.echo.0["tools"][1];
    assert_eq!(echoed["type"], "namespace");
    assert_eq!(echoed["name"], "multi_agent_v1");
    assert_eq!(echoed["tools"][0]["name"], "close_agent");
    assert_eq!(
        r.echo.split_tool_name("multi_agent_v1__close_agent"),
        (Some("multi_agent_v1".into()), "close_agent".into())
    );
    // Not produced by a namespace: returned whole.
    assert_eq!(
        r.echo.split_tool_name("exec_command"),
        (None, "exec_command".into())
    );
    assert_eq!(
        r.echo.split_tool_name("multi_agent_v1__nope"),
        (None, "multi_agent_v1__nope".into())
    );
}

#[test]
fn namespaced_calls_in_the_input_join_their_names() {
    let r = ResponsesRequest::parse(
        json!({"model": "m", "tools": codex_like_tools(), "input": [
            {"role": "user", "content": "hi"},
            {"type": "function_call", "call_id": "c1", "namespace": "multi_agent_v1",
             "name": "close_agent", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "namespace": "multi_agent_v1",
             "output": "closed"}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert!(
        matches!(&r.input[1], InputItem::FunctionCall { name, .. } if name == "multi_agent_v1__close_agent")
    );
}

#[test]
fn bad_namespaces_name_the_field() {
    let cases = [
        (
            json!([{"type": "namespace", "name": "a b", "tools": [{"type": "function", "name": "f"}]}]),
            "tools[0].name",
        ),
        (
            json!([{"type": "namespace", "name": "ns", "tools": []}]),
            "tools[0].tools",
        ),
        (
            json!([{"type": "namespace", "name": "ns"}]),
            "tools[0].tools",
        ),
        (
            json!([{"type": "namespace", "name": "ns", "tools": [{"type": "custom", "name": "f"}]}]),
            "tools[0].tools[0].type",
        ),
        (
            json!([{"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "f!"}]}]),
            "tools[0].tools[0].name",
        ),
        // Collides with a flat tool of the same wire name.
        (
            json!([{"type": "function", "name": "ns__f"},
                {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "f"}]}]),
            "tools[1].tools[0].name",
        ),
        // Too long once joined (30 + 2 + 40 > 64).
        (
            json!([{"type": "namespace", "name": "n".repeat(30), "tools": [{"type": "function", "name": "f".repeat(40)}]}]),
            "tools[0].tools[0].name",
        ),
    ];
    for (tools, param) in cases {
        let e = err(json!({"model": "m", "input": "hi", "tools": tools}));
        assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{e}");
    }
    let e = err(
        json!({"model": "m", "input": [{"type": "function_call", "call_id": "c",
        "namespace": "a b", "name": "f", "arguments": "{}"}]}),
    );
    assert_eq!(e.param.as_deref(), Some("input[0].namespace"));
}
