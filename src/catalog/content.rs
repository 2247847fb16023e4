//! Which content a model takes beyond text and images: documents, citations of them, S3
//! sources, images inside tool results. Sending one to a model without it is a Bedrock
//! `ValidationException`; the translation answers a clear 400 naming the field instead.
//!
//! Figures from AWS's "Supported models and model features" table for Converse (late 2025):
//! document chat for every current chat model except Amazon Nova Micro; S3 links for media
//! only for Amazon Nova Lite, Pro and Premier; images in tool results only for Amazon Nova and
//! Anthropic Claude 3 and later (botocore's `ToolResultContentBlock.image`), of those only the
//! models that see images; document citations (`citations.enabled`) for Claude 3.5 and later.

use serde::Serialize;

use super::models::claude_version;

/// What a model takes, as far as the request's content goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContentSupport {
    /// `document` blocks (OpenAI `file` parts).
    pub documents: bool,
    /// `citations: {enabled: true}` on a document.
    pub citations: bool,
    /// `s3Location` sources for images and documents.
    pub s3_sources: bool,
    /// `image` blocks inside a `toolResult`.
    pub tool_result_images: bool,
}

impl ContentSupport {
    /// Everything: for ids that do not say (custom and provisioned-model ARNs), Bedrock
    /// decides (a `models` entry in the configuration can say).
    pub const ALL: Self = Self {
        documents: true,
        citations: true,
        s3_sources: true,
        tool_result_images: true,
    };

    /// Documents only: most chat models.
    const DOCUMENTS: Self = Self {
        documents: true,
        citations: false,
        s3_sources: false,
        tool_result_images: false,
    };
}

/// The content support of a Bedrock model id (base id, inference-profile id, or an ARN
/// ending in one).
pub fn infer(model_id: &str) -> ContentSupport {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let base = super::strip_profile_prefix(tail);
    let Some((provider, name)) = base.split_once('.') else {
        return ContentSupport::ALL;
    };
    match provider {
        "anthropic" => {
            let version = claude_version(name);
            // Claude 3.5 Haiku reads no images, so none in tool results either.
            let sees_images = !name.contains("3-5-haiku");
            ContentSupport {
                documents: true,
                citations: version.is_none_or(|v| v >= (3, 5)),
                s3_sources: false,
                tool_result_images: sees_images && version.is_none_or(|v| v >= (3, 0)),
            }
        }
        "amazon" if name.starts_with("nova-micro") => ContentSupport {
            documents: false,
            ..ContentSupport::DOCUMENTS
        },
        "amazon" if name.starts_with("nova") => ContentSupport {
            s3_sources: true,
            tool_result_images: true,
            ..ContentSupport::DOCUMENTS
        },
        "amazon" | "meta" | "mistral" | "cohere" | "deepseek" | "openai" | "qwen" => {
            ContentSupport::DOCUMENTS
        }
        _ => ContentSupport::ALL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_is_read_from_the_model_id() {
        let f = |d, c, s, t| ContentSupport {
            documents: d,
            citations: c,
            s3_sources: s,
            tool_result_images: t,
        };
        #[rustfmt::skip]
        let cases = [
            ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", f(true, true, false, true)),
            ("anthropic.claude-3-haiku-20240307-v1:0", f(true, false, false, true)),
            ("anthropic.claude-3-5-haiku-20241022-v1:0", f(true, true, false, false)),
            ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", f(true, true, false, true)),
            ("amazon.nova-pro-v1:0", f(true, false, true, true)),
            ("us.amazon.nova-2-lite-v1:0", f(true, false, true, true)),
            ("amazon.nova-micro-v1:0", f(false, false, false, false)),
            ("meta.llama3-3-70b-instruct-v1:0", f(true, false, false, false)),
            ("deepseek.r1-v1:0", f(true, false, false, false)),
            ("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc", ContentSupport::ALL),
            ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-micro-v1:0", f(false, false, false, false)),
        ];
        for (id, want) in cases {
            assert_eq!(infer(id), want, "{id}");
        }
    }
}
