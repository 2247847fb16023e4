//! The endpoints the filter answers itself from the configuration: `GET /v1/models`,
//! `GET /v1/models/{id}`, `GET /v1/providers`, `GET /v1/mappings`.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::auth::tenant::Tenant;
use crate::catalog::caching::{PromptCaching, MAX_CACHE_POINTS};
use crate::catalog::models;
use crate::catalog::{provider_of, Resolved};
use crate::config::Config;
use crate::error::ApiError;
use crate::openai::models::{
    BedrockModel, CachePoints, EmbeddingFacts, Mapping, MappingList, Model, ModelList,
    PromptCachingFacts, Provider, ProviderCapabilities, ProviderList, METADATA_VERSION,
};
use crate::upstream::Upstream;

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("serialising: {e}")))
}

fn model_object(cfg: &Config, r: &Resolved<'_>) -> Model {
    let entry = r.entry;
    let provider = entry
        .map(|e| e.provider.clone())
        .or_else(|| provider_of(&r.bedrock_id).map(str::to_string))
        .unwrap_or_else(|| "bedrock".to_string());
    let (region, _) = cfg.region_for(&r.bedrock_id);
    let gateway_alias = match &cfg.upstream {
        Upstream::Gateway(g) => Some(g.alias_for(&r.bedrock_id)),
        Upstream::Aws(_) => None,
    };
    Model {
        id: r.requested.clone(),
        object: "model",
        created: entry.map_or(0, |e| e.created),
        owned_by: provider.clone(),
        provider,
        bedrock: BedrockModel {
            model_id: r.bedrock_id.clone(),
            base_model_id: entry.map(|e| e.id.clone()),
            alias: r.alias_of.is_some(),
            name: entry.map(|e| e.name.clone()),
            input_modalities: entry.map(|e| e.input_modalities.clone()),
            output_modalities: entry.map(|e| e.output_modalities.clone()),
            context_window: entry.map(|e| e.context_window),
            max_output_tokens: entry.map(|e| e.max_output_tokens),
            streaming: entry.map(|e| e.streaming),
            tools: entry.map(|e| e.tools),
            reasoning: entry.map(|e| crate::catalog::reasoning::reasons(&e.id)),
            prompt_caching: entry.map(|e| caching_facts(e.prompt_caching)),
            content: entry.map(|e| e.content),
            inference_profiles: entry.map(|e| e.profile_ids()),
            region: region.to_string(),
            gateway_alias,
            embedding: crate::catalog::embedding::model_for(&r.bedrock_id).map(|m| {
                let mut supported = m.dimensions.to_vec();
                supported.sort_unstable();
                EmbeddingFacts {
                    dimensions: m.default_dimensions(),
                    supported_dimensions: supported,
                    max_inputs_per_call: m.batch,
                }
            }),
        },
    }
}

/// A catalog entry's prompt caching as `/v1/models` shows it: what the translation lets
/// through to Bedrock (`pipeline/bedrock.rs` reads the same entry).
fn caching_facts(caching: Option<PromptCaching>) -> PromptCachingFacts {
    match caching {
        None => PromptCachingFacts::Unsupported,
        Some(c) => PromptCachingFacts::Supported(CachePoints {
            system: true,
            messages: true,
            tools: c.tools,
            ttl_1h: c.ttl_1h,
            min_tokens: c.min_tokens,
            max_cache_points: MAX_CACHE_POINTS,
        }),
    }
}

/// Tenant isolation: a tenant sees only the models it may call; an admin sees every model.
fn visible(tenant: &Tenant, r: &Resolved<'_>) -> bool {
    may_see(tenant, &r.bedrock_id)
}

/// The one rule behind every metadata endpoint: the model a Bedrock id calls is one the
/// tenant may call (by its canonical id), or the tenant is an admin.
fn may_see(tenant: &Tenant, bedrock_id: &str) -> bool {
    tenant.admin || tenant.allows(crate::catalog::model_id::canonical(bedrock_id))
}

