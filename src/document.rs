//! JSON documents read from outside — the plugin configuration, the key table kept in AWS,
//! credential answers — deserialized with errors that say what is wrong and where (the field
//! path, or the line and column of broken JSON), never repeating a value of the document:
//! these documents hold secrets, and their errors are logged.
//!
//! A leaf: `config`, `auth` and `upstream` all read such documents, so it belongs to none.

/// What is wrong with a document and where, without any of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError(String);

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DocumentError {}

/// Deserializes a JSON document read from outside (the key table, the plugin configuration,
/// credential answers). An error says what is wrong and where — the field path, or the line
/// and column of broken JSON — and never repeats a value of the document: these documents
/// hold secrets, and their errors are logged. (serde's own messages quote the value:
/// `invalid type: string "sk-…", expected u64`.)
///
/// `show` says which object keys may appear in a field path (map keys are the document's
/// own: a tenant name, but also, by mistake, a key in the place of a tenant name); others
/// are shown as `?`.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    show: &dyn Fn(&str) -> bool,
) -> Result<T, DocumentError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DocumentError(json_error(&e, None)))?;
    from_json_value(&value, show)
}

/// [`parse_json`] for a document already parsed to a value.
pub(crate) fn from_json_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    show: &dyn Fn(&str) -> bool,
) -> Result<T, DocumentError> {
    from_value_located(value, show).map_err(|(path, rest)| DocumentError(render(&path, &rest)))
}

/// [`from_json_value`], the error as its field path and the text after it (see [`render`]).
fn from_value_located<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    show: &dyn Fn(&str) -> bool,
) -> Result<T, (String, String)> {
    // Read from a rendering with one member per line rather than from the value: errors
    // from a value carry no position, and one deserializer per document type (not two) keeps
    // the module small. The line of an error becomes the field path.
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    // From bytes, not `from_str`: the request path reads bytes, and one reader type means one
    // copy of serde_json's parser in the wasm module.
    serde_json::from_slice::<T>(pretty.as_bytes()).map_err(|located| {
        if located.line() > 0 {
            let leaf = !located.to_string().starts_with("unknown field");
            error_parts(&located, Some(path_at(&pretty, located.line(), leaf, show)))
        } else {
            error_parts(&located, None)
        }
    })
}

/// `` `path`: what `` (or `` `path` is … `` for this crate's own errors); `what` alone at the
/// top level.
fn render(path: &str, rest: &str) -> String {
    if path.is_empty() {
        rest.trim_start_matches(": ").trim_start().to_string()
    } else {
        format!("`{path}`{rest}")
    }
}

/// Marks the text of an error raised by this crate's own `Deserialize` impls
/// ([`field_error`]): it holds no document value and says where it is, below the value read.
const OWN: char = '\u{1}';

/// An error for a `Deserialize` impl of this crate: `field` is the path below the value being
/// read (`""`: the value itself), `tail` follows the full quoted path (`" is not …"`, or
/// `": …"`). The text must not repeat a document value.
pub(crate) fn field_error<E: serde::de::Error>(field: &str, tail: &str) -> E {
    E::custom(format!("{OWN}{field}{OWN}{tail}"))
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() || field.is_empty() || field.starts_with('[') {
        format!("{path}{field}")
    } else {
        format!("{path}.{field}")
    }
}

/// Deserializes an object whose `type` member selects the variant (what `#[serde(tag =
/// "type")]` does, but serde's derived version buffers the object, and an error inside it
/// loses its field path). `variant(tag, rest)` reads the other members for a known tag and
/// is `None` for an unknown one, which is an error `` `….type`{unknown} ``.
pub(crate) fn deserialize_tagged<'de, D, T, F>(
    d: D,
    unknown: &'static str,
    variant: F,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    F: Fn(&str, &serde_json::Value) -> Option<Result<T, (String, String)>>,
{
    struct Tagged<F>(&'static str, F);
    impl<'de, T, F> serde::de::Visitor<'de> for Tagged<F>
    where
        F: Fn(&str, &serde_json::Value) -> Option<Result<T, (String, String)>>,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let mut rest = serde_json::Map::new();
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                rest.insert(k, v);
            }
            let Some(tag) = rest.remove("type") else {
                return Err(serde::de::Error::missing_field("type"));
            };
            match tag
                .as_str()
                .and_then(|t| (self.1)(t, &serde_json::Value::Object(rest)))
            {
                None => Err(field_error("type", self.0)),
                Some(Ok(v)) => Ok(v),
                Some(Err((path, rest))) => Err(field_error(&path, &rest)),
            }
        }
    }
    d.deserialize_map(Tagged(unknown, variant))
}

/// One variant's members of a [`deserialize_tagged`] object.
pub(crate) fn variant<T: serde::de::DeserializeOwned>(
    rest: &serde_json::Value,
) -> Result<T, (String, String)> {
    from_value_located(rest, &|_| true)
}

