//! The model catalog: which models `/v1/models` lists, what each can do, and how a requested
//! name (an alias, a Bedrock base model id, a cross-region inference-profile id) resolves.
//!
//! Built-in defaults cover current Anthropic, Amazon Nova, Meta, Mistral, Cohere and DeepSeek
//! models on Bedrock; the plugin configuration adds or replaces entries (`models`), can turn
//! the defaults off (`builtin_models: false`), and names aliases (`model_aliases`). The
//! built-in figures are best-effort (context window and output limits as AWS documents them
//! in late 2025); anything that matters to a deployment belongs in its configuration.

pub mod caching;
pub mod content;
pub mod embedding;
pub mod model_id;
pub mod models;
pub mod reasoning;

use std::collections::BTreeMap;

/// Geography prefixes of Bedrock's cross-region (system-defined) inference profiles:
/// `us.anthropic.claude-…` routes within the US, `global.` anywhere.
pub(crate) const PROFILE_PREFIXES: [&str; 8] =
    ["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];

/// One model the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The Bedrock base model id (`anthropic.claude-3-5-sonnet-20241022-v2:0`).
    pub id: String,
    /// `anthropic`, `amazon`, `meta`, `mistral`, `cohere`, `deepseek`, …
    pub provider: String,
    /// Human-readable name.
    pub name: String,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    /// Tokens of context (prompt plus answer).
    pub context_window: u32,
    pub max_output_tokens: u32,
    pub streaming: bool,
    pub tools: bool,
    /// Geography prefixes with a system-defined inference profile (`us`, `eu`, …).
    pub inference_profiles: Vec<String>,
    /// Region to call this model in, when it differs from the configured `region`.
    pub region: Option<String>,
    /// Unix time of the model's release (the OpenAI model object's `created`).
    pub created: u64,
    /// Bedrock prompt caching (cache points), `None` for models without.
    pub prompt_caching: Option<caching::PromptCaching>,
    /// Documents, citations, S3 sources and tool-result images.
    pub content: content::ContentSupport,
}

impl ModelEntry {
    /// The inference-profile ids of this model (`us.anthropic.…`).
    pub fn profile_ids(&self) -> Vec<String> {
        self.inference_profiles
            .iter()
            .map(|p| format!("{p}.{}", self.id))
            .collect()
    }
}

/// A requested model name, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The name the client used.
    pub requested: String,
    /// What Bedrock is called with: the alias target, else the requested name.
    pub bedrock_id: String,
    /// Set when `requested` is an alias.
    pub alias_of: Option<&'a str>,
    /// The catalog entry of the model behind it, if known.
    pub entry: Option<&'a ModelEntry>,
}

/// Every known model and alias, validated once with the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    entries: Vec<ModelEntry>,
    aliases: BTreeMap<String, String>,
}

impl Catalog {
    /// Built-in entries (if `builtin`), then `extra` replacing same-id entries or appended.
    pub fn new(builtin: bool, extra: Vec<ModelEntry>, aliases: BTreeMap<String, String>) -> Self {
        let mut entries = if builtin {
            builtin_models()
        } else {
            Vec::new()
        };
        for e in extra {
            match entries.iter_mut().find(|x| x.id == e.id) {
                Some(slot) => *slot = e,
                None => entries.push(e),
            }
        }
        Self { entries, aliases }
    }

    pub(crate) fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    pub(crate) fn aliases(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }

    /// The entry for a Bedrock id: a base model id, an inference-profile id (`us.` + base id),
    /// or an ARN ending in either.
    pub(crate) fn entry_for(&self, bedrock_id: &str) -> Option<&ModelEntry> {
        let tail = bedrock_id
            .rsplit_once('/')
            .filter(|_| bedrock_id.starts_with("arn:"))
            .map_or(bedrock_id, |(_, t)| t);
        let base = strip_profile_prefix(tail);
        self.entries.iter().find(|e| e.id == base)
    }

    /// The Bedrock id a requested name calls: an alias target, else the name itself.
    pub(crate) fn bedrock_id<'a>(&'a self, requested: &'a str) -> &'a str {
        self.aliases
            .get(requested)
            .map(String::as_str)
            .unwrap_or(requested)
    }

