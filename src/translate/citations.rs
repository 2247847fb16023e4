//! Citations of documents (Converse `citationsContent` blocks, and `citation` deltas in a
//! stream) → the extension field `citations` of the answer's message (and of a stream
//! chunk's `delta`). The cited text is never mixed into `content`: the model's own words
//! stay the answer, the citations say where they come from.
//!
//! One citation, documented in `docs/parameters.md`:
//! `{"title", "source", "cited_text", "location": {"type": "document_char", "document_index",
//! "start", "end"}, "text"}`, each member only when Bedrock gave it; `location.type` is
//! Bedrock's `CitationLocation` member in snake case (`document_char`, `document_page`,
//! `document_chunk`, `search_result_location`, `web`), its fields snake-cased too; `text`
//! (unary answers only) is the part of `content` the citation supports. In a stream the
//! citation arrives in its own chunk next to the content it supports.

use serde_json::{Map, Value};

pub use crate::converse::response::CitationsContent;

/// A unary block: the generated text (part of the answer's content) and its citations.
pub fn from_block(block: &CitationsContent) -> (String, Vec<Value>) {
    let text: String = block
        .content
        .iter()
        .filter_map(|c| c.text.as_deref())
        .collect();
    let entries = block
        .citations
        .iter()
        .map(|c| {
            let mut e = entry(c);
            if !text.is_empty() {
                e.insert("text".into(), Value::String(text.clone()));
            }
            Value::Object(e)
        })
        .collect();
    (text, entries)
}

/// A stream's `citation` delta (`CitationsDelta`, the same members as a `Citation`).
pub fn from_delta(delta: &Value) -> Value {
    Value::Object(entry(delta))
}

/// A Bedrock `Citation` → one entry of `citations`.
fn entry(c: &Value) -> Map<String, Value> {
    let mut e = Map::new();
    for key in ["title", "source"] {
        if let Some(Value::String(s)) = c.get(key) {
            e.insert(key.into(), Value::String(s.clone()));
        }
    }
    if let Some(Value::Array(parts)) = c.get("sourceContent") {
        let cited: String = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        e.insert("cited_text".into(), Value::String(cited));
    }
    if let Some(location) = c.get("location").and_then(location) {
        e.insert("location".into(), location);
    }
    e
}

/// `{"documentChar": {"documentIndex": 0, …}}` → `{"type": "document_char", "document_index":
/// 0, …}`; `None` unless it is an object with one member that is an object.
fn location(v: &Value) -> Option<Value> {
    let obj = v.as_object().filter(|o| o.len() == 1)?;
    let (kind, fields) = obj.iter().next()?;
    let fields = fields.as_object()?;
    let mut out = Map::new();
    out.insert("type".into(), Value::String(snake(kind)));
    for (k, v) in fields {
        out.insert(snake(k), v.clone());
    }
    Some(Value::Object(out))
}

/// `documentIndex` → `document_index`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_block_keeps_its_text_and_says_where_it_comes_from() {
        let block: CitationsContent = serde_json::from_value(json!({
            "content": [{"text": "The grass "}, {"text": "is green."}],
            "citations": [
                {"title": "notes", "sourceContent": [{"text": "Grass is green."}],
                 "location": {"documentChar": {"documentIndex": 0, "start": 0, "end": 15}}},
                {"location": {"web": {"url": "https://e.x", "domain": "e.x"}}, "future": 1}
            ]
        }))
        .unwrap();
        let (text, entries) = from_block(&block);
        assert_eq!(text, "The grass is green.");
        assert_eq!(
            entries,
            vec![
                json!({"title": "notes", "cited_text": "Grass is green.", "text": "The grass is green.",
                       "location": {"type": "document_char", "document_index": 0, "start": 0, "end": 15}}),
                json!({"text": "The grass is green.",
                       "location": {"type": "web", "url": "https://e.x", "domain": "e.x"}}),
            ]
        );
    }

    #[test]
    fn a_delta_becomes_one_entry_and_odd_locations_are_left_out() {
        assert_eq!(
            from_delta(
                &json!({"title": "t", "sourceContent": [{"text": "a"}, {"text": "b"}],
                               "location": {"documentPage": {"documentIndex": 1, "start": 2, "end": 3}}})
            ),
            json!({"title": "t", "cited_text": "ab",
                   "location": {"type": "document_page", "document_index": 1, "start": 2, "end": 3}})
        );
        assert_eq!(
            from_delta(&json!({"location": {"a": {}, "b": {}}})),
            json!({})
        );
        assert_eq!(from_delta(&json!({"location": {"a": 1}})), json!({}));
        assert_eq!(from_delta(&json!("x")), json!({}));
    }
}
