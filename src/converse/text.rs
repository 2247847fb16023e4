//! A text on its way from the client's body to the Converse body. A message's text is kept
//! as the JSON string token the client sent (quotes and escapes included), borrowed from the
//! request body: a valid JSON string token is valid in the Converse body as it is, so a long
//! message is never unescaped, copied or escaped again. Texts of the gateway's own (and of
//! the other endpoints) are plain strings. Only a decision on the content (is it blank, how
//! long is it, is it JSON) decodes it, and only as far as the decision needs.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// A text: a client's JSON string token, or a plain string. Equal when the decoded texts are.
#[derive(Debug, Clone)]
pub enum Text<'a> {
    /// A JSON string token (quotes included) whose escapes decode, as [`Text::from_token`]
    /// checked; `escaped` if it has any (else it is its own text between the quotes).
    Token {
        raw: &'a RawValue,
        escaped: bool,
    },
    Plain(Cow<'a, str>),
}

impl<'a> Text<'a> {
    /// `raw` as a text when it is a JSON string token. `Some(Err)` when one of its `\u`
    /// escapes does not decode (a lone surrogate), which `serde_json` refuses in a string.
    pub fn from_token(raw: &'a RawValue) -> Option<Result<Self, serde_json::Error>> {
        let json = raw.get();
        if !json.starts_with('"') {
            return None;
        }
        let escaped = json.as_bytes().contains(&b'\\');
        if escaped && json.contains("\\u") {
            if let Err(e) = serde_json::from_str::<CheckStr>(json) {
                return Some(Err(e));
            }
        }
        Some(Ok(Self::Token { raw, escaped }))
    }

    /// The text, decoded: borrowed unless it has escapes.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Self::Plain(s) => Cow::Borrowed(s),
            // Checked by `from_token`: always decodes.
            Self::Token { raw, escaped: true } => {
                Cow::Owned(serde_json::from_str::<String>(raw.get()).unwrap_or_default())
            }
            Self::Token { raw, .. } => Cow::Borrowed(inner(raw)),
        }
    }

    /// The decoded text's length in bytes, without decoding it.
    pub fn len(&self) -> usize {
        match self {
            Self::Plain(s) => s.len(),
            Self::Token { raw, escaped: true } => decoded_len(inner(raw)),
            Self::Token { raw, .. } => inner(raw).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blank as [`is_blank`] judges it; decodes only a text whose first escape comes before
    /// any other character.
    pub fn is_blank(&self) -> bool {
        match self {
            Self::Plain(s) => is_blank(s),
            Self::Token {
                raw,
                escaped: false,
            } => is_blank(inner(raw)),
            Self::Token { raw, .. } => match inner(raw).split_once('\\') {
                Some((before, _)) if !is_blank(before) => false,
                _ => is_blank(&self.as_str()),
            },
        }
    }

    /// The same text, owning its string.
    pub fn into_owned(self) -> Text<'static> {
        Text::Plain(Cow::Owned(self.as_str().into_owned()))
    }
}

/// Blank as Bedrock judges text blocks: white space as Rust sees it, plus the information
/// separators U+001C..U+001F, which Java's `Character.isWhitespace` (Bedrock) and Python's
/// `str.isspace` (the emulator) count as white space and `char::is_whitespace` does not. Such
/// a text sent on makes Bedrock answer `ValidationException: … is blank` (found by the
/// Bedrock-rules oracle of the property tests and the `chat_request` fuzz target).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// A token without its quotes.
fn inner(raw: &RawValue) -> &str {
    let json = raw.get();
    json.get(1..json.len().saturating_sub(1))
        .unwrap_or_default()
}

/// The length in bytes of the string the token body `inner` decodes to (its escapes checked).
fn decoded_len(inner: &str) -> usize {
    let b = inner.as_bytes();
    let (mut n, mut i) = (0, 0);
    while i < b.len() {
        if b[i] != b'\\' {
            n += 1;
            i += 1;
        } else if b.get(i + 1) == Some(&b'u') {
            let unit = inner
                .get(i + 2..i + 6)
                .and_then(|h| u16::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            i += 6;
            n += match unit {
                0..=0x7f => 1,
                0x80..=0x7ff => 2,
                // A leading surrogate: its trailing one follows (checked), four bytes in all.
                0xd800..=0xdbff => {
                    i += 6;
                    4
                }
                _ => 3,
            };
        } else {
            n += 1;
            i += 2;
        }
    }
    n
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Token { raw, .. } => raw.serialize(s),
            Self::Plain(t) => s.serialize_str(t),
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Self::Plain(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Self::Plain(Cow::Owned(s))
    }
}

/// Reads a string as `serde_json` does into a `String` (escapes decoded and checked), keeping
/// nothing.
struct CheckStr;

impl<'de> serde::Deserialize<'de> for CheckStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CheckStr)
    }
}

impl serde::de::Visitor<'_> for CheckStr {
    type Value = CheckStr;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(CheckStr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(json: &str) -> Text<'_> {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        Text::from_token(raw).unwrap().unwrap()
    }

    #[test]
    fn tokens_decode_measure_and_serialize_as_sent() {
        for json in [
            r#""plain""#,
            r#""""#,
            r#""a\nb\t\"q\" \\ \/""#,
            r#""caf\u00e9 \u20ac \ud83d\ude00 \u0041""#,
            r#""é€😀""#,
        ] {
            let t = token(json);
            let want: String = serde_json::from_str(json).unwrap();
            assert_eq!(t.as_str(), want, "{json}");
            assert_eq!(t.len(), want.len(), "{json}");
            assert_eq!(t, Text::from(want.clone()));
            assert_eq!(serde_json::to_string(&t).unwrap(), json);
        }
    }

    #[test]
    fn only_strings_are_tokens_and_lone_surrogates_are_refused() {
        for json in ["1", "null", "[]", "{}"] {
            let raw: &RawValue = serde_json::from_str(json).unwrap();
            assert!(Text::from_token(raw).is_none(), "{json}");
        }
        for json in [r#""\ud800""#, r#""\udc00x""#, r#""\ud800\u0041""#] {
            let raw: &RawValue = serde_json::from_str(json).unwrap();
            assert!(Text::from_token(raw).unwrap().is_err(), "{json}");
        }
    }

    #[test]
    fn blank_tokens_are_found_with_or_without_escapes() {
        for (json, blank) in [
            (r#""""#, true),
            (r#"" \n\t\u001c\u3000""#, true),
            (r#""\n x""#, false),
            (r#""x\n""#, false),
            (r#""   ""#, true),
        ] {
            assert_eq!(token(json).is_blank(), blank, "{json}");
        }
    }
}
