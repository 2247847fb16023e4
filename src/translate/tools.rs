//! Tool plumbing shared by both directions: the synthetic tool that carries JSON answers,
//! tool-call ids made acceptable to Bedrock, and how a response must be read back.

/// The tool the forced-tool fallback for `response_format` adds; its input is the answer.
pub const JSON_TOOL: &str = "json_response";

/// How the model's answer is turned back into OpenAI's terms, decided at request time and
/// carried to the response phase (unary and stream alike).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputMode {
    /// A `toolUse` of this name is the JSON answer: its input becomes `content`, and a
    /// `tool_use` stop becomes `stop` unless a real tool was called too.
    pub json_tool: Option<String>,
    /// `tool_choice: "none"` with tools in the history: any other tool call the model still
    /// makes is dropped, so the client never sees one.
    pub drop_tool_calls: bool,
    /// The request used legacy function calling (`functions` / `function_call`): a tool call
    /// is answered as the legacy `function_call` (message and stream deltas) with
    /// `finish_reason: "function_call"`. That form holds one call: only the first client tool
    /// call of an answer is kept, any further one is dropped.
    pub legacy_functions: bool,
}

impl OutputMode {
    /// Whether a `toolUse` named `name` is forwarded to the client as a tool call.
    pub(crate) fn is_client_tool(&self, name: &str) -> bool {
        !self.drop_tool_calls && !self.is_json_tool(name)
    }

    pub(crate) fn is_json_tool(&self, name: &str) -> bool {
        self.json_tool.as_deref() == Some(name)
    }

    /// The client's `finish_reason` for a `tool_use` stop (`tool_calls`), given whether a
    /// tool call reached the client: `stop` when every call was the JSON answer or dropped,
    /// `function_call` in the legacy form.
    pub(crate) fn tool_finish(&self, reason: &'static str, client_calls: bool) -> &'static str {
        match reason {
            "tool_calls" if !client_calls => "stop",
            "tool_calls" if self.legacy_functions => "function_call",
            other => other,
        }
    }
}

/// Bedrock's `ToolUseId` is `[a-zA-Z0-9_.:-]+`, at most 64 characters; OpenAI's ids
/// (`call_…`) already are. Anything else is mapped the same way for the `toolUse` and the
/// `toolResult` that answers it, so they still pair up.
pub fn bedrock_tool_id(id: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if !id.is_empty() && id.len() <= 64 && id.chars().all(ok) {
        return id.to_string();
    }
    let mut out: String = id
        .chars()
        .map(|c| if ok(c) { c } else { '_' })
        .collect::<String>();
    if out.len() > 64 || out.is_empty() {
        // Keep it unique: a short hash of the whole id after a prefix.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let prefix: String = out.chars().take(40).collect();
        out = format!("{prefix}_{hash:016x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_ids_fit_bedrock_pattern() {
        assert_eq!(bedrock_tool_id("call_abc123"), "call_abc123");
        assert_eq!(bedrock_tool_id("toolu_01.A:b-c"), "toolu_01.A:b-c");
        assert_eq!(bedrock_tool_id("call abc/é"), "call_abc__");
        let long = "x".repeat(100);
        let a = bedrock_tool_id(&long);
        assert!(a.len() <= 64, "{a}");
        assert_ne!(a, bedrock_tool_id(&"x".repeat(101)));
    }

    #[test]
    fn output_mode_decides_which_tools_reach_the_client() {
        let m = OutputMode {
            json_tool: Some(JSON_TOOL.into()),
            ..OutputMode::default()
        };
        assert!(m.is_client_tool("get_weather"));
        assert!(!m.is_client_tool(JSON_TOOL));
        let none = OutputMode {
            drop_tool_calls: true,
            ..OutputMode::default()
        };
        assert!(!none.is_client_tool("get_weather"));
    }

    #[test]
    fn tool_finish_reasons() {
        let current = OutputMode::default();
        let legacy = OutputMode {
            legacy_functions: true,
            ..OutputMode::default()
        };
        assert_eq!(current.tool_finish("tool_calls", true), "tool_calls");
        assert_eq!(current.tool_finish("tool_calls", false), "stop");
        assert_eq!(legacy.tool_finish("tool_calls", true), "function_call");
        assert_eq!(legacy.tool_finish("tool_calls", false), "stop");
        assert_eq!(legacy.tool_finish("length", true), "length");
    }
}
