//! `image_url` content parts: inline `data:` URLs, checked as base64 and re-encoded
//! canonically with the format taken from the bytes when they say, or `s3://` URLs with the
//! format from the key's extension. The filter never fetches: `http(s)` URLs are refused.

use super::media::{self, MediaError};
use super::types::{Image, MediaSource};

/// Why an `image_url` cannot be sent to Bedrock; the 400's message (`param` is the part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageError {
    /// An `http(s)` URL: the filter does not fetch.
    Remote,
    NotDataOrS3Url,
    NoComma,
    NotBase64Url,
    /// The declared type, when it is not one Bedrock takes.
    UnsupportedType(String),
    S3KeyWithoutImageExtension,
    Media(MediaError),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Remote => f.write_str("image URLs are not fetched: send the image inline as a base64 `data:` URL (png, jpeg, gif or webp)"),
            Self::NotDataOrS3Url => f.write_str("`image_url.url` must be a base64 `data:` URL or an `s3://` URL"),
            Self::NoComma => f.write_str("malformed data URL: no `,`"),
            Self::NotBase64Url => f.write_str("the data URL must be base64-encoded (`;base64,`)"),
            Self::UnsupportedType(t) => write!(
                f,
                "unsupported image type `{t}`: Bedrock takes png, jpeg, gif or webp"
            ),
            Self::S3KeyWithoutImageExtension => f.write_str(
                "an S3 image needs a key ending in .png, .jpg, .jpeg, .gif or .webp",
            ),
            Self::Media(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ImageError {}

impl From<MediaError> for ImageError {
    fn from(e: MediaError) -> Self {
        Self::Media(e)
    }
}

/// `data:image/png;base64,…` or `s3://bucket/key.png` → a Bedrock image.
pub(crate) fn parse_image_url(url: &str) -> Result<Image, ImageError> {
    if let Some(s3) = media::s3_url(url) {
        let object = s3?;
        let format = media::extension(&object.uri)
            .and_then(|e| image_format(&e))
            .ok_or(ImageError::S3KeyWithoutImageExtension)?;
        return Ok(Image {
            format,
            source: MediaSource::S3(object),
        });
    }
    let Some(rest) = url.strip_prefix("data:") else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err(ImageError::Remote);
        }
        return Err(ImageError::NotDataOrS3Url);
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(ImageError::NoComma);
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(ImageError::NotBase64Url);
    };
    let declared = mime
        .to_ascii_lowercase()
        .strip_prefix("image/")
        .and_then(image_format)
        .ok_or_else(|| ImageError::UnsupportedType(mime.to_string()))?;
    let data = media::inline(data, "data URL")?;
    // The bytes decide when they are recognisable: a mislabelled data URL still works.
    let format = sniff_image(data.head()).unwrap_or(declared);
    Ok(Image {
        format,
        source: MediaSource::Base64(data.base64),
    })
}

/// Bedrock's `ImageFormat` for a MIME subtype or file extension.
fn image_format(name: &str) -> Option<&'static str> {
    Some(match name {
        "png" => "png",
        "jpeg" | "jpg" => "jpeg",
        "gif" => "gif",
        "webp" => "webp",
        _ => return None,
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
