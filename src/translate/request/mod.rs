//! OpenAI chat request → Converse request body.
//!
//! Bedrock is stricter than OpenAI about conversation shape (user first, roles alternating,
//! no blank text, tool results right after the tool calls), so the OpenAI message list is
//! normalised here rather than rejected upstream. Every parameter Bedrock cannot honour is
//! either mapped, reported in [`Translation::ignored`], or was refused with a 400 while
//! parsing (see docs/parameters.md).
//!
//! [`to_converse_request`] runs the parts in order, each in its own module: the
//! conversation (`messages`), reasoning, sampling (`inferenceConfig`), tools
//! (`tool_config`), JSON mode (`response_format`), then metadata and service tier; reasoning
//! handed back (`thinking`) leads its assistant turn; what each
//! model family accepts is decided in `capabilities`.

mod cache;
mod capabilities;
mod document;
mod messages;
mod metadata;
mod reasoning;
mod response_format;
mod sampling;
mod thinking;
mod tool_config;

pub use cache::{AutoCache, CachePositions};
pub use capabilities::native_structured_output;
pub use document::{document_name, S3Access};
pub use messages::{is_blank, EMPTY_TOOL_RESULT, LEADING_USER_PLACEHOLDER};
pub use reasoning::thinking_budget;

use serde_json::Value;

use crate::catalog::caching::{self, PromptCaching};
use crate::catalog::content::{self, ContentSupport};
use crate::catalog::models::Provider;
use crate::converse::request::{
    ContentBlock, ConversationRole, ConverseRequest, InferenceConfig, Message,
};
use crate::error::ApiError;
use crate::openai::chat::ChatRequest;
use crate::openai::completion::CompletionRequest;
use crate::translate::tools::OutputMode;

/// The model a request goes to, as far as translation cares.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub model_id: &'a str,
    pub provider: Provider,
    /// The model's prompt caching (from the catalog), `None` without.
    pub caching: Option<PromptCaching>,
    /// The cache points the gateway adds by itself for this tenant and model.
    pub auto: AutoCache,
    /// Documents, citations, S3 sources and tool-result images the model takes.
    pub content: ContentSupport,
    /// The S3 buckets the caller may name.
    pub s3: &'a S3Access,
}

/// No S3 bucket at all: callers without a tenant's allow-list.
static NO_S3: S3Access = S3Access::EMPTY;

impl<'a> Target<'a> {
    /// A model outside the catalog: caching read from the id, no automatic cache points.
    pub fn new(model_id: &'a str, provider: Provider) -> Self {
        Self {
            model_id,
            provider,
            caching: caching::infer(model_id),
            auto: AutoCache::default(),
            content: content::infer(model_id),
            s3: &NO_S3,
        }
    }
}

/// The translated request and what the response phase needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation<'a> {
    /// Borrows the client's texts from the request body.
    pub body: ConverseRequest<'a>,
    /// Parameters accepted but not honoured (sorted names, parse-time ones first).
    pub ignored: Vec<String>,
    pub output: OutputMode,
}

/// Names of parameters accepted but not honoured, in the order first reported, each once.
struct Ignored(Vec<String>);

impl Ignored {
    fn add(&mut self, name: &str) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.to_string());
        }
    }
}

/// Builds the Converse body for `req` sent to `target`.
pub fn to_converse_request<'a>(
    req: &ChatRequest<'a>,
    target: Target<'_>,
) -> Result<Translation<'a>, ApiError> {
    let mut ignored = Ignored(req.ignored.clone());
    let reasoning_back = thinking::taken_back(target);
    if !reasoning_back && thinking::any(req) {
        ignored.add("thinking_blocks");
    }
    let mut media = document::Media::new(target.content, target.s3);
    let (mut system, mut messages) = messages::to_messages(req, reasoning_back, &mut media)?;
    let reasoning = reasoning::reasoning(req, target, &mut ignored);
    let anthropic_thinking =
        reasoning.budget_tokens.is_some() && target.provider == Provider::Anthropic;
    let inference = sampling::inference_config(
        req,
        target,
        reasoning.budget_tokens,
        anthropic_thinking,
        &mut ignored,
    );
    let (mut tools, mut output) = tool_config::plan(req, target, &messages);
    let output_config =
        response_format::json_output(req, target, &mut tools, &mut system, &mut output)?;
    let tool_config = tool_config::finish(
        tools,
        req,
        anthropic_thinking,
        &output,
        &mut system,
        &mut ignored,
    );
    let request_metadata = metadata::request_metadata(req, &mut ignored);
    // Without a tenant's policy; `translate::policy::apply` decides again with it.
    let tier = crate::translate::service_tier::choose(
        req.service_tier.as_deref(),
        &Default::default(),
        target.model_id,
    )?;
    messages::ensure_user_first(&mut messages);
    let additional = reasoning.additional;
    let mut body = ConverseRequest {
        messages,
        system,
        inference_config: (!inference.is_empty()).then_some(inference),
        tool_config,
        additional_model_request_fields: (!additional.is_empty())
            .then_some(Value::Object(additional)),
        request_metadata,
        output_config,
        service_tier: tier.service_tier,
        performance_config: tier.performance_config,
        guardrail_config: None,
    };
    cache::settle(&mut body, target, &req.prompt_cache, &mut ignored);
    Ok(Translation {
        body,
        ignored: ignored.0,
        output,
    })
}

