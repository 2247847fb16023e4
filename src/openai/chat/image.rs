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

/// `data:image/png;base64,…` → a Bedrock image. Remote `http(s)` URLs are refused: the filter
/// does not fetch (Bedrock takes bytes or S3 locations only).
pub(super) fn parse_data_url(url: &str) -> Result<Image, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        if url.starts_with("http://") || url.starts_with("https://") {
            return Err("image URLs are not fetched: send the image inline as a base64 `data:` URL (png, jpeg, gif or webp)".into());
        }
        return Err("`image_url.url` must be a base64 `data:` URL".into());
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err("malformed data URL: no `,`".into());
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err("the data URL must be base64-encoded (`;base64,`)".into());
    };
    let declared = match mime.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(format!(
                "unsupported image type `{other}`: Bedrock takes png, jpeg, gif or webp"
            ))
        }
    };
    let bytes = BASE64_LENIENT
        .decode(data.trim())
        .map_err(|e| format!("the data URL is not valid base64: {e}"))?;
    if bytes.is_empty() {
        return Err("the image is empty".into());
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