    /// Resolves a name for `/v1/models/{id}`: an alias, a catalog model, or one of its
    /// inference profiles. `None` means the model is unknown (404 `model_not_found`).
    pub fn lookup(&self, requested: &str) -> Option<Resolved<'_>> {
        if let Some(target) = self.aliases.get(requested) {
            return Some(Resolved {
                requested: requested.to_string(),
                bedrock_id: target.clone(),
                alias_of: Some(target.as_str()),
                entry: self.entry_for(target),
            });
        }
        let entry = self.entry_for(requested)?;
        // A profile prefix must be one the model has: `eu.` of a US-only model is unknown.
        if let Some((prefix, _)) = requested
            .split_once('.')
            .filter(|(p, rest)| PROFILE_PREFIXES.contains(p) && *rest == entry.id)
        {
            if !entry.inference_profiles.iter().any(|p| p == prefix) {
                return None;
            }
        }
        Some(Resolved {
            requested: requested.to_string(),
            bedrock_id: requested.to_string(),
            alias_of: None,
            entry: Some(entry),
        })
    }
}

/// `us.anthropic.claude-…` → `anthropic.claude-…`; anything else unchanged.
pub(crate) fn strip_profile_prefix(id: &str) -> &str {
    match id.split_once('.') {
        Some((prefix, rest)) if PROFILE_PREFIXES.contains(&prefix) && rest.contains('.') => rest,
        _ => id,
    }
}

/// The provider part of a Bedrock id (`anthropic` of `us.anthropic.claude-…`), if it has one.
pub(crate) fn provider_of(bedrock_id: &str) -> Option<&str> {
    let tail = bedrock_id.rsplit('/').next().unwrap_or(bedrock_id);
    let base = strip_profile_prefix(tail);
    base.split_once('.')
        .map(|(p, _)| p)
        .filter(|p| !p.is_empty() && !p.contains(':'))
}

/// `(id, provider, name, inputs, context, max output, tools, profiles, release)`. Every
/// built-in model streams and answers text.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    u32,
    u32,
    bool,
    &'static [&'static str],
    u64,
);

const TEXT: &[&str] = &["text"];
const TEXT_IMAGE: &[&str] = &["text", "image"];
const TEXT_IMAGE_VIDEO: &[&str] = &["text", "image", "video"];
const US: &[&str] = &["us"];
const US_EU: &[&str] = &["us", "eu"];
const US_APAC: &[&str] = &["us", "apac"];
const US_EU_APAC: &[&str] = &["us", "eu", "apac"];
const US_EU_APAC_GLOBAL: &[&str] = &["us", "eu", "apac", "global"];
const US_EU_GLOBAL: &[&str] = &["us", "eu", "global"];
const NONE: &[&str] = &[];

