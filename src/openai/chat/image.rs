//! `image_url` content parts: only inline `data:` URLs (the filter never fetches), checked as
//! base64 and re-encoded canonically, with the format taken from the bytes when they say.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::types::Image;

/// Accepts standard base64 with or without padding (some clients strip it).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why an `image_url` cannot be sent to Bedrock; the 400's message (`param` is the part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageError {
    /// An `http(s)` URL: the filter does not fetch.
    Remote,
    NotDataUrl,
    NoComma,
    NotBase64Url,
    /// The declared type, when it is not one Bedrock takes.
    UnsupportedType(String),
    InvalidBase64(base64::DecodeError),
    Empty,
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Remote => f.write_str("image URLs are not fetched: send the image inline as a base64 `data:` URL (png, jpeg, gif or webp)"),
            Self::NotDataUrl => f.write_str("`image_url.url` must be a base64 `data:` URL"),
            Self::NoComma => f.write_str("malformed data URL: no `,`"),
            Self::NotBase64Url => f.write_str("the data URL must be base64-encoded (`;base64,`)"),
            Self::UnsupportedType(t) => write!(
                f,
                "unsupported image type `{t}`: Bedrock takes png, jpeg, gif or webp"
            ),
            Self::InvalidBase64(e) => write!(f, "the data URL is not valid base64: {e}"),
            Self::Empty => f.write_str("the image is empty"),
        }
    }
}

impl std::error::Error for ImageError {}

/// `data:image/png;base64,…` → a Bedrock image. Remote `http(s)` URLs are refused: the filter
/// does not fetch (Bedrock takes bytes or S3 locations only).
pub(super) fn parse_data_url(url: &str) -> Result<Image, ImageError> {
    let Some(rest) = url.strip_prefix("data:") else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err(ImageError::Remote);
        }
        return Err(ImageError::NotDataUrl);
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(ImageError::NoComma);
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(ImageError::NotBase64Url);
    };
    let declared = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => return Err(ImageError::UnsupportedType(other.to_string())),
    };
    let bytes = BASE64_LENIENT
        .decode(data.trim())
        .map_err(ImageError::InvalidBase64)?;
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    // The bytes decide when they are recognisable: a mislabelled data URL still works.
    let format = sniff_image(&bytes).unwrap_or(declared);
    Ok(Image {
        format,
        base64: STANDARD.encode(&bytes),
    })
}

fn sniff_image(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Some("gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}
