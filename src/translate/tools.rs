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
}

impl OutputMode {
    /// Whether a `toolUse` named `name` is forwarded to the client as a tool call.
    pub fn is_client_tool(&self, name: &str) -> bool {
        !self.drop_tool_calls && !self.is_json_tool(name)
    }

    pub fn is_json_tool(&self, name: &str) -> bool {
        self.json_tool.as_deref() == Some(name)
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
            drop_tool_calls: false,
        };
        assert!(m.is_client_tool("get_weather"));
        assert!(!m.is_client_tool(JSON_TOOL));
        let none = OutputMode {
            json_tool: None,
            drop_tool_calls: true,
        };
        assert!(!none.is_client_tool("get_weather"));
    }
}
