//! The first read of a chat request body, before any field is judged: every top-level field
//! but `messages` as a `serde_json::Value` (small; the field readers check them), and
//! `messages` down to the content parts, whose `text` strings stay the client's JSON tokens
//! borrowed from the body ([`Text`]), as a message's string `role` does. The body is scanned once; a long message is neither
//! copied nor unescaped here, and the translation writes its token out as it came.
//!
//! A body `serde_json` refuses as one `Value` is refused here too, before any field is judged,
//! and with the same error: the body is then read as a `Value` again for that error (a
//! syntax error, bad UTF-8, a lone surrogate in a text, nesting deeper than `serde_json`'s
//! limit of 127). Duplicate keys keep the last value, as `Value` does.

use std::borrow::Cow;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::converse::text::Text;
use crate::error::ApiError;
use crate::openai::json::json_object;

/// `serde_json`'s nesting limit: a `Value` may nest at most this deep.
const MAX_DEPTH: usize = 127;

/// The body: its fields but `messages`, and `messages` if present.
pub(super) struct Body<'a> {
    pub obj: Map<String, Value>,
    pub messages: Option<Messages<'a>>,
}

/// `messages`: an array (each item read), or any other value (for the error).
pub(super) enum Messages<'a> {
    Items(Vec<Item<'a>>),
    Other(Value),
}

/// One `messages[]` item: an object, or any other value (an error).
pub(super) enum Item<'a> {
    Object(RawMessage<'a>),
    Other,
}

/// A message: its fields but `content` (and but `role` when that is a string), `content` if
/// present, and `role` when it is a string: borrowed from the body, so that the common message
/// `{"role": …, "content": …}` costs no map and no copy.
pub(super) struct RawMessage<'a> {
    pub fields: Map<String, Value>,
    pub role: Option<Cow<'a, str>>,
    pub content: Option<Content<'a>>,
}

/// A message's `content`: a string, an array of parts, or any other value (`null` too).
pub(super) enum Content<'a> {
    Text(Text<'a>),
    Parts(Vec<Part<'a>>),
    Other(Value),
}

/// A content part: the part (an object without its string `text`, or any other value), and
/// its `text` when that is a string.
pub(super) struct Part<'a> {
    pub obj: Value,
    pub text: Option<Text<'a>>,
}

/// Why the quick read gave up: the body is not what `serde_json` takes as a `Value`.
struct NotJson;

impl<'a> Body<'a> {
    /// Reads `body`; a body that is not a JSON object is the same 400 as before.
    pub fn read(body: &'a [u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<Top<'a>>(body) {
            Ok(Top::Body(b)) => Ok(b),
            Ok(Top::Other) | Err(_) => Err(value_error(body)),
        }
    }
}

/// The error reading the whole body as a `Value` gives (what the filter always answered).
fn value_error(body: &[u8]) -> ApiError {
    match json_object(body) {
        Err(e) => e,
        // Not reached: the quick read refuses only what `Value` refuses.
        Ok(_) => ApiError::invalid_request("request body is not valid JSON"),
    }
}

/// Where a content array starts: inside the body, `messages` and the message.
const CONTENT_DEPTH: usize = 3;

/// A message's `content` from its JSON text, `CONTENT_DEPTH` containers deep in the body.
fn read_content(raw: &RawValue) -> Result<Content<'_>, NotJson> {
    if let Some(text) = Text::from_token(raw) {
        return text.map(Content::Text).map_err(|_| NotJson);
    }
    let Ok(parts) = serde_json::from_str::<Vec<PartDe<'_>>>(raw.get()) else {
        return Ok(Content::Other(value(raw, CONTENT_DEPTH)?));
    };
    let parts: Vec<Part<'_>> = parts.into_iter().map(|p| p.0).collect();
    for p in &parts {
        // A part object's fields are two containers below the content array.
        let deep = match &p.obj {
            Value::Object(o) => o.values().map(depth).max().unwrap_or(0) + 2,
            other => depth(other) + 1,
        };
        if CONTENT_DEPTH + deep > MAX_DEPTH {
            return Err(NotJson);
        }
    }
    Ok(Content::Parts(parts))
}

