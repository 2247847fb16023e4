//! `file` content parts (OpenAI's `ChatCompletionRequestMessageContentPartFile`): documents
//! sent inline as `file.file_data` (a base64 `data:` URL, or bare base64 with the format
//! from `file.filename`) or, as an extension, an `s3://bucket/key` URL in `file_data`.
//! `file.file_id` is refused: there is no Files API behind this gateway.

use serde_json::{Map, Value};

use super::media;
use super::types::{Document, MediaSource};
use crate::error::ApiError;

/// Bedrock's limit on one document's bytes (4.5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024 + 512 * 1024;

/// The longest `file.filename` read (Bedrock's `name` is at most 200 characters anyway).
const MAX_FILENAME: usize = 1024;

/// A `file` part (`param` names it) → a document.
pub(crate) fn parse_file_part(param: &str, p: &Value) -> Result<Document, ApiError> {
    let bad = |field: &str, msg: String| ApiError::invalid_param(format!("{param}.{field}"), msg);
    let Some(Value::Object(file)) = p.get("file") else {
        return Err(bad("file", "a file part needs a `file` object".into()));
    };
    if file.get("file_id").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            "file.file_id",
            "`file_id` is not supported: this gateway has no Files API; send the document as `file_data` (a base64 `data:` URL) or an `s3://` URL".into(),
        ));
    }
    let filename = match file.get("filename") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_FILENAME => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                "file.filename",
                format!("`filename` must be a string of at most {MAX_FILENAME} characters"),
            ))
        }
    };
    let Some(Value::String(data)) = file.get("file_data") else {
        return Err(bad(
            "file.file_data",
            "a file part needs `file.file_data`: a base64 `data:` URL or an `s3://` URL".into(),
        ));
    };
    let from_name = filename
        .as_deref()
        .and_then(media::extension)
        .and_then(|e| format_of_extension(&e));
    let (format, source) = source(data, from_name).map_err(|(field, msg)| bad(field, msg))?;
    Ok(Document {
        format,
        filename,
        source,
        citations: citations(param, p)?,
    })
}

/// The format and bytes of `file_data`; an error names the field at fault.
fn source(
    data: &str,
    from_name: Option<&'static str>,
) -> Result<(&'static str, MediaSource), (&'static str, String)> {
    let unknown = |field| {
        (
            field,
            "cannot tell the document's format: Bedrock takes pdf, csv, doc, docx, xls, xlsx, html, txt or md (from the data URL's type or the file name)".to_string(),
        )
    };
    if let Some(s3) = media::s3_url(data) {
        let object = s3.map_err(|e| ("file.file_data", e.to_string()))?;
        let format = media::extension(&object.uri)
            .and_then(|e| format_of_extension(&e))
            .or(from_name)
            .ok_or_else(|| unknown("file.file_data"))?;
        return Ok((format, MediaSource::S3(object)));
    }
    if data.starts_with("http://") || data.starts_with("https://") {
        return Err((
            "file.file_data",
            "file URLs are not fetched: send the document inline as a base64 `data:` URL".into(),
        ));
    }
    let (declared, payload) = match data.strip_prefix("data:") {
        Some(rest) => {
            let (meta, payload) = rest
                .split_once(',')
                .ok_or(("file.file_data", "malformed data URL: no `,`".to_string()))?;
            let mime = meta.strip_suffix(";base64").ok_or((
                "file.file_data",
                "the data URL must be base64-encoded (`;base64,`)".to_string(),
            ))?;
            let essence = mime.split(';').next().unwrap_or_default().trim();
            (format_of_mime(&essence.to_ascii_lowercase()), payload)
        }
        None => (None, data),
    };
    let format = declared.or(from_name).ok_or_else(|| {
        unknown(if data.starts_with("data:") {
            "file.file_data"
        } else {
            "file.filename"
        })
    })?;
    let bytes =
        media::inline(payload, "document").map_err(|e| ("file.file_data", e.to_string()))?;
    if bytes.len > MAX_DOCUMENT_BYTES {
        return Err((
            "file.file_data",
            format!(
                "the document is {} bytes; Bedrock takes at most {MAX_DOCUMENT_BYTES} (4.5 MB)",
                bytes.len
            ),
        ));
    }
    Ok((format, MediaSource::Base64(bytes.base64)))
}

/// The extension `citations` on a file part: absent, `null`, or `{"enabled": bool}`.
fn citations(param: &str, p: &Value) -> Result<bool, ApiError> {
    match p.get("citations") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Object(c)) if only_enabled(c) => Ok(c["enabled"] == Value::Bool(true)),
        Some(_) => Err(ApiError::invalid_param(
            format!("{param}.citations"),
            "`citations` must be `{\"enabled\": true}` or `{\"enabled\": false}`",
        )),
    }
}