/// A string that must be one of `names` → its index; anything else is an error
/// `` `…`{tail} ``.
pub(crate) fn deserialize_one_of<'de, D: serde::Deserializer<'de>>(
    d: D,
    names: &'static [&'static str],
    tail: &'static str,
) -> Result<usize, D::Error> {
    struct OneOf(&'static [&'static str], &'static str);
    impl serde::de::Visitor<'_> for OneOf {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<usize, E> {
            self.0
                .iter()
                .position(|n| *n == v)
                .ok_or_else(|| field_error("", self.1))
        }
    }
    d.deserialize_str(OneOf(names, tail))
}

/// serde's names for the kind of value found (`Unexpected`'s `Display`, before the value).
const FOUND_KINDS: [&str; 17] = [
    "string",
    "integer",
    "floating point",
    "boolean",
    "character",
    "byte array",
    "unit value",
    "null",
    "Option value",
    "newtype struct",
    "sequence",
    "map",
    "unit variant",
    "newtype variant",
    "tuple variant",
    "struct variant",
    "enum",
];

/// A serde_json error as the kind of error and its location, without document values.
/// `path` is the field path of a value error (`None` when unknown; `""` for the top level).
pub(crate) fn json_error(e: &serde_json::Error, path: Option<String>) -> String {
    let (path, rest) = error_parts(e, path);
    render(&path, &rest)
}

/// [`json_error`] as the field path and the text after it.
fn error_parts(e: &serde_json::Error, path: Option<String>) -> (String, String) {
    use serde_json::error::Category;
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let text = full.strip_suffix(&suffix).unwrap_or(&full);
    let what = match e.classify() {
        Category::Io => "it could not be read".to_string(),
        // serde_json's fixed wording (`expected `,` or `}``, `EOF while parsing a string`):
        // only value errors carry text from the document.
        Category::Syntax | Category::Eof => format!("not valid JSON: {text}"),
        Category::Data => match text.strip_prefix(OWN).and_then(|t| t.split_once(OWN)) {
            Some((field, tail)) => {
                return (join(path.as_deref().unwrap_or(""), field), tail.to_string())
            }
            None => value_error(text),
        },
    };
    match path {
        Some(p) => (p, format!(": {what}")),
        None if e.line() > 0 => (
            String::new(),
            format!("{what} (line {}, column {})", e.line(), e.column()),
        ),
        None => (String::new(), what),
    }
}

/// serde's data error messages with the offending value taken out.
fn value_error(text: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let found = FOUND_KINDS
                .iter()
                .find(|k| rest.starts_with(*k))
                .copied()
                .unwrap_or("a value");
            // The expected part comes last and is written by this crate's types.
            return match rest.rsplit_once(", expected ") {
                Some((_, expected)) if expected.starts_with("struct ") => {
                    format!("{prefix}{found}, expected an object")
                }
                Some((_, expected)) => format!("{prefix}{found}, expected {expected}"),
                None => format!("{prefix}{found}"),
            };
        }
    }
    for (prefix, kind) in [
        ("unknown field `", "unknown field"),
        ("unknown variant `", "unknown variant"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (name, tail) = rest
                .rsplit_once("`, expected ")
                .map(|(n, t)| (n, format!("expected {t}")))
                .or_else(|| {
                    rest.rsplit_once("`, there are no ")
                        .map(|(n, t)| (n, format!("there are no {t}")))
                })
                .unwrap_or(("", String::new()));
            // A field name is repeated only when it looks like one of this filter's (a typo
            // of one); anything else may be a value pasted in the wrong place.
            let named = if kind == "unknown field" && looks_like_field_name(name) {
                format!(" `{name}`")
            } else {
                String::new()
            };
            return if tail.is_empty() {
                format!("{kind}{named}")
            } else {
                format!("{kind}{named}, {tail}")
            };
        }
    }
    // These name only fields of this crate's types, or a count.
    if ["missing field `", "duplicate field `", "invalid length "]
        .iter()
        .any(|p| text.starts_with(p))
    {
        return text.to_string();
    }
    "a value does not have the expected type or shape".to_string()
}

/// `snake_case`, as every field of the configuration and the key table is, or a short
/// `camelCase` typo of one (`modelAliases`). A random token (a key pasted as a name) has
/// digits or many capitals and is not repeated.
fn looks_like_field_name(name: &str) -> bool {
    let snake = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let camel = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_alphabetic())
        && name.bytes().filter(u8::is_ascii_uppercase).count() <= 3;
    snake || camel
}