/// A message's `role` from its JSON text: the string, borrowed when it has no escapes, or
/// `None` when it is not a string.
fn read_role(raw: &RawValue) -> Result<Option<Cow<'_, str>>, NotJson> {
    let json = raw.get();
    if !json.starts_with('"') {
        return Ok(None);
    }
    match json.get(1..json.len().saturating_sub(1)) {
        Some(inner) if !inner.contains('\\') => Ok(Some(Cow::Borrowed(inner))),
        // Escapes (checked as `Value` checks them: a lone surrogate is refused).
        _ => match serde_json::from_str::<String>(json) {
            Ok(s) => Ok(Some(Cow::Owned(s))),
            Err(_) => Err(NotJson),
        },
    }
}

/// `raw` as a `Value`, found `at` containers deep in the body: refused as `serde_json`
/// refuses the whole body when it nests too deep.
fn value(raw: &RawValue, at: usize) -> Result<Value, NotJson> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| NotJson)?;
    if at + depth(&v) > MAX_DEPTH {
        return Err(NotJson);
    }
    Ok(v)
}

/// How deep arrays and objects nest in `v` (0 for a scalar).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The body read in one pass: an object (its fields but `messages` as `Value`s, `messages`
/// down to each message's `content`, kept as JSON text), or something else.
enum Top<'a> {
    Body(Body<'a>),
    Other,
}

/// Visits the scalars of a value that is not the shape wanted: `Other`. A map or an array is
/// read as a `Value` (so that it nests no deeper than `serde_json` allows) and dropped.
macro_rules! other_scalars {
    ($t:ty) => {
        fn visit_bool<E>(self, _: bool) -> Result<$t, E> {
            Ok(<$t>::other())
        }
        fn visit_i64<E>(self, _: i64) -> Result<$t, E> {
            Ok(<$t>::other())
        }
        fn visit_u64<E>(self, _: u64) -> Result<$t, E> {
            Ok(<$t>::other())
        }
        fn visit_f64<E>(self, _: f64) -> Result<$t, E> {
            Ok(<$t>::other())
        }
        fn visit_str<E>(self, _: &str) -> Result<$t, E> {
            Ok(<$t>::other())
        }
        fn visit_unit<E>(self) -> Result<$t, E> {
            Ok(<$t>::null())
        }
    };
}

fn skip_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<(), A::Error> {
    Value::deserialize(SeqAccessDeserializer::new(seq)).map(drop)
}

fn skip_map<'de, A: MapAccess<'de>>(map: A) -> Result<(), A::Error> {
    Value::deserialize(MapAccessDeserializer::new(map)).map(drop)
}

impl Top<'_> {
    fn other() -> Self {
        Self::Other
    }
    fn null() -> Self {
        Self::Other
    }
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut body = Body {
            obj: Map::new(),
            messages: None,
        };
        while let Some(Key(key)) = map.next_key()? {
            if key == "messages" {
                body.messages = Some(map.next_value()?);
            } else {
                body.obj.insert(key.into_owned(), map.next_value()?);
            }
        }
        Ok(Top::Body(body))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top<'de>, A::Error> {
        skip_seq(seq).map(|()| Top::Other)
    }

    other_scalars!(Top<'de>);
}

impl Messages<'_> {
    fn other() -> Self {
        Self::Other(Value::Bool(true))
    }
    fn null() -> Self {
        Self::Other(Value::Null)
    }
}

impl<'de> Deserialize<'de> for Messages<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MessagesVisitor)
    }
}

struct MessagesVisitor;

impl<'de> Visitor<'de> for MessagesVisitor {
    type Value = Messages<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Messages<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Messages::Items(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Messages<'de>, A::Error> {
        skip_map(map).map(|()| Messages::other())
    }

    other_scalars!(Messages<'de>);
}

impl Item<'_> {
    fn other() -> Self {
        Self::Other
    }
    fn null() -> Self {
        Self::Other
    }
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
        let mut m = RawMessage {
            fields: Map::new(),
            role: None,
            content: None,
        };
        while let Some(Key(key)) = map.next_key()? {
            if key == "role" {
                // The last `role` wins, as in a `Value`; one that is not a string stays a field.
                let raw = map.next_value()?;
                m.role = read_role(raw).map_err(|NotJson| A::Error::custom("not JSON"))?;
                match &m.role {
                    Some(_) => m.fields.remove("role"),
                    None => m.fields.insert(
                        key.into_owned(),
                        value(raw, CONTENT_DEPTH)
                            .map_err(|NotJson| A::Error::custom("not JSON"))?,
                    ),
                };
            } else if key == "content" {
                // Read now, even if a later `content` replaces it: `Value` would refuse it.
                let raw = map.next_value()?;
                let content = read_content(raw).map_err(|NotJson| A::Error::custom("not JSON"))?;
                m.content = Some(content);
            } else {
                m.fields.insert(key.into_owned(), map.next_value()?);
            }
        }
        Ok(Item::Object(m))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item<'de>, A::Error> {
        skip_seq(seq).map(|()| Item::other())
    }

    other_scalars!(Item<'de>);
}

