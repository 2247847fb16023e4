//! Images and documents → Converse `image` / `document` blocks: S3 sources only from the
//! buckets the tenant may name (with the bucket's owner from the configuration), document
//! names made acceptable to Bedrock and unique, and only what the model takes
//! ([`ContentSupport`]); anything else is a 400 naming the field.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::content::ContentSupport;
use crate::converse::request::{
    CitationsConfig, ContentBlock, DocumentBlock, ImageBlock, ImageSource, S3Location,
};
use crate::error::ApiError;
use crate::openai::chat::{Document, Image, MediaSource};

/// Bedrock's `DocumentBlock.name` is at most 200 characters.
pub const MAX_NAME: usize = 200;

/// Bedrock takes at most five documents in one message.
pub const MAX_DOCUMENTS_PER_MESSAGE: usize = 5;

/// The buckets a tenant's `s3://` URLs may name, each with the account owning it when that
/// is another account (`s3_buckets`, `s3_bucket_owners`). Empty: no S3 source at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Access {
    buckets: BTreeMap<String, Option<String>>,
}

impl S3Access {
    /// No bucket.
    pub const EMPTY: Self = Self {
        buckets: BTreeMap::new(),
    };

    pub fn new(buckets: BTreeMap<String, Option<String>>) -> Self {
        Self { buckets }
    }

    /// `None` if the bucket is not allowed, else its owner (if configured).
    pub fn owner_of(&self, bucket: &str) -> Option<Option<&str>> {
        self.buckets.get(bucket).map(Option::as_deref)
    }
}

/// The request-wide part of turning media into blocks: what the model takes, the S3 buckets
/// allowed, and the document names already given (Bedrock wants them unique).
pub(super) struct Media<'a> {
    content: ContentSupport,
    s3: &'a S3Access,
    names: BTreeSet<String>,
}

impl<'a> Media<'a> {
    pub fn new(content: ContentSupport, s3: &'a S3Access) -> Self {
        Self {
            content,
            s3,
            names: BTreeSet::new(),
        }
    }

    /// An `image_url` part at `param` (`messages[i].content[j]`).
    pub fn image(&self, param: &str, img: &Image) -> Result<ImageBlock, ApiError> {
        Ok(ImageBlock {
            format: img.format,
            source: self.source(&format!("{param}.image_url.url"), &img.source)?,
        })
    }

    /// An `image_url` part of a tool message, if the model takes images in tool results.
    pub fn tool_result_image(&self, param: &str, img: &Image) -> Result<ImageBlock, ApiError> {
        if !self.content.tool_result_images {
            return Err(ApiError::invalid_param(
                param,
                "this model takes no images in tool results: send text only in `role: tool` messages",
            ));
        }
        self.image(param, img)
    }

    /// A `file` part at `param`: a document block with a Bedrock-safe, unique name.
    pub fn document(
        &mut self,
        param: &str,
        doc: &Document,
    ) -> Result<ContentBlock<'static>, ApiError> {
        if !self.content.documents {
            return Err(ApiError::invalid_param(
                param,
                "this model takes no documents (`file` parts)",
            ));
        }
        if doc.citations && !self.content.citations {
            return Err(ApiError::invalid_param(
                format!("{param}.citations"),
                "this model cannot cite documents: leave `citations` out",
            ));
        }
        let source = self.source(&format!("{param}.file.file_data"), &doc.source)?;
        // Without a file name, an S3 object's key names it.
        let filename = doc.filename.as_deref().or(match &doc.source {
            MediaSource::S3(object) => object.uri.rsplit('/').next(),
            MediaSource::Base64(_) => None,
        });
        let name = unique_name(&document_name(filename, doc.format), &mut self.names);
        Ok(ContentBlock::Document(DocumentBlock {
            format: doc.format,
            name,
            source,
            citations: doc.citations.then_some(CitationsConfig { enabled: true }),
        }))
    }

    /// Inline bytes as they are; an S3 object only from an allowed bucket, to a model that
    /// reads S3 (`param` names the URL's field).
    fn source(&self, param: &str, source: &MediaSource) -> Result<ImageSource, ApiError> {
        let object = match source {
            MediaSource::Base64(b) => return Ok(ImageSource::Bytes(b.clone())),
            MediaSource::S3(object) => object,
        };
        let Some(owner) = self.s3.owner_of(&object.bucket) else {
            return Err(ApiError::invalid_param(
                param,
                format!(
                    "the S3 bucket `{}` is not one this key may read from (`s3_buckets`)",
                    object.bucket
                ),
            ));
        };
        if !self.content.s3_sources {
            return Err(ApiError::invalid_param(
                param,
                "this model does not read S3 objects: send the bytes inline as a base64 `data:` URL",
            ));
        }
        Ok(ImageSource::S3Location(S3Location {
            uri: object.uri.clone(),
            bucket_owner: owner.map(str::to_string),
        }))
    }
}

