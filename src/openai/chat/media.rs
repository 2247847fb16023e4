//! What images and documents share: inline base64 (checked, re-encoded canonically) and
//! `s3://bucket/key` URLs (checked against botocore's `S3Uri`; Bedrock reads the object, the
//! filter never fetches anything).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::types::S3Object;

/// Accepts standard base64 with or without padding (some clients strip it).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// botocore's `S3Uri` is at most 1024 characters.
const MAX_S3_URI: usize = 1024;

/// Why inline data or an `s3://` URL cannot be sent; the 400's message (the caller names the
/// field). `&'static str`s name what was read (`data URL`, `document`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaError {
    InvalidBase64(&'static str, base64::DecodeError),
    Empty(&'static str),
    BadBucket,
    NoObject,
    S3UriTooLong,
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidBase64(what, e) => write!(f, "the {what} is not valid base64: {e}"),
            Self::Empty(what) => write!(f, "the {what} is empty"),
            Self::BadBucket => f.write_str("not an S3 bucket name: 3-63 characters of a-z, 0-9, `.` and `-`, starting and ending with a letter or digit"),
            Self::NoObject => f.write_str("the S3 URL names no object: `s3://bucket/key`"),
            Self::S3UriTooLong => write!(
                f,
                "the S3 URL must be at most {MAX_S3_URI} characters, without control characters"
            ),
        }
    }
}

impl std::error::Error for MediaError {}

/// Decodes base64 (white space around it ignored); empty is an error (`what` names it).
pub(super) fn decode(data: &str, what: &'static str) -> Result<Vec<u8>, MediaError> {
    let bytes = BASE64_LENIENT
        .decode(data.trim())
        .map_err(|e| MediaError::InvalidBase64(what, e))?;
    if bytes.is_empty() {
        return Err(MediaError::Empty(what));
    }
    Ok(bytes)
}

/// Canonical base64 of `bytes`, as Bedrock's `Blob` takes it.
pub(super) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Base64 characters checked per step of [`inline`] (a multiple of 4).
const CHUNK: usize = 4096;

/// How many decoded bytes [`Inline::head`] keeps: what format sniffing reads.
const HEAD: usize = 16;

/// Inline base64 data checked as [`decode`] checks it, without keeping the bytes.
#[derive(Debug)]
pub(super) struct Inline {
    /// The decoded length.
    pub len: usize,
    head: [u8; HEAD],
    /// Canonical base64 of the bytes, as Bedrock's `Blob` takes it.
    pub base64: String,
}

impl Inline {
    /// The first decoded bytes (at most [`HEAD`]).
    pub fn head(&self) -> &[u8] {
        &self.head[..self.len.min(HEAD)]
    }

    fn of(bytes: &[u8]) -> Self {
        let mut head = [0; HEAD];
        let n = bytes.len().min(HEAD);
        head[..n].copy_from_slice(&bytes[..n]);
        Self {
            len: bytes.len(),
            head,
            base64: encode(bytes),
        }
    }
}

/// Checks base64 `data` as [`decode`] does (same errors), a chunk at a time into a small
/// buffer: already canonical (padded, no white space), it is kept as it came rather than
/// decoded into a copy and encoded again.
pub(super) fn inline(data: &str, what: &'static str) -> Result<Inline, MediaError> {
    let trimmed = data.trim();
    let mut buf = [0u8; CHUNK / 4 * 3];
    let (mut len, mut head) = (0, [0u8; HEAD]);
    let mut rest = trimmed.as_bytes();
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(CHUNK));
        // Padding ends the data: a chunk ending in it with more after is an error `decode` names.
        let decoded = match chunk.last() {
            Some(b'=') if !tail.is_empty() => None,
            _ => BASE64_LENIENT.decode_slice(chunk, &mut buf).ok(),
        };
        let Some(n) = decoded else {
            return decode(data, what).map(|bytes| Inline::of(&bytes));
        };
        if len < HEAD {
            let k = (HEAD - len).min(n);
            head[len..len + k].copy_from_slice(&buf[..k]);
        }
        len += n;
        rest = tail;
    }
    if len == 0 {
        return Err(MediaError::Empty(what));
    }
    if !trimmed.len().is_multiple_of(4) {
        return decode(data, what).map(|bytes| Inline::of(&bytes));
    }
    Ok(Inline {
        len,
        head,
        base64: trimmed.to_string(),
    })
}

