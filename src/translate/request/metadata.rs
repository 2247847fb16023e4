//! `user` and `metadata` → `requestMetadata` (Bedrock's charset and limits, else ignored).
//! `service_tier` is in [`crate::translate::service_tier`].

use std::collections::BTreeMap;

use super::Ignored;
use crate::openai::chat::ChatRequest;

/// `requestMetadata`: `user`, then the `metadata` pairs (at most 16 entries) that Bedrock
/// accepts; anything else is ignored.
pub(super) fn request_metadata(
    req: &ChatRequest,
    ignored: &mut Ignored,
) -> BTreeMap<String, String> {
    let mut request_metadata = BTreeMap::new();
    if let Some(user) = &req.user {
        if metadata_ok(user, 0) {
            request_metadata.insert("user".to_string(), user.clone());
        } else {
            ignored.add("user");
        }
    }
    for (k, v) in &req.metadata {
        if metadata_ok(k, 1) && metadata_ok(v, 0) && request_metadata.len() < 16 {
            request_metadata
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        } else {
            ignored.add("metadata");
        }
    }
    request_metadata
}

/// `RequestMetadata` keys and values: `[a-zA-Z0-9\s:_@$#=/+,-.]`, up to 256 characters.
fn metadata_ok(s: &str, min: usize) -> bool {
    (min..=256).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c))
}