/// Bedrock's document name from a file name: the extension of the format dropped; every
/// character other than ASCII letters, digits, `-`, `(`, `)`, `[` and `]` becomes a space;
/// runs of spaces become one; trimmed; at most [`MAX_NAME`] characters. Nothing left (or no
/// file name): `document`.
pub fn document_name(filename: Option<&str>, format: &str) -> String {
    let raw = filename.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let stem = match last.rsplit_once('.') {
        Some((stem, ext)) if ext.eq_ignore_ascii_case(format) || same_format(ext, format) => stem,
        _ => last,
    };
    let mut name = String::with_capacity(stem.len().min(MAX_NAME));
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else {
            ' '
        };
        if c == ' ' && (name.is_empty() || name.ends_with(' ')) {
            continue;
        }
        if name.len() == MAX_NAME {
            break;
        }
        name.push(c);
    }
    let name = name.trim_end();
    if name.is_empty() {
        "document".to_string()
    } else {
        name.to_string()
    }
}

/// Extensions naming the same format under another spelling (`htm` for `html`).
fn same_format(ext: &str, format: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    matches!(
        (ext.as_str(), format),
        ("htm", "html") | ("markdown", "md") | ("text", "txt")
    )
}

/// `name`, or `name (2)`, `name (3)`… (shortened to stay within [`MAX_NAME`]): the first one
/// not yet in `taken` (compared without case), which it joins.
fn unique_name(name: &str, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = name.to_string();
    let mut n = 1;
    while taken.contains(&candidate.to_ascii_lowercase()) {
        n += 1;
        let suffix = format!(" ({n})");
        let keep = MAX_NAME - suffix.len();
        let base = name.get(..keep.min(name.len())).unwrap_or(name).trim_end();
        candidate = format!("{base}{suffix}");
    }
    taken.insert(candidate.to_ascii_lowercase());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_bedrocks_character_rules() {
        let cases = [
            (Some("report.pdf"), "pdf", "report"),
            (
                Some("Q3 results (final) [v2].PDF"),
                "pdf",
                "Q3 results (final) [v2]",
            ),
            (Some("my_file..name.v2.pdf"), "pdf", "my file name v2"),
            (
                Some("  tabs\tand\n\nnewlines  .txt"),
                "txt",
                "tabs and newlines",
            ),
            (Some("../../etc/passwd"), "txt", "passwd"),
            (Some("C:\\Users\\me\\plan.docx"), "docx", "plan"),
            (Some("page.htm"), "html", "page"),
            (Some("data.csv"), "pdf", "data csv"),
            (Some("résumé.pdf"), "pdf", "r sum"),
            (
                Some("Ignore previous instructions!"),
                "txt",
                "Ignore previous instructions",
            ),
            (Some("...pdf"), "pdf", "document"),
            (Some(""), "pdf", "document"),
            (None, "md", "document"),
        ];
        for (filename, format, want) in cases {
            assert_eq!(document_name(filename, format), want, "{filename:?}");
        }
        let long = document_name(Some(&format!("{}.pdf", "a b".repeat(150))), "pdf");
        assert!(long.len() <= MAX_NAME && !long.ends_with(' '), "{long}");
    }

    #[test]
    fn names_are_made_unique_within_the_request() {
        let mut taken = BTreeSet::new();
        let got: Vec<String> = ["report", "Report", "report", "report (2)"]
            .iter()
            .map(|n| unique_name(n, &mut taken))
            .collect();
        assert_eq!(
            got,
            ["report", "Report (2)", "report (3)", "report (2) (2)"]
        );
        let long = "x".repeat(MAX_NAME);
        assert_eq!(unique_name(&long, &mut taken), long);
        let second = unique_name(&long, &mut taken);
        assert_eq!(second.len(), MAX_NAME);
        assert!(second.ends_with(" (2)"));
    }
}
