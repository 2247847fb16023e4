//! Bedrock's Converse request rules, as an oracle: a body the filter sends must satisfy them,
//! or the caller gets Bedrock's ValidationException instead of a clean answer. The same
//! rules as the emulator's `check_semantics` plus the service model's limits on
//! `inferenceConfig`. Shared by `tests/properties.rs` and the `chat_request` fuzz target.

use serde_json::Value;

/// Blank as Bedrock (Java `String.isBlank`) and the emulator (Python `str.strip`) see it:
/// Unicode white space, plus the information separators U+001C..U+001F that both count as
/// white space and Rust's `char::is_whitespace` does not.
pub fn is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// `Ok` if Bedrock would accept the shape of this Converse body.
pub fn check(body: &Value) -> Result<(), String> {
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages is empty")?;
    let mut previous = "";
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(format!("messages[{i}].role {role:?}"));
        }
        if i == 0 && role != "user" {
            return Err("first message is not from the user".into());
        }
        if role == previous {
            return Err(format!("messages[{i}]: roles do not alternate"));
        }
        previous = role;
        let content = m["content"]
            .as_array()
            .filter(|c| !c.is_empty())
            .ok_or(format!("messages[{i}].content is empty"))?;
        for (j, block) in content.iter().enumerate() {
            if let Some(t) = block.get("text") {
                if is_blank(t.as_str().ok_or("text is not a string")?) {
                    return Err(format!("messages[{i}].content[{j}].text is blank: {t}"));
                }
            }
        }
    }
    for (i, block) in body["system"].as_array().into_iter().flatten().enumerate() {
        if let Some(t) = block.get("text") {
            if is_blank(t.as_str().ok_or("system text is not a string")?) {
                return Err(format!("system[{i}].text is blank: {t}"));
            }
        }
    }
    let cfg = &body["inferenceConfig"];
    if let Some(v) = cfg.get("maxTokens") {
        if !v
            .as_u64()
            .is_some_and(|n| (1..=i32::MAX as u64).contains(&n))
        {
            return Err(format!("maxTokens {v}"));
        }
    }
    for name in ["temperature", "topP"] {
        if let Some(v) = cfg.get(name) {
            if !v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) {
                return Err(format!("{name} {v}"));
            }
        }
    }
    if let Some(v) = cfg.get("stopSequences") {
        let list = v.as_array().ok_or("stopSequences is not a list")?;
        if list.len() > 2500 || list.iter().any(|s| s.as_str().is_none_or(str::is_empty)) {
            return Err(format!("stopSequences {v}"));
        }
    }
    Ok(())
}