/// A content part read from its content array: an object's string `text` kept as its token.
struct PartDe<'a>(Part<'a>);

impl PartDe<'_> {
    fn other() -> Self {
        Self(Part {
            obj: Value::Null,
            text: None,
        })
    }
    fn null() -> Self {
        Self::other()
    }
}

impl<'de> Deserialize<'de> for PartDe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PartVisitor)
    }
}

struct PartVisitor;

impl<'de> Visitor<'de> for PartVisitor {
    type Value = PartDe<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a content part")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PartDe<'de>, A::Error> {
        let mut obj = Map::new();
        let mut text = None;
        while let Some(Key(key)) = map.next_key()? {
            if key != "text" {
                obj.insert(key.into_owned(), map.next_value()?);
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            match Text::from_token(raw) {
                Some(t) => {
                    text = Some(t.map_err(A::Error::custom)?);
                    obj.remove("text");
                }
                None => {
                    text = None;
                    let v = serde_json::from_str(raw.get()).map_err(A::Error::custom)?;
                    obj.insert(key.into_owned(), v);
                }
            }
        }
        Ok(PartDe(Part {
            obj: Value::Object(obj),
            text,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PartDe<'de>, A::Error> {
        let obj = Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Ok(PartDe(Part { obj, text: None }))
    }

    other_scalars!(PartDe<'de>);
}

/// An object key, borrowed from the body when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_what_value_refuses_with_its_error() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let mut bodies: Vec<String> = [
            "[1]",
            "{",
            "3",
            r#"{"a":1,}"#,
            r#"{"messages":[{"content":"\ud800"}]}"#,
            r#"{"messages":[{"content":[{"type":"text","text":"a\udc00"}]}]}"#,
            r#"{"messages":[{"content":[{"type":"text","text":"a\ud83d\ude00"}]}]}"#,
            "{\"messages\":[{\"content\":\"\u{1}\"}]}",
            r#"{"messages":[{"content":[1e999]}]}"#,
            r#"{"messages":[{"content":"a"}],"n":1e999}"#,
        ]
        .map(String::from)
        .to_vec();
        for n in 118..=128 {
            let v = nest(n);
            bodies.extend([
                format!(r#"{{"model":"m","metadata":{v}}}"#),
                format!(r#"{{"messages":{v}}}"#),
                format!(r#"{{"messages":[{v}]}}"#),
                format!(r#"{{"messages":[{{"role":"user","x":{v}}}]}}"#),
                format!(r#"{{"messages":[{{"content":{v}}}]}}"#),
                format!(r#"{{"messages":[{{"content":[{v}]}}]}}"#),
                format!(r#"{{"messages":[{{"content":[{{"type":"text","x":{v}}}]}}]}}"#),
                format!(r#"{{"messages":[{{"content":[{{"type":"text","text":{v}}}]}}]}}"#),
            ]);
        }
        for body in bodies {
            match (json_object(body.as_bytes()), Body::read(body.as_bytes())) {
                (Ok(_), Ok(_)) => {}
                (Err(want), Err(got)) => {
                    assert_eq!((got.status, &got.message), (want.status, &want.message))
                }
                (want, got) => panic!("{body}: {} then {}", want.is_ok(), got.is_ok()),
            }
        }
    }

    /// `Body` as a `Value`, the way `normalize` leaves the whole body's `Value`.
    fn rebuild(b: Body<'_>) -> Value {
        let mut obj = b.obj;
        if let Some(m) = b.messages {
            let v = match m {
                Messages::Other(v) => v,
                Messages::Items(items) => Value::Array(items.into_iter().map(item).collect()),
            };
            obj.insert("messages".into(), v);
        }
        Value::Object(obj)
    }

    fn item(i: Item<'_>) -> Value {
        let Item::Object(m) = i else {
            return Value::String("not an object".into());
        };
        let mut obj = m.fields;
        if let Some(r) = m.role {
            obj.insert("role".into(), Value::String(r.into_owned()));
        }
        if let Some(c) = m.content {
            let v = match c {
                Content::Text(t) => Value::String(t.as_str().into_owned()),
                Content::Other(v) => v,
                Content::Parts(parts) => Value::Array(
                    parts
                        .into_iter()
                        .map(|p| match (p.obj, p.text) {
                            (Value::Object(mut o), Some(t)) => {
                                o.insert("text".into(), Value::String(t.as_str().into_owned()));
                                Value::Object(o)
                            }
                            (o, _) => o,
                        })
                        .collect(),
                ),
            };
            obj.insert("content".into(), v);
        }
        Value::Object(obj)
    }

    /// What `Body` keeps of a body: `messages` other than an array or null is `true`; a
    /// message other than an object is a marker; a part that is a scalar is `null`.
    fn normalize(mut v: Value) -> Value {
        let Some(m) = v.get_mut("messages") else {
            return v;
        };
        match m {
            Value::Array(items) => {
                for it in items.iter_mut() {
                    let Value::Object(o) = it else {
                        *it = Value::String("not an object".into());
                        continue;
                    };
                    if let Some(Value::Array(parts)) = o.get_mut("content") {
                        for p in parts.iter_mut() {
                            if !p.is_object() && !p.is_array() {
                                *p = Value::Null;
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            other => *other = Value::Bool(true),
        }
        v
    }

    /// JSON texts of bodies shaped like chat requests, with escapes, lone surrogates, nesting,
    /// duplicate keys and broken syntax.
    fn body() -> impl Strategy<Value = String> {
        let leaf = prop::sample::select(vec![
            r#""a""#,
            r#""""#,
            r#"" \n""#,
            r#""caf\u00e9 \"q\" \\ x\/y""#,
            r#""\ud83d\ude00""#,
            r#""\ud800""#,
            r#""user""#,
            r#""assistant""#,
            r#""text""#,
            "1",
            "-2.5",
            "1e999",
            "null",
            "true",
        ])
        .prop_map(String::from);
        let value = leaf.prop_recursive(4, 24, 4, |inner| {
            let key = prop::sample::select(vec![
                "role",
                "content",
                "type",
                "text",
                "x",
                "guard",
                "cache_control",
                "messages",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key, inner), 0..4).prop_map(|kv| {
                    let fields: Vec<String> =
                        kv.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        });
        let obj = |fields: Vec<(&str, String)>| {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!(r#""{k}":{v}"#))
                .collect();
            format!("{{{}}}", fields.join(","))
        };
        let field = |keys: Vec<&'static str>, v: BoxedStrategy<String>| {
            prop::collection::vec((prop::sample::select(keys), v), 0..4).prop_map(obj)
        };
        let value = value.boxed();
        let part = prop_oneof![
            field(vec!["type", "text", "text", "guard", "x"], value.clone()),
            value.clone()
        ];
        let content = prop_oneof![
            value.clone(),
            prop::collection::vec(part, 0..4).prop_map(|v| format!("[{}]", v.join(","))),
        ]
        .boxed();
        let message = prop_oneof![
            field(vec!["role", "content", "content", "x"], content),
            value.clone()
        ];
        let messages = prop_oneof![
            value.clone(),
            prop::collection::vec(message, 0..4).prop_map(|v| format!("[{}]", v.join(","))),
        ];
        (messages, value, any::<u8>()).prop_map(|(m, v, cut)| {
            let body = format!(r#"{{"model":"m","messages":{m},"n":{v},"messages":{m}}}"#);
            if cut < 16 {
                body[..body.len() * usize::from(cut) / 16].to_string()
            } else {
                body
            }
        })
    }

    /// `Ok` if the one-pass read keeps what the whole body's `Value` has, and refuses what it
    /// refuses, with the same error.
    fn same_as_value(body: &str) -> Result<(), String> {
        let (want, got) = (json_object(body.as_bytes()), Body::read(body.as_bytes()));
        let same = match (&want, got) {
            (Ok(want), Ok(got)) => rebuild(got) == normalize(Value::Object(want.clone())),
            (Err(want), Err(got)) => got.message == want.message,
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(format!("{body}: {want:?}"))
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        for body in [
            r#"{"messages":[{"content":[{"type":"text","text":"a","text":1}]}]}"#,
            r#"{"messages":[{"content":[{"type":"text","text":1,"text":"a"}]}]}"#,
            r#"{"messages":[{"content":"a","content":[{"text":"b"}]}],"messages":[]}"#,
            r#"{"messages":[{"content":[{"x":"\ud800"}],"content":"a"}]}"#,
        ] {
            same_as_value(body).unwrap();
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn reads_as_the_value_parse_does(body in body()) {
            if let Err(e) = same_as_value(&body) {
                proptest::prop_assert!(false, "{}", e);
            }
        }
    }
}