#[rustfmt::skip]
const BUILTIN: &[Row] = &[
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic", "Claude Sonnet 4.5", TEXT_IMAGE, 200_000, 64_000, true, US_EU_APAC_GLOBAL, 1_759_104_000),
    ("anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic", "Claude Haiku 4.5", TEXT_IMAGE, 200_000, 64_000, true, US_EU_GLOBAL, 1_760_659_200),
    ("anthropic.claude-opus-4-1-20250805-v1:0", "anthropic", "Claude Opus 4.1", TEXT_IMAGE, 200_000, 32_000, true, US, 1_754_352_000),
    ("anthropic.claude-opus-4-20250514-v1:0", "anthropic", "Claude Opus 4", TEXT_IMAGE, 200_000, 32_000, true, US, 1_747_180_800),
    ("anthropic.claude-sonnet-4-20250514-v1:0", "anthropic", "Claude Sonnet 4", TEXT_IMAGE, 200_000, 64_000, true, US_EU_APAC_GLOBAL, 1_747_180_800),
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic", "Claude 3.7 Sonnet", TEXT_IMAGE, 200_000, 64_000, true, US_EU_APAC, 1_739_923_200),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic", "Claude 3.5 Sonnet v2", TEXT_IMAGE, 200_000, 8_192, true, US_APAC, 1_729_555_200),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic", "Claude 3.5 Haiku", TEXT, 200_000, 8_192, true, US, 1_729_555_200),
    ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic", "Claude 3 Haiku", TEXT_IMAGE, 200_000, 4_096, true, US_EU_APAC, 1_709_769_600),
    ("amazon.nova-premier-v1:0", "amazon", "Amazon Nova Premier", TEXT_IMAGE_VIDEO, 1_000_000, 32_000, true, US, 1_745_884_800),
    ("amazon.nova-pro-v1:0", "amazon", "Amazon Nova Pro", TEXT_IMAGE_VIDEO, 300_000, 10_000, true, US_EU_APAC, 1_733_184_000),
    ("amazon.nova-lite-v1:0", "amazon", "Amazon Nova Lite", TEXT_IMAGE_VIDEO, 300_000, 10_000, true, US_EU_APAC, 1_733_184_000),
    ("amazon.nova-micro-v1:0", "amazon", "Amazon Nova Micro", TEXT, 128_000, 10_000, true, US_EU_APAC, 1_733_184_000),
    ("meta.llama4-maverick-17b-instruct-v1:0", "meta", "Llama 4 Maverick 17B Instruct", TEXT_IMAGE, 1_000_000, 8_192, true, US, 1_745_971_200),
    ("meta.llama4-scout-17b-instruct-v1:0", "meta", "Llama 4 Scout 17B Instruct", TEXT_IMAGE, 3_500_000, 8_192, true, US, 1_745_971_200),
    ("meta.llama3-3-70b-instruct-v1:0", "meta", "Llama 3.3 70B Instruct", TEXT, 128_000, 8_192, true, US, 1_734_048_000),
    ("meta.llama3-2-90b-instruct-v1:0", "meta", "Llama 3.2 90B Instruct", TEXT_IMAGE, 128_000, 8_192, true, US, 1_727_222_400),
    ("meta.llama3-1-8b-instruct-v1:0", "meta", "Llama 3.1 8B Instruct", TEXT, 128_000, 8_192, true, US, 1_721_260_800),
    ("mistral.mistral-large-2407-v1:0", "mistral", "Mistral Large (24.07)", TEXT, 128_000, 8_192, true, NONE, 1_721_692_800),
    ("mistral.pixtral-large-2502-v1:0", "mistral", "Pixtral Large (25.02)", TEXT_IMAGE, 128_000, 8_192, true, US_EU, 1_743_465_600),
    ("mistral.mistral-small-2402-v1:0", "mistral", "Mistral Small (24.02)", TEXT, 32_000, 8_192, true, NONE, 1_709_251_200),
    ("cohere.command-r-plus-v1:0", "cohere", "Command R+", TEXT, 128_000, 4_096, true, NONE, 1_714_521_600),
    ("cohere.command-r-v1:0", "cohere", "Command R", TEXT, 128_000, 4_096, true, NONE, 1_714_521_600),
    ("deepseek.r1-v1:0", "deepseek", "DeepSeek-R1", TEXT, 128_000, 32_768, false, US, 1_741_651_200),
    ("deepseek.v3-v1:0", "deepseek", "DeepSeek-V3.1", TEXT, 128_000, 8_192, true, NONE, 1_758_153_600),
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The built-in catalog, newest first within each provider, then the embedding models.
pub fn builtin_models() -> Vec<ModelEntry> {
    let mut all = chat_models();
    all.extend(
        embedding::MODELS
            .iter()
            .map(embedding::EmbeddingModel::entry),
    );
    all
}