fn only_enabled(c: &Map<String, Value>) -> bool {
    c.len() == 1 && c.get("enabled").is_some_and(Value::is_boolean)
}

/// Bedrock's `DocumentFormat` for a MIME type (`application/octet-stream` says nothing).
fn format_of_mime(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "application/pdf" => "pdf",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" | "text/x-markdown" => "md",
        _ => return None,
    })
}

/// Bedrock's `DocumentFormat` for a file extension.
fn format_of_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "pdf" => "pdf",
        "csv" => "csv",
        "doc" => "doc",
        "docx" => "docx",
        "xls" => "xls",
        "xlsx" => "xlsx",
        "html" | "htm" => "html",
        "txt" | "text" => "txt",
        "md" | "markdown" => "md",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(file: Value) -> Result<Document, ApiError> {
        parse_file_part("p", &json!({"type": "file", "file": file}))
    }

    fn param(r: Result<Document, ApiError>) -> String {
        r.unwrap_err().param.unwrap_or_default()
    }

    #[test]
    fn formats_come_from_the_mime_type_then_the_file_name() {
        let cases = [
            (
                json!({"file_data": "data:application/pdf;base64,JVBERi0="}),
                "pdf",
            ),
            (
                json!({"file_data": "data:text/plain;charset=utf-8;base64,aGk=", "filename": "a.md"}),
                "txt",
            ),
            (
                json!({"file_data": "data:application/octet-stream;base64,aGk=", "filename": "A.CSV"}),
                "csv",
            ),
            (
                json!({"file_data": "aGk=", "filename": "notes.markdown"}),
                "md",
            ),
            (
                json!({"file_data": "data:application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64,aGk="}),
                "xlsx",
            ),
            (json!({"file_data": "s3://bucket-a/d/report.docx"}), "docx"),
            (
                json!({"file_data": "s3://bucket-a/d/report", "filename": "r.html"}),
                "html",
            ),
        ];
        for (file, want) in cases {
            assert_eq!(part(file.clone()).unwrap().format, want, "{file}");
        }
        let d =
            part(json!({"file_data": "data:application/pdf;base64,JVBERi0", "filename": "x.pdf"}))
                .unwrap();
        assert_eq!(d.source, MediaSource::Base64("JVBERi0=".into()));
        assert_eq!(d.filename.as_deref(), Some("x.pdf"));
        assert!(!d.citations);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!({"file_id": "file-abc"}), "p.file.file_id"),
            (json!({"filename": "x.pdf"}), "p.file.file_data"),
            (json!({"file_data": 7}), "p.file.file_data"),
            (
                json!({"file_data": "aGk=", "filename": 7}),
                "p.file.filename",
            ),
            (json!({"file_data": "aGk="}), "p.file.filename"),
            (
                json!({"file_data": "aGk=", "filename": "x.exe"}),
                "p.file.filename",
            ),
            (
                json!({"file_data": "data:image/png;base64,aGk="}),
                "p.file.file_data",
            ),
            (
                json!({"file_data": "data:application/pdf;base64,@@"}),
                "p.file.file_data",
            ),
            (
                json!({"file_data": "data:application/pdf,abc"}),
                "p.file.file_data",
            ),
            (
                json!({"file_data": "https://example.com/x.pdf"}),
                "p.file.file_data",
            ),
            (
                json!({"file_data": "s3://Bad_Bucket/x.pdf"}),
                "p.file.file_data",
            ),
            (
                json!({"file_data": "s3://bucket-a/x.bin"}),
                "p.file.file_data",
            ),
        ];
        for (file, want) in cases {
            assert_eq!(param(part(file.clone())), want, "{file}");
        }
        assert_eq!(
            param(parse_file_part("p", &json!({"type": "file"}))),
            "p.file"
        );
        let big = media::encode(&vec![b'a'; MAX_DOCUMENT_BYTES + 1]);
        let e = part(json!({"file_data": format!("data:text/plain;base64,{big}")})).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("p.file.file_data"));
        assert!(e.message.contains("4.5 MB"), "{}", e.message);
        let exact = media::encode(&vec![b'a'; MAX_DOCUMENT_BYTES]);
        assert!(part(json!({"file_data": format!("data:text/plain;base64,{exact}")})).is_ok());
    }

    #[test]
    fn citations_are_asked_for_on_the_part() {
        let with = |c: Value| {
            parse_file_part(
                "p",
                &json!({"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}, "citations": c}),
            )
        };
        assert!(with(json!({"enabled": true})).unwrap().citations);
        assert!(!with(json!({"enabled": false})).unwrap().citations);
        assert!(!with(Value::Null).unwrap().citations);
        for bad in [
            json!(true),
            json!({}),
            json!({"enabled": "yes"}),
            json!({"enabled": true, "x": 1}),
        ] {
            assert_eq!(param(with(bad)), "p.citations");
        }
    }
}
