//! `POST /v1/chat/completions`: the request as we accept it and the unary response
//! (OpenAPI `CreateChatCompletionRequest` / `CreateChatCompletionResponse`).
//!
//! The request is read by hand rather than derived, so that every rejection names the exact
//! field (`messages[2].content`) in the OpenAI error's `param`. `raw` reads the body in one
//! pass: the fields as `serde_json::Value`s, except the messages' texts, which stay the
//! client's JSON string tokens borrowed from the body (`converse::text::Text`) all the way
//! into the Converse body. [`ChatRequest::parse`] then reads the fields in order; each group
//! lives in its own module:
//! `types` (the result), `messages` (the conversation), `image` (`data:` and `s3://` URLs), `file` (documents), `tools`
//! (tool definitions and choice) and `params` (the other parameters and the ignored ones).
//! The typed field readers shared with `/v1/completions` are in `crate::openai::json`.

mod cache;
mod file;
mod guardrail;
mod image;
mod media;
mod messages;
mod params;
mod raw;
mod thinking;
mod tools;
mod types;

/// The chat parsers `/v1/responses` reuses for the same parts in another envelope.
pub(crate) use file::parse_file_part;
pub(crate) use image::parse_image_url;
pub use media::valid_bucket;
pub use messages::legacy_call_id;
pub(crate) use params::{
    parse_metadata, parse_reasoning_effort, parse_response_format, reportable as reportable_ignored,
};
pub(crate) use thinking::parse_block as parse_thinking_block;
pub(crate) use tools::parse_function_def;
pub use tools::valid_tool_name;
pub use types::{
    CacheMark, CacheRequest, CacheTtl, ChatCompletion, ChatRequest, Choice, ContentPart, Document,
    Guarded, Image, MediaSource, Message, ReasoningEffort, ResponseFormat, ResponseFunction,
    ResponseMessage, ResponseToolCall, Role, S3Object, ThinkingBlock, Tool, ToolCall, ToolChoice,
};

use crate::catalog::models::Provider;
use crate::error::ApiError;
use crate::openai::json::{
    include_usage, opt_bool, opt_number, opt_string, opt_u32, required_model,
};

impl<'a> ChatRequest<'a> {
    /// Parses and validates a request body; every failure is a 400 naming its field. The
    /// messages' texts are borrowed from `body` (see `raw`).
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let raw::Body { obj, messages } = raw::Body::read(body)?;
        let model = required_model(&obj)?;
        let bedrock_model = opt_string(&obj, "bedrock_model")?.filter(|s| !s.trim().is_empty());
        if let Some(id) = &bedrock_model {
            crate::catalog::model_id::check_bedrock_id("bedrock_model", id)?;
        }
        let model_provider = match opt_string(&obj, "model_provider")? {
            None => None,
            Some(p) => Some(Provider::from_name(&p).ok_or_else(|| {
                ApiError::invalid_param(
                    "model_provider",
                    format!("unknown model_provider `{p}`: expected anthropic, amazon, meta, mistral, cohere, deepseek, openai or other"),
                )
            })?),
        };
        let messages = messages::parse_messages(messages)?;
        let stream = opt_bool(&obj, "stream")?.unwrap_or(false);
        let include_usage = include_usage(&obj)?;
        let max_tokens = match opt_u32(&obj, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => opt_u32(&obj, "max_tokens")?,
        };
        let temperature = opt_number(&obj, "temperature", 0.0, 2.0)?;
        let top_p = opt_number(&obj, "top_p", 0.0, 1.0)?;
        let stop = params::parse_stop(&obj)?;
        let (tools, tool_choice, legacy_functions) = tools::parse_tools_and_choice(&obj)?;
        let response_format = params::parse_response_format(&obj)?;
        let reasoning_effort = params::parse_reasoning_effort(&obj)?;
        let thinking = params::parse_thinking(&obj)?;
        let user = opt_string(&obj, "user")?;
        let metadata = params::parse_metadata(&obj)?;
        let service_tier = opt_string(&obj, "service_tier")?;
        let guardrail_config = guardrail::parse_guardrail_config(&obj)?;
        let prompt_cache = cache::request(&obj)?;
        params::refuse_unsupported_outputs(&obj)?;
        let ignored = params::ignored_params(&obj);
        Ok(Self {
            model,
            bedrock_model,
            model_provider,
            messages,
            stream,
            include_usage,
            max_tokens,
            temperature,
            top_p,
            stop,
            tools,
            tool_choice,
            legacy_functions,
            response_format,
            reasoning_effort,
            thinking,
            user,
            metadata,
            service_tier,
            guardrail_config,
            prompt_cache,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::params::MAX_IGNORED_REPORTED;
    use super::*;
    use serde_json::{json, Value};

    fn err(body: &str) -> ApiError {
        ChatRequest::parse(body.as_bytes()).unwrap_err()
    }

    fn parse(v: Value) -> ChatRequest<'static> {
        ChatRequest::parse(v.to_string().as_bytes())
            .unwrap()
            .into_owned()
    }

    fn text(s: &str) -> ContentPart<'_> {
        ContentPart::Text(s.into())
    }