/// Legacy completion → Converse: the prompt is the one user turn.
pub fn completion_to_converse(
    req: &CompletionRequest,
) -> Result<ConverseRequest<'static>, ApiError> {
    let inference = InferenceConfig {
        max_tokens: Some(req.max_tokens),
        temperature: sampling::temperature(req.temperature),
        top_p: req.top_p,
        stop_sequences: sampling::stop_sequences(&req.stop),
    };
    Ok(ConverseRequest {
        messages: vec![Message {
            role: ConversationRole::User,
            content: vec![ContentBlock::Text(req.prompt.clone().into())],
        }],
        system: Vec::new(),
        inference_config: Some(inference),
        tool_config: None,
        additional_model_request_fields: None,
        request_metadata: Default::default(),
        output_config: None,
        service_tier: None,
        performance_config: None,
        guardrail_config: None,
    })
}

#[cfg(test)]
mod tests {
    //! The translation's cases are data: `tests/fixtures/openai/chat/` and `completions/`, run
    //! by `tests/translation_fixtures.rs`. What stays here: helpers, and every feature at once.
    use super::messages::tool_result_content;
    use super::*;
    use crate::converse::request::ToolResultContentBlock;
    use crate::openai::chat::{ChatRequest, ContentPart};
    use serde_json::json;

    mod cache_cases;

    const CLAUDE_35: &str = "us.anthropic.claude-3-5-sonnet-20241022-v2:0";
    const CLAUDE_37: &str = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
    const NOVA_PRO: &str = "amazon.nova-pro-v1:0";
    const SONNET_45: &str = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    const NOVA_2: &str = "us.amazon.nova-2-lite-v1:0";
    const LLAMA: &str = "us.meta.llama3-3-70b-instruct-v1:0";
    const GPT_OSS: &str = "openai.gpt-oss-120b-1:0";
    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    /// Translates `body` for `model` and checks the result against botocore's model.
    fn translate(model: &str, body: Value) -> Value {
        let body = body.to_string();
        let req = ChatRequest::parse(body.as_bytes()).unwrap();
        let t = to_converse_request(&req, Target::new(model, Provider::infer(model))).unwrap();
        let v = serde_json::to_value(&t.body).unwrap();
        crate::test_support::check_converse_request(&v).unwrap_or_else(|e| panic!("{e}: {v}"));
        v
    }

    #[test]
    fn information_separators_are_blank_and_empty_tool_results_get_a_text() {
        assert!(is_blank("\u{1f}\u{1e} \t"));
        assert!(!is_blank("\u{1c}x"));
        assert_eq!(
            tool_result_content(&[ContentPart::Text("\u{1c}".into())]),
            ToolResultContentBlock::Text(EMPTY_TOOL_RESULT.into())
        );
    }