/// `s3://bucket/key` → the object, if `url` is one: the bucket as S3 names them (3-63
/// characters of `[a-z0-9.-]`, starting and ending with a letter or digit), a non-empty key
/// of printable characters, at most 1024 characters in all. `None` if `url` is not `s3://`.
pub(super) fn s3_url(url: &str) -> Option<Result<S3Object, MediaError>> {
    let rest = url.strip_prefix("s3://")?;
    Some(s3_object(url, rest))
}

fn s3_object(url: &str, rest: &str) -> Result<S3Object, MediaError> {
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_bucket(bucket) {
        return Err(MediaError::BadBucket);
    }
    if key.is_empty() {
        return Err(MediaError::NoObject);
    }
    if url.len() > MAX_S3_URI || key.chars().any(char::is_control) {
        return Err(MediaError::S3UriTooLong);
    }
    Ok(S3Object {
        bucket: bucket.to_string(),
        uri: url.to_string(),
    })
}

/// An S3 bucket name as botocore's `S3Uri` pattern has it: `[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]`.
pub fn valid_bucket(b: &str) -> bool {
    let bytes = b.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(c))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// The lower-cased extension of the last path segment of `name` (`report.PDF` → `pdf`).
pub(super) fn extension(name: &str) -> Option<String> {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_are_checked_like_botocore_s3uri() {
        let ok = s3_url("s3://bucket-a/dir/x.pdf").unwrap().unwrap();
        assert_eq!(ok.bucket, "bucket-a");
        assert_eq!(ok.uri, "s3://bucket-a/dir/x.pdf");
        assert!(s3_url("https://bucket-a/x").is_none());
        for bad in [
            "s3://Bucket/x",
            "s3://ab/x",
            "s3://-ab/x",
            "s3://ab-/x",
            "s3://bucket_a/x",
            "s3://bucket-a",
            "s3://bucket-a/",
            "s3://bucket-a/x\ny",
            "s3:///x",
        ] {
            assert!(s3_url(bad).unwrap().is_err(), "{bad}");
        }
        let long = format!("s3://bucket-a/{}", "k".repeat(1020));
        assert!(s3_url(&long).unwrap().is_err());
    }

    #[test]
    fn extensions_and_base64() {
        assert_eq!(extension("a/b/Report.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("a.b/noext"), None);
        assert_eq!(extension("x."), None);
        assert_eq!(decode(" aGk ", "file").unwrap(), b"hi");
        assert!(decode("", "file").is_err());
        assert!(decode("@@", "file").is_err());
        assert_eq!(encode(b"hi"), "aGk=");
    }

    /// `inline` answers as `decode` then `encode` do, across chunk boundaries too.
    #[test]
    fn inline_checks_as_decode_does() {
        let long = encode(&(0..=255u8).cycle().take(CHUNK).collect::<Vec<_>>());
        let cases = [
            "aGk=".to_string(),
            " aGk ".to_string(),
            "aGk".to_string(),
            "aGk==".to_string(),
            "aGl=".to_string(),
            "a".to_string(),
            "@@".to_string(),
            String::new(),
            "  ".to_string(),
            long.clone(),
            format!("{long}x"),
            format!("{}=={}", &long[..CHUNK - 2], &long[CHUNK..]),
            format!("{}AA==AAAA", &long[..CHUNK - 4]),
            long.trim_end_matches('=').to_string(),
        ];
        for data in cases {
            let want = decode(&data, "d");
            match inline(&data, "d") {
                Ok(got) => {
                    let bytes = want.unwrap();
                    assert_eq!(got.len, bytes.len());
                    assert_eq!(got.head(), &bytes[..bytes.len().min(HEAD)]);
                    assert_eq!(got.base64, encode(&bytes));
                }
                Err(e) => assert_eq!(Err(e), want, "{data}"),
            }
        }
    }
}
