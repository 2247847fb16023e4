//! Bedrock `stopReason` → OpenAI `finish_reason`, shared by unary and streaming responses.

/// What a Converse stop reason means for the OpenAI client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A normal OpenAI `finish_reason` value.
    Reason(&'static str),
    /// The model produced something unusable (`malformed_model_output`,
    /// `malformed_tool_use`): answered as an upstream error, never as a silent empty answer.
    Error,
}

/// Maps Bedrock's `StopReason` enum (botocore `shapes.StopReason`). Unknown future values
/// become `stop` rather than failing a finished answer.
pub fn finish_reason(stop_reason: &str) -> Finish {
    match stop_reason {
        "end_turn" | "stop_sequence" => Finish::Reason("stop"),
        "max_tokens" | "model_context_window_exceeded" => Finish::Reason("length"),
        "tool_use" => Finish::Reason("tool_calls"),
        "guardrail_intervened" | "content_filtered" => Finish::Reason("content_filter"),
        "malformed_model_output" | "malformed_tool_use" => Finish::Error,
        _ => Finish::Reason("stop"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_botocore_stop_reason() {
        let model = crate::test_support::botocore_model();
        let values = model["shapes"]["StopReason"]["enum"].as_array().unwrap();
        assert!(values.len() >= 6);
        for v in values {
            let v = v.as_str().unwrap();
            let got = finish_reason(v);
            let want = match v {
                "end_turn" | "stop_sequence" => Finish::Reason("stop"),
                "max_tokens" | "model_context_window_exceeded" => Finish::Reason("length"),
                "tool_use" => Finish::Reason("tool_calls"),
                "guardrail_intervened" | "content_filtered" => Finish::Reason("content_filter"),
                "malformed_model_output" | "malformed_tool_use" => Finish::Error,
                other => panic!("new StopReason {other}: decide its mapping"),
            };
            assert_eq!(got, want, "{v}");
        }
    }
}