/// The field path (`tenants.acme.key_sha256[0]`) of line `line` (1-based) of `pretty`, a
/// `to_string_pretty` rendering (one member per line). `leaf`: include the member on that
/// line (not for an unknown field, whose name is the member).
fn path_at(pretty: &str, line: usize, leaf: bool, show: &dyn Fn(&str) -> bool) -> String {
    // One entry per open object (`true`) or array, with the member being read.
    let mut open: Vec<(bool, Option<String>, usize)> = Vec::new();
    for (n, raw) in pretty.lines().enumerate() {
        let t = raw.trim();
        let here = n + 1 == line;
        if t.starts_with('}') || t.starts_with(']') {
            if here {
                return render_path(&open, false);
            }
            open.pop();
            continue;
        }
        let rest = match open.last_mut() {
            None => t,
            Some((true, member, _)) => {
                let Some((key, rest)) = member_key(t, show) else {
                    return render_path(&open, false);
                };
                *member = Some(key);
                rest
            }
            Some((false, member, count)) => {
                *member = Some(format!("[{count}]"));
                *count += 1;
                t
            }
        };
        if here {
            return render_path(&open, leaf);
        }
        match rest.trim_end_matches(',') {
            "{" => open.push((true, None, 0)),
            "[" => open.push((false, None, 0)),
            _ => {}
        }
    }
    String::new()
}

/// `"key": rest` → (key, rest); a key `show` refuses, or that is not plain printable text,
/// is shown as `?`.
fn member_key<'t>(t: &'t str, show: &dyn Fn(&str) -> bool) -> Option<(String, &'t str)> {
    let mut escaped = false;
    let end = t.char_indices().skip(1).find_map(|(i, c)| {
        let done = c == '"' && !escaped;
        escaped = c == '\\' && !escaped;
        done.then_some(i)
    })?;
    let key: String = serde_json::from_slice(&t.as_bytes()[..=end]).ok()?;
    let rest = t[end + 1..].strip_prefix(": ")?;
    let plain = show(&key)
        && !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'`' && b != b'"' && b != b'\\');
    Some((if plain { key } else { "?".to_string() }, rest))
}

fn render_path(open: &[(bool, Option<String>, usize)], leaf: bool) -> String {
    let upto = if leaf {
        open.len()
    } else {
        open.len().saturating_sub(1)
    };
    let mut path = String::new();
    for member in open[..upto].iter().filter_map(|(_, m, _)| m.as_deref()) {
        if !path.is_empty() && !member.starts_with('[') {
            path.push('.');
        }
        path.push_str(member);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[test]
    fn json_errors_say_where_and_what_without_values() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            n: Option<u64>,
            flag: Option<bool>,
            list: Option<Vec<Inner>>,
            map: Option<BTreeMap<String, Inner>>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Inner {
            need: String,
        }
        let e = |doc: &str| parse_json::<Doc>(doc.as_bytes(), &|k| k != "hidden").unwrap_err();
        for (doc, want) in [
            (
                r#"{"n": "sk-x"}"#,
                "`n`: invalid type: string, expected u64",
            ),
            (r#"{"n": -7}"#, "`n`: invalid value: integer, expected u64"),
            (
                r#"{"n": 1.5}"#,
                "`n`: invalid type: floating point, expected u64",
            ),
            (
                r#"{"flag": "yes"}"#,
                "`flag`: invalid type: string, expected a boolean",
            ),
            (
                r#"{"list": [{"need": "a"}, {"need": 7}]}"#,
                "`list[1].need`: invalid type: integer, expected a string",
            ),
            (
                r#"{"list": [{"need": "a"}, {}]}"#,
                "`list[1]`: missing field `need`",
            ),
            (
                r#"{"list": [{"need": "a"}, {"x": 1, "need": "b"}]}"#,
                "`list[1]`: unknown field `x`, expected `need`",
            ),
            (
                r#"{"map": {"k.1": {"need": "a", "other": 2}}}"#,
                "`map.k.1`: unknown field `other`, expected `need`",
            ),
            (r#"{"map": {"k": {}}}"#, "`map.k`: missing field `need`"),
            (
                r#"{"map": {"hidden": {}}}"#,
                "`map.?`: missing field `need`",
            ),
            (r#"{"map": {"a\nb": {}}}"#, "`map.?`: missing field `need`"),
            (
                r#"{"map": {"k": {"need": "a", "Sk-X": 1}}}"#,
                "`map.k`: unknown field, expected `need`",
            ),
            (
                r#"{"nn": 1}"#,
                "unknown field `nn`, expected one of `n`, `flag`, `list`, `map`",
            ),
            (
                "{\"n\": 1,\n \"n\" 2}",
                "not valid JSON: expected `:` (line 2, column 6)",
            ),
            // serde reads a struct from a list too, member by member.
            (
                r#"[1, 2]"#,
                "`[1]`: invalid type: integer, expected a boolean",
            ),
            (r#""sk-x""#, "invalid type: string, expected an object"),
            (
                r#"{"n": "a, expected \"x"}"#,
                "`n`: invalid type: string, expected u64",
            ),
        ] {
            assert_eq!(e(doc).to_string(), want, "{doc}");
        }
        assert!(parse_json::<Doc>(br#"{"map": {"k": {"need": "v"}}, "n": 3}"#, &|_| true).is_ok());
    }
}