fn chat_models() -> Vec<ModelEntry> {
    BUILTIN
        .iter()
        .map(
            |&(id, provider, name, inputs, context, max_out, tools, profiles, created)| {
                ModelEntry {
                    id: id.to_string(),
                    provider: provider.to_string(),
                    name: name.to_string(),
                    input_modalities: strings(inputs),
                    output_modalities: strings(TEXT),
                    context_window: context,
                    max_output_tokens: max_out,
                    streaming: true,
                    tools,
                    inference_profiles: strings(profiles),
                    region: None,
                    created,
                    prompt_caching: caching::infer(id),
                    content: content::infer(id),
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONNET: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

    fn catalog() -> Catalog {
        let mut aliases = BTreeMap::new();
        aliases.insert("gpt-4o".to_string(), format!("us.{SONNET}"));
        aliases.insert(
            "custom".to_string(),
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc".to_string(),
        );
        Catalog::new(true, Vec::new(), aliases)
    }

    #[test]
    fn builtin_catalog_covers_the_providers_and_is_consistent() {
        let entries = builtin_models();
        for provider in [
            "anthropic",
            "amazon",
            "meta",
            "mistral",
            "cohere",
            "deepseek",
        ] {
            assert!(entries.iter().any(|e| e.provider == provider), "{provider}");
        }
        let mut ids: Vec<_> = entries.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), entries.len(), "duplicate ids");
        for e in &entries {
            assert_eq!(provider_of(&e.id), Some(e.provider.as_str()), "{}", e.id);
            assert!(e.max_output_tokens <= e.context_window, "{}", e.id);
            assert!(e.created > 1_600_000_000, "{}", e.id);
            for p in &e.inference_profiles {
                assert!(PROFILE_PREFIXES.contains(&p.as_str()), "{}: {p}", e.id);
            }
        }
    }

    #[test]
    fn resolves_aliases_base_ids_and_profiles() {
        let c = catalog();
        let r = c.lookup("gpt-4o").unwrap();
        assert_eq!(r.bedrock_id, format!("us.{SONNET}"));
        assert_eq!(r.alias_of, Some(r.bedrock_id.as_str()));
        assert_eq!(r.entry.unwrap().id, SONNET);

        assert_eq!(
            c.lookup(SONNET).unwrap().entry.unwrap().provider,
            "anthropic"
        );
        assert_eq!(
            c.lookup(&format!("apac.{SONNET}")).unwrap().bedrock_id,
            format!("apac.{SONNET}")
        );
        // Sonnet 3.5 v2 has no EU profile, and unknown names are unknown.
        assert!(c.lookup(&format!("eu.{SONNET}")).is_none());
        assert!(c.lookup("gpt-5").is_none());
        assert!(c.lookup("anthropic.claude-9").is_none());
        // An alias to something outside the catalog is still a model.
        let custom = c.lookup("custom").unwrap();
        assert!(custom.entry.is_none());
        // ARNs of profiles of catalog models find their entry.
        assert_eq!(
            c.entry_for(&format!(
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET}"
            ))
            .unwrap()
            .id,
            SONNET
        );
        assert_eq!(c.bedrock_id("gpt-4o"), format!("us.{SONNET}"));
        assert_eq!(c.bedrock_id("amazon.nova-pro-v1:0"), "amazon.nova-pro-v1:0");
    }

    #[test]
    fn config_entries_replace_or_extend_and_builtins_can_be_off() {
        let mut mine = builtin_models()[0].clone();
        mine.context_window = 1;
        let mut new = mine.clone();
        new.id = "acme.model-v1:0".into();
        let c = Catalog::new(true, vec![mine.clone(), new], BTreeMap::new());
        assert_eq!(c.entries().len(), builtin_models().len() + 1);
        assert_eq!(c.entry_for(&mine.id).unwrap().context_window, 1);
        let off = Catalog::new(false, vec![mine], BTreeMap::new());
        assert_eq!(off.entries().len(), 1);
        assert!(off.lookup("amazon.nova-pro-v1:0").is_none());
    }

    #[test]
    fn profile_prefixes_and_providers() {
        assert_eq!(strip_profile_prefix(&format!("global.{SONNET}")), SONNET);
        assert_eq!(strip_profile_prefix("us.x"), "us.x");
        assert_eq!(strip_profile_prefix(SONNET), SONNET);
        assert_eq!(provider_of("eu.amazon.nova-pro-v1:0"), Some("amazon"));
        assert_eq!(provider_of("claude-35-sonnet"), None);
    }
}