/// `GET /v1/models`: aliases first (sorted), then the catalog's models, as far as the
/// tenant may see them.
pub fn list_models(cfg: &Config, tenant: &Tenant) -> Result<Vec<u8>, ApiError> {
    let c = &cfg.catalog;
    let aliases = c.aliases().keys().filter_map(|a| c.lookup(a));
    let entries = c.entries().iter().filter_map(|e| c.lookup(&e.id));
    let data = aliases
        .chain(entries)
        .filter(|r| visible(tenant, r))
        .map(|r| model_object(cfg, &r))
        .collect();
    json(&ModelList {
        object: "list",
        data,
    })
}

/// `GET /v1/models/{id}`; `raw_id` is the path segment as received (percent-decoded here).
pub fn retrieve_model(cfg: &Config, tenant: &Tenant, raw_id: &str) -> Result<Vec<u8>, ApiError> {
    let id = percent_decode_str(raw_id).decode_utf8_lossy();
    match cfg.catalog.lookup(&id) {
        Some(r) if visible(tenant, &r) => json(&model_object(cfg, &r)),
        _ => Err(ApiError::model_not_found(&id)),
    }
}

/// `GET /v1/providers`: the providers of the models the tenant may see.
pub fn providers(cfg: &Config, tenant: &Tenant) -> Result<Vec<u8>, ApiError> {
    let c = &cfg.catalog;
    let mut by_provider: BTreeMap<&str, Provider> = BTreeMap::new();
    for e in c.entries().iter().filter(|e| may_see(tenant, &e.id)) {
        let p = by_provider.entry(&e.provider).or_insert_with(|| Provider {
            id: e.provider.clone(),
            object: "provider",
            models: Vec::new(),
            aliases: Vec::new(),
            capabilities: ProviderCapabilities {
                streaming: false,
                tools: false,
                input_modalities: Vec::new(),
                output_modalities: Vec::new(),
                max_context_window: 0,
                inference_profiles: Vec::new(),
            },
        });
        p.models.push(e.id.clone());
        let caps = &mut p.capabilities;
        caps.streaming |= e.streaming;
        caps.tools |= e.tools;
        caps.max_context_window = caps.max_context_window.max(e.context_window);
        for (have, add) in [
            (&mut caps.input_modalities, &e.input_modalities),
            (&mut caps.output_modalities, &e.output_modalities),
            (&mut caps.inference_profiles, &e.inference_profiles),
        ] {
            for m in add {
                if !have.contains(m) {
                    have.push(m.clone());
                }
            }
        }
    }
    for (alias, target) in c.aliases().iter().filter(|(_, t)| may_see(tenant, t)) {
        let provider = c
            .entry_for(target)
            .map(|e| e.provider.as_str())
            .or_else(|| provider_of(target));
        if let Some(p) = provider.and_then(|p| by_provider.get_mut(p)) {
            p.aliases.push(alias.clone());
        }
    }
    json(&ProviderList {
        object: "list",
        version: METADATA_VERSION,
        data: by_provider.into_values().collect(),
    })
}