    /// A 1×1 transparent PNG.
    pub(crate) const PNG_1X1: &str =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    #[test]
    fn parses_the_common_request() {
        let r = ChatRequest::parse(
            br#"{"model":"m","messages":[{"role":"system","content":"s"},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                "stream":true,"stream_options":{"include_usage":true},"max_tokens":5,
                "max_completion_tokens":7,"temperature":0.5,"top_p":0.9,"stop":"END"}"#,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(
            r.messages[0],
            Message {
                role: Role::System,
                content: vec![text("s")],
                tool_calls: vec![],
                tool_call_id: None,
                legacy: false,
                thinking: Vec::new(),
                cache: vec![],
            }
        );
        assert_eq!(r.messages[1].content, vec![text("a"), text("b")]);
        assert!(r.stream && r.include_usage);
        assert_eq!(r.max_tokens, Some(7));
        assert_eq!((r.temperature, r.top_p), (Some(0.5), Some(0.9)));
        assert_eq!(r.stop, vec!["END"]);
        assert!(r.ignored.is_empty());
        assert_eq!(r.response_format, ResponseFormat::Text);
    }

    #[test]
    fn parses_tools_tool_calls_and_tool_messages() {
        let r = parse(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]}
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "get_time"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}}
        }));
        assert_eq!(r.tools.len(), 2);
        assert!(r.tools[0].strict);
        assert_eq!(
            r.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Function("get_time".into())));
        let calls = &r.messages[1].tool_calls;
        assert_eq!(calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(calls[1].arguments, json!({}));
        assert_eq!(r.messages[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(r.messages[3].content, vec![text("noon")]);
    }

    #[test]
    fn parses_images_json_modes_reasoning_and_extensions() {
        let r = parse(json!({
            "model": "m",
            "bedrock_model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "model_provider": "anthropic",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                // Declared jpeg, bytes are PNG: the bytes win. Padding stripped: still accepted.
                {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{}", PNG_1X1.trim_end_matches('=')), "detail": "low"}}
            ]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
            "reasoning_effort": "high",
            "user": "u-1",
            "metadata": {"team": "a"},
            "service_tier": "flex"
        }));
        assert_eq!(
            r.bedrock_model.as_deref(),
            Some("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        );
        assert_eq!(r.model_provider, Some(Provider::Anthropic));
        let ContentPart::Image(img) = &r.messages[0].content[1] else {
            panic!("not an image")
        };
        assert_eq!(
            (img.format, &img.source),
            ("png", &MediaSource::Base64(PNG_1X1.into()))
        );
        assert!(matches!(
            r.response_format,
            ResponseFormat::JsonSchema { strict: true, .. }
        ));
        assert_eq!(r.reasoning_effort, Some(ReasoningEffort::High));
        assert_eq!(r.user.as_deref(), Some("u-1"));
        assert_eq!(r.metadata, vec![("team".into(), "a".into())]);
        assert_eq!(r.service_tier.as_deref(), Some("flex"));
    }

    /// More rejections, with their messages, are cases of `tests/fixtures/openai/chat/`.
    #[test]
    fn rejections_name_their_field() {
        let user = r#"[{"role":"user","content":"x"}]"#;
        let with = |extra: &str| format!(r#"{{"model":"m","messages":{user},{extra}}}"#);
        let msgs = |m: &str| format!(r#"{{"model":"m","messages":{m}}}"#);
        let call = |args: &str| {
            msgs(&format!(
                r#"[{{"role":"user","content":"x"}},{{"role":"assistant","tool_calls":[{{"id":"c1","type":"function","function":{{"name":"f","arguments":{args}}}}}]}}]"#
            ))
        };
        let cases: Vec<(String, Option<&str>)> = vec![
            (r#"{"model":5,"messages":[]}"#.into(), Some("model")),
            (r#"{"model":"m"}"#.into(), Some("messages")),
            (r#"{"model":"m","messages":"hi"}"#.into(), Some("messages")),
            (
                msgs(r#"[{"role":"wizard","content":"x"}]"#),
                Some("messages[0].role"),
            ),
            (
                msgs(r#"[{"role":"function","content":"x"}]"#),
                Some("messages[0].name"),
            ),
            (
                msgs(r#"[{"role":"user","content":7}]"#),
                Some("messages[0].content"),
            ),
            (msgs(r#"[{"role":"user"}]"#), Some("messages[0].content")),
            (
                msgs(r#"[{"role":"user","content":[{"type":"text"}]}]"#),
                Some("messages[0].content[0].text"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"text":"x"}]}]"#),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]"#),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(
                    r#"[{"role":"system","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]"#,
                ),
                Some("messages[0].content[0].type"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]"#,
                ),
                Some("messages[0].content[0].image_url"),
            ),
            (
                msgs(r#"[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]"#),
                Some("messages[0].content[0].image_url.url"),
            ),
            (
                call(r#""{not json""#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                call(r#""[1,2]""#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                call(r#"{"a":1}"#),
                Some("messages[1].tool_calls[0].function.arguments"),
            ),
            (
                msgs(
                    r#"[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]"#,
                ),
                Some("messages[0].tool_calls[0].id"),
            ),
            (
                msgs(r#"[{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}]"#),
                Some("messages[0].tool_calls[0].function"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x","tool_calls":[]}]"#),
                Some("messages[0].tool_calls"),
            ),
            (
                msgs(r#"[{"role":"tool","content":"x"}]"#),
                Some("messages[0].tool_call_id"),
            ),
            (with(r#""stream":"yes""#), Some("stream")),
            (with(r#""max_tokens":0"#), Some("max_tokens")),
            (
                with(r#""stream_options":{"include_usage":1}"#),
                Some("stream_options.include_usage"),
            ),
            (with(r#""tools":{}"#), Some("tools")),
            (
                with(r#""tools":[{"type":"web_search"}]"#),
                Some("tools[0].type"),
            ),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]"#,
                ),
                Some("tools[1].function.name"),
            ),
            (
                with(r#""tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]"#),
                Some("tools[0].function.parameters"),
            ),
            (with(r#""tool_choice":"sometimes""#), Some("tool_choice")),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}"#,
                ),
                Some("tool_choice"),
            ),
            (
                with(r#""response_format":{"type":"json_schema"}"#),
                Some("response_format.json_schema"),
            ),
            (
                with(r#""response_format":{"type":"json_schema","json_schema":{"schema":{}}}"#),
                Some("response_format.json_schema.name"),
            ),
            (
                with(
                    r#""response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[]}}"#,
                ),
                Some("response_format.json_schema.schema"),
            ),
            (with(r#""thinking":true"#), Some("thinking")),
            (with(r#""metadata":{"a":1}"#), Some("metadata.a")),
            (with(r#""user":5"#), Some("user")),
            (with(r#""n":0"#), Some("n")),
            (with(r#""functions":[]"#), Some("functions")),
            (with(r#""functions":{}"#), Some("functions")),
            (with(r#""functions":["f"]"#), Some("functions[0]")),
            (
                with(r#""functions":[{"name":"bad name"}]"#),
                Some("functions[0].name"),
            ),
            (
                with(r#""functions":[{"name":"f"},{"name":"f"}]"#),
                Some("functions[1].name"),
            ),
            (
                with(r#""functions":[{"name":"f","parameters":[]}]"#),
                Some("functions[0].parameters"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":"required""#),
                Some("function_call"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":{"name":"g"}"#),
                Some("function_call"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"function_call":{}"#),
                Some("function_call"),
            ),
            (
                with(r#""function_call":{"name":"f"}"#),
                Some("function_call"),
            ),
            (
                with(
                    r#""functions":[{"name":"f"}],"tools":[{"type":"function","function":{"name":"g"}}]"#,
                ),
                Some("functions"),
            ),
            (
                with(r#""functions":[{"name":"f"}],"tool_choice":"auto""#),
                Some("functions"),
            ),
            (
                with(
                    r#""tools":[{"type":"function","function":{"name":"g"}}],"function_call":"auto""#,
                ),
                Some("function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f","arguments":"{oops"}}]"#,
                ),
                Some("messages[1].function_call.arguments"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"arguments":"{}"}}]"#,
                ),
                Some("messages[1].function_call.name"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":"f"}]"#),
                Some("messages[1].function_call"),
            ),
            (
                msgs(r#"[{"role":"user","content":"x","function_call":{"name":"f"}}]"#),
                Some("messages[0].function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f"}}],"function_call":{"name":"f"}}]"#,
                ),
                Some("messages[1].function_call"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"g","content":"r"}]"#,
                ),
                Some("messages[2].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"f","content":"r"},{"role":"function","name":"f","content":"again"}]"#,
                ),
                Some("messages[3].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"user","content":"y"},{"role":"function","name":"f","content":"late"}]"#,
                ),
                Some("messages[3].name"),
            ),
            (
                msgs(
                    r#"[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f"}},{"role":"function","name":"f","content":{"a":1}}]"#,
                ),
                Some("messages[2].content"),
            ),
            (with(r#""modalities":["text","audio"]"#), Some("modalities")),
            (with(r#""model_provider":"acme""#), Some("model_provider")),
            ("[1]".into(), None),
        ];
        for (body, param) in cases {
            let e = err(&body);
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.param.as_deref(), param, "{body}: {}", e.message);
        }
    }

    #[test]
    fn legacy_functions_parse_into_tools() {
        let r = parse(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "functions": [
                {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "get_time"}
            ],
            "function_call": {"name": "get_time"}
        }));
        assert!(r.legacy_functions);
        assert_eq!(
            r.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["get_weather", "get_time"]
        );
        assert_eq!(r.tools[0].description.as_deref(), Some("Weather"));
        assert_eq!(
            r.tools[1].parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(r.tool_choice, Some(ToolChoice::Function("get_time".into())));
        assert!(r.ignored.is_empty(), "{:?}", r.ignored);
        for (choice, want) in [("none", ToolChoice::None), ("auto", ToolChoice::Auto)] {
            let r = parse(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "functions": [{"name": "f"}], "function_call": choice}),
            );
            assert_eq!(r.tool_choice, Some(want));
        }
        // `function_call` alone is legacy too; `functions: null` is not.
        let r = parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "function_call": "none"}),
        );
        assert!(r.legacy_functions && r.tools.is_empty());
        let r = parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "functions": null, "function_call": null, "tools": [{"type": "function", "function": {"name": "f"}}]}),
        );
        assert!(!r.legacy_functions);
        assert_eq!(r.tools.len(), 1);
    }

    #[test]
    fn legacy_function_history_becomes_tool_calls_with_stable_ids() {
        let r = parse(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"role": "function", "name": "get_weather", "content": "{\"temp\":21}"},
                {"role": "assistant", "content": "Checking the time too.", "function_call": {"name": "get_time", "arguments": ""}},
                {"role": "function", "name": "get_time", "content": null},
                {"role": "user", "content": "thanks"}
            ],
            "functions": [{"name": "get_weather"}, {"name": "get_time"}]
        }));
        let m = &r.messages;
        assert_eq!(
            m[1].tool_calls,
            vec![ToolCall {
                id: "call_1_get_weather".into(),
                name: "get_weather".into(),
                arguments: json!({"city": "Paris"}),
            }]
        );
        assert_eq!(m[2].role, Role::Tool);
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1_get_weather"));
        assert_eq!(m[2].content, vec![text("{\"temp\":21}")]);
        assert_eq!(m[3].content, vec![text("Checking the time too.")]);
        assert_eq!(m[3].tool_calls[0].id, "call_3_get_time");
        assert_eq!(m[3].tool_calls[0].arguments, json!({}));
        assert_eq!(m[4].tool_call_id.as_deref(), Some("call_3_get_time"));
        assert!(m[4].content.is_empty());
        // Same history, same ids: the ids depend on the turn and the name only.
        assert_eq!(legacy_call_id(1, "get_weather"), m[1].tool_calls[0].id,);
    }

    #[test]
    fn ignored_names_are_reported_only_when_plain_and_few() {
        let mut fields = vec![r#""seed":1"#.to_string(), r#""a\r\nb":1"#.to_string()];
        fields.extend((0..20).map(|i| format!(r#""x{i}":1"#)));
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],{}}}"#,
            fields.join(",")
        );
        let r = ChatRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(r.ignored.len(), MAX_IGNORED_REPORTED + 1);
        assert!(r.ignored.contains(&"seed".to_string()));
        assert_eq!(r.ignored.last().map(String::as_str), Some("(6 more)"));
        assert!(r.ignored.iter().all(|n| !n.contains('\r')));
    }
}