    #[test]
    fn tenant_tiers_and_guardrails_validate_against_botocore() {
        use crate::converse::guardrail::{GuardrailTrace, StreamProcessingMode};
        use crate::converse::request::GuardrailConfig;
        use crate::test_support::{botocore_model, check_shape};
        use crate::translate::policy::{apply, Asked, RequestPolicy};
        use crate::translate::service_tier::{Tier, TierPolicy};
        let guardrail = GuardrailConfig {
            guardrail_identifier: "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123".into(),
            guardrail_version: "DRAFT".into(),
            trace: Some(GuardrailTrace::EnabledFull),
            stream_processing_mode: Some(StreamProcessingMode::Async),
        };
        let mut policy = RequestPolicy {
            service_tier: TierPolicy {
                default: Some(Tier::Flex),
                max: Some(Tier::Priority),
            },
            ..RequestPolicy::default()
        };
        policy.guardrails.default = Some(guardrail);
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": [{"type": "text", "text": "be kind", "guard": true}]},
            {"role": "user", "content": [
            {"type": "text", "text": "context", "guard": "grounding_source"},
            {"type": "text", "text": "question", "guard": "query"},
            {"type": "text", "text": "check me", "guard": true}]}], "service_tier": "scale"});
        let model_json = botocore_model();
        let shapes = &model_json["shapes"];
        for (model, stream) in [
            (NOVA_PRO, false),
            (NOVA_PRO, true),
            ("us.anthropic.claude-3-5-haiku-20241022-v1:0", true),
        ] {
            let body = body.to_string();
            let req = ChatRequest::parse(body.as_bytes()).unwrap();
            let mut t =
                to_converse_request(&req, Target::new(model, Provider::infer(model))).unwrap();
            let asked = Asked {
                service_tier: if model == NOVA_PRO {
                    req.service_tier.as_deref()
                } else {
                    Some("priority")
                },
                guardrail: None,
            };
            apply(&policy, asked, &mut t.body, model, stream, &mut t.ignored).unwrap();
            let v = serde_json::to_value(&t.body).unwrap();
            let shape = if stream {
                "ConverseStreamRequest"
            } else {
                "ConverseRequest"
            };
            check_shape(shapes, shape, &v, "$").unwrap_or_else(|e| panic!("{e}: {v}"));
            assert_eq!(v["guardrailConfig"]["trace"], "enabled_full");
            assert_eq!(
                v["guardrailConfig"].get("streamProcessingMode").is_some(),
                stream
            );
            assert_eq!(
                v["messages"][0]["content"][2],
                json!({"guardContent": {"text": {"text": "check me", "qualifiers": ["guard_content"]}}})
            );
            assert_eq!(
                v["system"],
                json!([{"guardContent": {"text": {"text": "be kind", "qualifiers": ["guard_content"]}}}])
            );
            if model == NOVA_PRO {
                // `scale` is above the ceiling: lowered to `priority` and reported.
                assert_eq!(v["serviceTier"], json!({"type": "priority"}));
                assert_eq!(t.ignored, ["service_tier"]);
            } else {
                assert_eq!(v["performanceConfig"], json!({"latency": "optimized"}));
                assert!(v.get("serviceTier").is_none());
            }
        }
        // Unary `GuardrailConfiguration` has no `streamProcessingMode`: the check knows it.
        let bad = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
            "guardrailConfig": {"guardrailIdentifier": "a", "guardrailVersion": "1", "streamProcessingMode": "sync"}});
        assert!(check_shape(shapes, "ConverseRequest", &bad, "$").is_err());
    }

    #[test]
    fn the_botocore_check_refuses_bad_documents_and_s3_locations() {
        // The check the document cases rely on can fail: each of these breaks botocore's model.
        let doc = |block: Value| json!({"messages": [{"role": "user", "content": [{"text": "x"}, {"document": block}]}]});
        let good = json!({"format": "pdf", "name": "a", "source": {"bytes": "AA=="}});
        crate::test_support::check_converse_request(&doc(good)).unwrap();
        let s3 = |uri: &str, owner: &str| json!({"format": "pdf", "name": "a", "source": {"s3Location": {"uri": uri, "bucketOwner": owner}}});
        for bad in [
            json!({"format": "exe", "name": "a", "source": {"bytes": "AA=="}}),
            json!({"format": "pdf", "name": "x".repeat(201), "source": {"bytes": "AA=="}}),
            json!({"format": "pdf", "source": {"bytes": "AA=="}}),
            json!({"format": "pdf", "name": "a", "source": {"bytes": "AA==", "s3Location": {"uri": "s3://bucket-a/x"}}}),
            s3("s3://Bucket_A/x", "123456789012"),
            s3("https://bucket-a/x", "123456789012"),
            s3("s3://bucket-a/x", "1234"),
        ] {
            assert!(
                crate::test_support::check_converse_request(&doc(bad.clone())).is_err(),
                "{bad}"
            );
        }
        crate::test_support::check_converse_request(&doc(s3("s3://bucket-a/x", "123456789012")))
            .unwrap();
    }

    #[test]
    fn every_feature_at_once_still_validates() {
        let weather_tool = json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}});
        let schema_format = json!({"type": "json_schema", "json_schema": {"name": "city", "description": "A city",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false},
            "strict": true}});
        let messages = json!([
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "sunny, 25C"},
            {"role": "user", "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1X1}")}}
            ]}
        ]);
        for model in [CLAUDE_35, SONNET_45, NOVA_2, LLAMA, GPT_OSS] {
            translate(
                model,
                json!({"model": "m", "messages": messages, "tools": [weather_tool],
                       "tool_choice": "auto", "response_format": schema_format,
                       "reasoning_effort": "low", "user": "u", "metadata": {"k": "v"},
                       "service_tier": "flex", "stop": ["END"], "max_tokens": 4000, "temperature": 0.5}),
            );
        }
    }
}