/// `GET /v1/mappings`: every alias, catalog model and inference profile the tenant may see,
/// with the Bedrock id, region (AWS) or gateway alias, and the upstream path it is called on.
pub fn mappings(cfg: &Config, tenant: &Tenant) -> Result<Vec<u8>, ApiError> {
    let c = &cfg.catalog;
    let mut names: Vec<(String, &'static str, String)> = Vec::new();
    for (alias, target) in c.aliases() {
        names.push((alias.clone(), "alias", target.clone()));
    }
    for e in c.entries() {
        names.push((e.id.clone(), "model", e.id.clone()));
        for p in e.profile_ids() {
            names.push((p.clone(), "inference_profile", p));
        }
    }
    names.retain(|(_, _, bedrock_id)| may_see(tenant, bedrock_id));
    let data = names
        .into_iter()
        .map(|(id, kind, bedrock_id)| {
            let (region, gateway_alias, path) = match &cfg.upstream {
                Upstream::Aws(_) => (
                    Some(cfg.region_for(&bedrock_id).0.to_string()),
                    None,
                    models::converse_path(&bedrock_id, false),
                ),
                Upstream::Gateway(g) => (
                    None,
                    Some(g.alias_for(&bedrock_id)),
                    g.path(&bedrock_id, false),
                ),
            };
            Mapping {
                id,
                object: "mapping",
                kind,
                bedrock_model_id: bedrock_id,
                region,
                gateway_alias,
                path,
            }
        })
        .collect();
    json(&MappingList {
        object: "list",
        version: METADATA_VERSION,
        upstream: cfg.upstream.mode(),
        default: "passthrough",
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn cfg(extra: &str) -> Config {
        Config::parse(
            format!(
                r#"{{"api_keys":["sk-local-demo"],"region":"us-east-1",
                    "model_aliases":{{"gpt-4o":"us.anthropic.claude-3-5-sonnet-20241022-v2:0","mine":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x"}},
                    {extra}}}"#
            )
            .as_bytes(),
            &|k| match k {
                "AWS_ACCESS_KEY_ID" => Some("AKID".into()),
                "AWS_SECRET_ACCESS_KEY" => Some("s".into()),
                _ => None,
            },
        )
        .unwrap()
    }

    /// A tenant allowed these names (aliases of [`cfg`] or Bedrock ids), as the
    /// configuration would hold them: by canonical id.
    fn tenant(models: Option<&[&str]>, admin: bool) -> Tenant {
        let aliases = cfg(r#""builtin_models":true"#).model_aliases;
        let canonical = |m: &&str| {
            crate::catalog::model_id::canonical(crate::catalog::models::resolve(&aliases, m))
                .to_string()
        };
        Tenant {
            name: "t".into(),
            models: models.map(|m| m.iter().map(canonical).collect()),
            allow_bedrock_model: true,
            admin,
            limits: Default::default(),
            model_limits: Default::default(),
            policy: Default::default(),
            prompt_caching: Default::default(),
            token_weights: Default::default(),
            s3: Default::default(),
        }
    }

    fn anyone() -> Tenant {
        tenant(None, false)
    }

    fn parse(b: Result<Vec<u8>, ApiError>) -> Value {
        serde_json::from_slice(&b.unwrap()).unwrap()
    }

    #[test]
    fn embedding_models_are_listed_and_marked_with_their_dimensions() {
        let v = parse(list_models(&cfg(r#""builtin_models":true"#), &anyone()));
        let data = v["data"].as_array().unwrap();
        let titan = data
            .iter()
            .find(|m| m["id"] == "amazon.titan-embed-text-v2:0")
            .unwrap();
        assert_eq!(
            titan["bedrock"]["embedding"],
            serde_json::json!({"dimensions": 1024, "supported_dimensions": [256, 512, 1024], "max_inputs_per_call": 1})
        );
        assert_eq!(
            titan["bedrock"]["output_modalities"],
            serde_json::json!(["embedding"])
        );
        assert_eq!(titan["bedrock"]["streaming"], false);
        for id in [
            "cohere.embed-english-v3",
            "cohere.embed-multilingual-v3",
            "cohere.embed-v4:0",
            "amazon.nova-2-multimodal-embeddings-v1:0",
        ] {
            let m = data.iter().find(|m| m["id"] == id).unwrap();
            assert!(
                m["bedrock"]["embedding"]["dimensions"].as_u64().is_some(),
                "{id}"
            );
        }
        let chat = data.iter().find(|m| m["id"] == "gpt-4o").unwrap();
        assert!(chat["bedrock"].get("embedding").is_none());
    }

    #[test]
    fn lists_aliases_then_the_catalog() {
        let v = parse(list_models(
            &cfg(r#""models":[{"id":"acme.m-v1:0","region":"eu-west-1"}]"#),
            &anyone(),
        ));
        assert_eq!(v["object"], "list");
        let data = v["data"].as_array().unwrap();
        assert_eq!(data[0]["id"], "gpt-4o");
        assert_eq!(data[0]["owned_by"], "anthropic");
        assert_eq!(data[0]["bedrock"]["alias"], true);
        assert_eq!(data[0]["bedrock"]["context_window"], 200_000);
        // gpt-4o is Claude 3.5 Sonnet v2 here: no extended thinking.
        assert_eq!(data[0]["bedrock"]["reasoning"], false);
        let reasoning =
            |id: &str| data.iter().find(|m| m["id"] == id).unwrap()["bedrock"]["reasoning"].clone();
        assert_eq!(reasoning("anthropic.claude-3-7-sonnet-20250219-v1:0"), true);
        assert_eq!(reasoning("amazon.nova-pro-v1:0"), false);
        assert_eq!(data[1]["id"], "mine");
        assert_eq!(data[1]["provider"], "bedrock");
        assert!(data[1]["bedrock"].get("context_window").is_none());
        let acme = data.iter().find(|m| m["id"] == "acme.m-v1:0").unwrap();
        assert_eq!(
            (
                acme["provider"].as_str(),
                acme["bedrock"]["region"].as_str()
            ),
            (Some("acme"), Some("eu-west-1"))
        );
        for m in data {
            assert_eq!(m["object"], "model");
            assert!(m["created"].is_u64());
        }
    }

    #[test]
    fn models_say_which_content_they_take() {
        let v = parse(list_models(
            &cfg(
                r#""models":[{"id":"amazon.nova-micro-v1:0","documents":true},{"id":"acme.m-v1:0","tool_result_images":false}]"#,
            ),
            &anyone(),
        ));
        let data = v["data"].as_array().unwrap();
        let flags = |id: &str| {
            let b = &data.iter().find(|m| m["id"] == id).unwrap()["bedrock"];
            ["documents", "citations", "s3_sources", "tool_result_images"].map(|k| b[k].clone())
        };
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        assert_eq!(
            flags("gpt-4o"),
            [t.clone(), t.clone(), f.clone(), t.clone()]
        );
        assert_eq!(
            flags("amazon.nova-pro-v1:0"),
            [t.clone(), f.clone(), t.clone(), t.clone()]
        );
        // A `models` entry overrides what the built-in one says; unknown ids take all, but
        // what the entry turns off.
        assert_eq!(
            flags("amazon.nova-micro-v1:0"),
            [t.clone(), f.clone(), f.clone(), f.clone()]
        );
        assert_eq!(flags("acme.m-v1:0"), [t.clone(), t.clone(), t, f]);
        // Names without a catalog entry say nothing.
        let mine = data.iter().find(|m| m["id"] == "mine").unwrap();
        assert!(mine["bedrock"].get("documents").is_none());
    }

    #[test]
    fn models_say_where_they_take_cache_points() {
        let v = parse(list_models(
            &cfg(
                r#""models":[{"id":"amazon.nova-micro-v1:0","prompt_caching":{"enabled":false}},{"id":"acme.m-v1:0","prompt_caching":{"min_tokens":2048}}]"#,
            ),
            &anyone(),
        ));
        let data = v["data"].as_array().unwrap();
        let caching = |id: &str| {
            data.iter().find(|m| m["id"] == id).unwrap()["bedrock"]["prompt_caching"].clone()
        };
        let points = |tools: bool, ttl_1h: bool, min_tokens: u32| {
            serde_json::json!({"system": true, "messages": true, "tools": tools,
                "ttl_1h": ttl_1h, "min_tokens": min_tokens, "max_cache_points": 4})
        };
        // gpt-4o is Claude 3.5 Sonnet v2 here: caching was a preview only.
        assert_eq!(caching("gpt-4o"), Value::Bool(false));
        assert_eq!(
            caching("anthropic.claude-3-7-sonnet-20250219-v1:0"),
            points(true, false, 1024)
        );
        assert_eq!(
            caching("anthropic.claude-sonnet-4-5-20250929-v1:0"),
            points(true, true, 1024)
        );
        assert_eq!(caching("amazon.nova-pro-v1:0"), points(false, false, 1000));
        assert_eq!(
            caching("meta.llama3-3-70b-instruct-v1:0"),
            Value::Bool(false)
        );
        // A `models` entry overrides what the built-in one says, or says it for a new id.
        assert_eq!(caching("amazon.nova-micro-v1:0"), Value::Bool(false));
        assert_eq!(caching("acme.m-v1:0"), points(false, false, 2048));
        // Names without a catalog entry say nothing.
        let mine = data.iter().find(|m| m["id"] == "mine").unwrap();
        assert!(mine["bedrock"].get("prompt_caching").is_none());
    }

    #[test]
    fn retrieves_by_alias_id_or_profile_and_404s_the_rest() {
        let c = cfg(r#""builtin_models":true"#);
        let v = parse(retrieve_model(
            &c,
            &anyone(),
            "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0",
        ));
        assert_eq!(v["id"], "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
        assert_eq!(
            v["bedrock"]["base_model_id"],
            "anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        assert_eq!(
            parse(retrieve_model(&c, &anyone(), "gpt-4o"))["bedrock"]["model_id"],
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
        );
        let e = retrieve_model(&c, &anyone(), "gpt-5").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (404, Some("model_not_found"))
        );
    }

    #[test]
    fn a_tenant_sees_only_its_models_and_an_admin_sees_all() {
        let c = cfg(r#""builtin_models":true"#);
        let ids = |t: &Tenant| -> Vec<String> {
            parse(list_models(&c, t))["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect()
        };
        let all = ids(&anyone());
        assert!(all.len() > 5);
        let limited = tenant(Some(&["gpt-4o", "amazon.nova-pro-v1:0"]), false);
        // `gpt-4o` calls Claude 3.5 Sonnet v2: the tenant may call that model by any name.
        assert_eq!(
            ids(&limited),
            vec![
                "gpt-4o",
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                "amazon.nova-pro-v1:0"
            ]
        );
        assert_eq!(ids(&tenant(Some(&["gpt-4o"]), true)), all);
        assert!(retrieve_model(&c, &limited, "gpt-4o").is_ok());
        assert!(retrieve_model(&c, &limited, "eu.amazon.nova-pro-v1%3A0").is_ok());
        let e =
            retrieve_model(&c, &limited, "anthropic.claude-3-5-haiku-20241022-v1%3A0").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (404, Some("model_not_found"))
        );
    }

    #[test]
    fn providers_and_mappings_are_versioned() {
        let c = cfg(r#""builtin_models":true"#);
        let p = parse(providers(&c, &anyone()));
        assert_eq!(p["version"], METADATA_VERSION);
        let anthropic = p["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == "anthropic")
            .unwrap();
        assert!(anthropic["aliases"]
            .as_array()
            .unwrap()
            .contains(&Value::from("gpt-4o")));
        assert_eq!(anthropic["capabilities"]["tools"], true);
        let m = parse(mappings(&c, &anyone()));
        assert_eq!(
            (m["upstream"].as_str(), m["version"].as_str()),
            (Some("aws"), Some(METADATA_VERSION))
        );
        let first = &m["data"][0];
        assert_eq!(first["id"], "gpt-4o");
        assert_eq!(
            first["path"],
            "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
        );
        assert_eq!(first["region"], "us-east-1");
    }

    #[test]
    fn providers_and_mappings_show_a_tenant_only_its_models() {
        let c = cfg(r#""builtin_models":true"#);
        let limited = tenant(Some(&["gpt-4o"]), false);
        let p = parse(providers(&c, &limited));
        let data = p["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{p}");
        assert_eq!(data[0]["id"], "anthropic");
        assert_eq!(
            data[0]["models"],
            serde_json::json!(["anthropic.claude-3-5-sonnet-20241022-v2:0"])
        );
        assert_eq!(data[0]["aliases"], serde_json::json!(["gpt-4o"]));
        let m = parse(mappings(&c, &limited));
        let ids: Vec<&str> = m["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["bedrock_model_id"].as_str().unwrap())
            .collect();
        assert!(!ids.is_empty());
        for id in &ids {
            assert_eq!(
                crate::catalog::model_id::canonical(id),
                "anthropic.claude-3-5-sonnet-20241022-v2:0"
            );
        }
        let all = parse(mappings(&c, &tenant(Some(&["gpt-4o"]), true)));
        assert!(all["data"].as_array().unwrap().len() > ids.len());
    }
}
