//! `model_aliases`, `models` (catalog entries) and `azure_deployments`: every model name the
//! configuration holds is one Bedrock accepts.

use std::collections::{BTreeMap, BTreeSet};

use super::raw::{RawModel, RawModelCaching};
use super::{err, is_region, ConfigError};
use crate::auth::tenant::TenantTable;
use crate::catalog::caching::{self, PromptCaching};
use crate::catalog::content::{self, ContentSupport};
use crate::catalog::{Catalog, ModelEntry, PROFILE_PREFIXES};

/// Aliases are client-facing names that resolve to Bedrock ids; deployments name a model
/// (an alias or a Bedrock id). Every id must be one Bedrock accepts, so nothing unchecked
/// reaches the request path, a header or a key.
pub(super) fn check_model_names(
    aliases: &BTreeMap<String, String>,
    deployments: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (alias, id) in aliases {
        let name_ok = crate::catalog::model_id::check_client_model("model", alias).is_ok();
        if !name_ok || !crate::catalog::model_id::is_bedrock_id(id) {
            return Err(err(format!(
                "`model_aliases` entry `{}` needs a name of 1-256 printable characters and a Bedrock model id, inference-profile id or ARN",
                crate::headers::printable(alias, 64)
            )));
        }
    }
    for (deployment, model) in deployments {
        if !crate::catalog::model_id::is_bedrock_id(crate::catalog::models::resolve(aliases, model))
        {
            return Err(err(format!(
                "`azure_deployments.{deployment}` must name an alias or a Bedrock model id"
            )));
        }
    }
    Ok(())
}

/// `models[i].inference_profiles` and `models[i].region`: known geographies, a region name.
fn check_placement(m: &RawModel, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if let Some(j) = m
        .inference_profiles
        .iter()
        .flatten()
        .position(|p| !PROFILE_PREFIXES.contains(&p.as_str()))
    {
        return Err(err(format!(
            "{} is not one of {}",
            at(&format!("inference_profiles[{j}]")),
            PROFILE_PREFIXES.join(", ")
        )));
    }
    if m.region.as_deref().is_some_and(|r| !is_region(r)) {
        return Err(err(format!("{} is not an AWS region name", at("region"))));
    }
    Ok(())
}

pub(super) fn parse_model(i: usize, m: RawModel) -> Result<ModelEntry, ConfigError> {
    let at = |f: &str| format!("`models[{i}].{f}`");
    let id = m.id.trim().to_string();
    if id.is_empty() {
        return Err(err(format!("{} is empty", at("id"))));
    }
    if !crate::catalog::model_id::is_bedrock_id(&id) {
        return Err(err(format!(
            "{} is not a Bedrock model id (letters, digits, `._:-`; `/` only in an ARN)",
            at("id")
        )));
    }
    // Unset fields fall back to the built-in entry of the same id, then to plain defaults.
    let base = crate::catalog::builtin_models()
        .into_iter()
        .find(|e| e.id == id);
    let provider = m
        .provider
        .clone()
        .filter(|p| !p.trim().is_empty())
        .or_else(|| base.as_ref().map(|b| b.provider.clone()))
        .or_else(|| crate::catalog::provider_of(&id).map(str::to_string))
        .ok_or_else(|| {
            err(format!(
                "{} is not set and cannot be read from the id",
                at("provider")
            ))
        })?;
    check_placement(&m, &at)?;
    let content = model_content(&m, base.as_ref().map(|b| b.content), &id);
    let inherited = base
        .as_ref()
        .map_or_else(|| caching::infer(&id), |b| b.prompt_caching);
    let prompt_caching = model_caching(&at("prompt_caching"), m.prompt_caching, inherited)?;
    let entry = ModelEntry {
        name: m
            .name
            .or_else(|| base.as_ref().map(|b| b.name.clone()))
            .unwrap_or_else(|| id.clone()),
        input_modalities: m
            .input_modalities
            .or_else(|| base.as_ref().map(|b| b.input_modalities.clone()))
            .unwrap_or_else(|| vec!["text".to_string()]),
        output_modalities: m
            .output_modalities
            .or_else(|| base.as_ref().map(|b| b.output_modalities.clone()))
            .unwrap_or_else(|| vec!["text".to_string()]),
        context_window: m
            .context_window
            .or(base.as_ref().map(|b| b.context_window))
            .unwrap_or(0),
        max_output_tokens: m
            .max_output_tokens
            .or(base.as_ref().map(|b| b.max_output_tokens))
            .unwrap_or(0),
        streaming: m
            .streaming
            .or(base.as_ref().map(|b| b.streaming))
            .unwrap_or(true),
        tools: m.tools.or(base.as_ref().map(|b| b.tools)).unwrap_or(false),
        inference_profiles: m
            .inference_profiles
            .or_else(|| base.as_ref().map(|b| b.inference_profiles.clone()))
            .unwrap_or_default(),
        region: m.region,
        created: m.created.or(base.as_ref().map(|b| b.created)).unwrap_or(0),
        prompt_caching,
        content,
        id,
        provider,
    };
    Ok(entry)
}

/// `models[i]`'s content flags (documents, citations, S3 sources, tool-result images), each
/// over the built-in entry's, else what the id says.
fn model_content(m: &RawModel, builtin: Option<ContentSupport>, id: &str) -> ContentSupport {
    let known = builtin.unwrap_or_else(|| content::infer(id));
    ContentSupport {
        documents: m.documents.unwrap_or(known.documents),
        citations: m.citations.unwrap_or(known.citations),
        s3_sources: m.s3_sources.unwrap_or(known.s3_sources),
        tool_result_images: m.tool_result_images.unwrap_or(known.tool_result_images),
    }
}

/// `models[i].prompt_caching` over what the model has without it (`inherited`: the built-in
/// entry's, else read from the id). Turning caching on needs `min_tokens` unless inherited.
fn model_caching(
    at: &str,
    raw: Option<RawModelCaching>,
    inherited: Option<PromptCaching>,
) -> Result<Option<PromptCaching>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(inherited);
    };
    if !raw.enabled {
        return Ok(None);
    }
    let min_tokens = raw
        .min_tokens
        .or(inherited.map(|c| c.min_tokens))
        .ok_or_else(|| {
            err(format!(
                "{at}: `min_tokens` is needed for a model whose prompt caching is not known"
            ))
        })?;
    Ok(Some(PromptCaching {
        min_tokens,
        tools: raw.tools.or(inherited.map(|c| c.tools)).unwrap_or(false),
        ttl_1h: raw.ttl_1h.or(inherited.map(|c| c.ttl_1h)).unwrap_or(false),
    }))
}

/// Canonical ids of every model the configuration names (catalog, aliases, tenants).
pub(super) fn known_models(catalog: &Catalog, tenants: &TenantTable) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    // Inserted one by one: `collect` into a set sorts first, which costs the wasm module a
    // copy of the standard stable sort for code that runs once.
    let catalog_ids = catalog.entries().iter().map(|e| e.id.as_str());
    for id in catalog_ids.chain(catalog.aliases().values().map(String::as_str)) {
        known.insert(crate::catalog::model_id::canonical(id).to_string());
    }
    for t in tenants.tenants() {
        for id in t.models.iter().flatten().chain(t.model_limits.keys()) {
            known.insert(id.clone());
        }
    }
    known
}
