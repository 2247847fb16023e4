//! Path forms: the URLs OpenAI clients are already pointed at, normalised to one canonical
//! OpenAI path (`/v1/chat/completions`) before routing.
//!
//! | form | example | becomes |
//! |---|---|---|
//! | OpenAI | `/v1/chat/completions` | itself |
//! | prefixed (`path_prefix: "/openai"`) | `/openai/v1/chat/completions` | `/v1/chat/completions` |
//! | Azure OpenAI | `/openai/deployments/{deployment}/chat/completions?api-version=2024-10-21` | `/v1/chat/completions`, model from `azure_deployments[deployment]`, or the deployment name itself when `azure_deployments` is empty |
//!
//! The query string and a fragment are cut off and one trailing `/` is dropped in every form.
//! Anything else is returned unchanged (and routing answers 404). The Azure form takes the
//! caller's key from the `api-key` header too (the `AzureOpenAI` SDK client sends it there).

use crate::config::path_forms::{valid_deployment, PathForms};
use crate::error::ApiError;

const AZURE_DEPLOYMENTS: &str = "/openai/deployments/";

/// Which form the client used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    OpenAi,
    Azure {
        deployment: String,
        /// The configured model for the deployment; `None` when it is not configured.
        model: Option<String>,
        /// The `api-version` query parameter; `None` when missing.
        api_version: Option<String>,
    },
}

/// A request path in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The OpenAI path, e.g. `/v1/chat/completions` (no query, no trailing `/`).
    pub path: String,
    /// The raw query string (without `?`), possibly empty.
    pub query: String,
    pub form: Form,
}

impl Route {
    /// A 404 for an Azure deployment that is not configured, a 400 for a missing
    /// `api-version`; `Ok` for everything else.
    pub fn check(&self) -> Result<(), ApiError> {
        match &self.form {
            Form::OpenAi => Ok(()),
            Form::Azure {
                deployment,
                model: None,
                ..
            } => Err(ApiError::not_found(format!(
                "The API deployment `{deployment}` does not exist (it is not in `azure_deployments`)."
            ))
            .with_code("DeploymentNotFound")),
            Form::Azure {
                api_version: None, ..
            } => Err(ApiError::invalid_param(
                "api-version",
                "Missing required query parameter `api-version` (e.g. `?api-version=2024-10-21`).",
            )),
            Form::Azure { .. } => Ok(()),
        }
    }

    /// The model the deployment stands for, which replaces the body's `model`.
    pub fn model_override(&self) -> Option<&str> {
        match &self.form {
            Form::Azure { model, .. } => model.as_deref(),
            Form::OpenAi => None,
        }
    }

    /// The caller's credential as an `Authorization` value: the header itself, or, on the
    /// Azure form only and when there is no `Authorization`, `Bearer <api-key header>`.
    pub fn authorization(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Option<String> {
        match (authorization, &self.form, api_key) {
            (Some(a), _, _) => Some(a.to_string()),
            (None, Form::Azure { .. }, Some(k)) => Some(format!("Bearer {}", k.trim())),
            (None, _, _) => None,
        }
    }
}

/// Normalises a raw `:path`.
pub fn normalise(forms: &PathForms, raw: &str) -> Route {
    let raw = raw.split('#').next().unwrap_or("");
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let path = path.strip_suffix('/').unwrap_or(path);
    let openai = |p: &str| Route {
        path: p.to_string(),
        query: query.to_string(),
        form: Form::OpenAi,
    };
    if let Some(prefix) = &forms.prefix {
        if let Some(rest) = path.strip_prefix(prefix.as_str()) {
            if rest.starts_with("/v1/") {
                return openai(rest);
            }
        }
    }
    if let Some(rest) = path.strip_prefix(AZURE_DEPLOYMENTS) {
        if let Some((deployment, op)) = rest.split_once('/') {
            if valid_deployment(deployment) && !op.is_empty() {
                let api_version = query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, v)| *k == "api-version" && !v.is_empty())
                    .map(|(_, v)| v.to_string());
                return Route {
                    path: format!("/v1/{op}"),
                    query: query.to_string(),
                    form: Form::Azure {
                        deployment: deployment.to_string(),
                        model: forms.model_for(deployment),
                        api_version,
                    },
                };
            }
        }
    }
    openai(path)
}

/// Replaces the request body's `model` with the deployment's model. The deployment fixes
/// the model, so a `bedrock_model` that would call another one is refused. A body that is
/// not a JSON object is returned unchanged (the parser then names the problem).
pub(crate) fn override_model(body: &[u8], model: &str) -> Result<Vec<u8>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut obj)) => {
            if obj.get("bedrock_model").is_some_and(|v| !v.is_null()) {
                return Err(ApiError::invalid_param(
                    "bedrock_model",
                    "`bedrock_model` cannot be used on an Azure deployment path: the deployment fixes the model",
                ));
            }
            obj.insert("model".into(), serde_json::Value::String(model.into()));
            Ok(serde_json::to_vec(&obj).unwrap_or_else(|_| body.to_vec()))
        }
        _ => Ok(body.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(prefix: Option<&str>) -> PathForms {
        PathForms::new(
            prefix.map(String::from),
            [("prod-gpt4o".to_string(), "gpt-4o".to_string())]
                .into_iter()
                .collect(),
        )
        .unwrap()
    }

    fn azure(d: &str, model: Option<&str>, v: Option<&str>) -> Form {
        Form::Azure {
            deployment: d.into(),
            model: model.map(String::from),
            api_version: v.map(String::from),
        }
    }

    #[test]
    fn normalises_every_form_and_leaves_near_misses_alone() {
        let oa = Form::OpenAi;
        let v = Some("2024-10-21");
        let cases: Vec<(Option<&str>, &str, &str, Form)> = vec![
            (
                None,
                "/v1/chat/completions",
                "/v1/chat/completions",
                oa.clone(),
            ),
            (
                None,
                "/v1/chat/completions/",
                "/v1/chat/completions",
                oa.clone(),
            ),
            (
                None,
                "/v1/chat/completions?x=1#f",
                "/v1/chat/completions",
                oa.clone(),
            ),
            // The prefix applies only when configured, and only in front of /v1/.
            (
                None,
                "/openai/v1/chat/completions",
                "/openai/v1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai"),
                "/openai/v1/chat/completions",
                "/v1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai/"),
                "/openai/v1/chat/completions/?a=b",
                "/v1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai"),
                "/v1/chat/completions",
                "/v1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai"),
                "/openaiv1/chat/completions",
                "/openaiv1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai"),
                "/x/openai/v1/chat/completions",
                "/x/openai/v1/chat/completions",
                oa.clone(),
            ),
            (
                Some("/openai"),
                "/openai/v2/chat/completions",
                "/openai/v2/chat/completions",
                oa.clone(),
            ),
            (Some("/a/b"), "/a/b/v1/models", "/v1/models", oa.clone()),
            // Azure.
            (
                None,
                "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21",
                "/v1/chat/completions",
                azure("prod-gpt4o", Some("gpt-4o"), v),
            ),
            (
                Some("/openai"),
                "/openai/deployments/prod-gpt4o/chat/completions/?foo=1&api-version=2024-10-21",
                "/v1/chat/completions",
                azure("prod-gpt4o", Some("gpt-4o"), v),
            ),
            (
                None,
                "/openai/deployments/other/chat/completions?api-version=x",
                "/v1/chat/completions",
                azure("other", None, Some("x")),
            ),
            (
                None,
                "/openai/deployments/prod-gpt4o/chat/completions?api-version=",
                "/v1/chat/completions",
                azure("prod-gpt4o", Some("gpt-4o"), None),
            ),
            (
                None,
                "/openai/deployments//chat/completions",
                "/openai/deployments//chat/completions",
                oa.clone(),
            ),
            (
                None,
                "/openai/deployments/prod-gpt4o",
                "/openai/deployments/prod-gpt4o",
                oa.clone(),
            ),
            (
                None,
                "/openai/deployments/prod-gpt4o/",
                "/openai/deployments/prod-gpt4o",
                oa.clone(),
            ),
            (
                None,
                "/x/openai/deployments/prod-gpt4o/chat/completions",
                "/x/openai/deployments/prod-gpt4o/chat/completions",
                oa.clone(),
            ),
            (
                None,
                "/openai/deployments/a%2Fb/chat/completions",
                "/openai/deployments/a%2Fb/chat/completions",
                oa.clone(),
            ),
            (None, "", "", oa.clone()),
        ];
        for (prefix, raw, path, form) in cases {
            let r = normalise(&forms(prefix), raw);
            assert_eq!(
                (r.path.as_str(), &r.form),
                (path, &form),
                "{prefix:?} {raw}"
            );
        }
    }

    #[test]
    fn azure_checks_and_credentials() {
        let f = forms(None);
        let ok = normalise(
            &f,
            "/openai/deployments/prod-gpt4o/chat/completions?api-version=1",
        );
        assert!(ok.check().is_ok());
        assert_eq!(ok.model_override(), Some("gpt-4o"));
        assert_eq!(
            ok.authorization(None, Some("sk-key")).as_deref(),
            Some("Bearer sk-key")
        );
        assert_eq!(
            ok.authorization(Some("Bearer a"), Some("b")).as_deref(),
            Some("Bearer a")
        );
        let unknown = normalise(
            &f,
            "/openai/deployments/nope/chat/completions?api-version=1",
        );
        let e = unknown.check().unwrap_err();
        assert_eq!(
            (e.status, e.code.as_deref()),
            (404, Some("DeploymentNotFound"))
        );
        let unversioned = normalise(&f, "/openai/deployments/prod-gpt4o/chat/completions");
        let e = unversioned.check().unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("api-version")));
        // `api-key` counts only on the Azure form.
        let plain = normalise(&f, "/v1/chat/completions");
        assert!(plain.check().is_ok());
        assert_eq!(plain.authorization(None, Some("sk-key")), None);
        assert_eq!(plain.model_override(), None);
    }

    #[test]
    fn without_configured_deployments_the_name_is_the_model() {
        let f = PathForms::default();
        for (path, op, model) in [
            (
                "/openai/deployments/gpt-4o/chat/completions?api-version=1",
                "/v1/chat/completions",
                "gpt-4o",
            ),
            (
                "/openai/deployments/amazon.titan-embed-text-v2:0/embeddings?api-version=1",
                "/v1/embeddings",
                "amazon.titan-embed-text-v2:0",
            ),
            (
                "/openai/deployments/m/completions?api-version=1",
                "/v1/completions",
                "m",
            ),
        ] {
            let r = normalise(&f, path);
            assert!(r.check().is_ok(), "{path}");
            assert_eq!((r.path.as_str(), r.model_override()), (op, Some(model)));
        }
        // Configured deployments override, and then only they exist.
        let f = forms(None);
        assert!(
            normalise(&f, "/openai/deployments/gpt-4o/embeddings?api-version=1")
                .check()
                .is_err()
        );
    }

    #[test]
    fn model_override_replaces_only_model() {
        let out = override_model(br#"{"model":"x","messages":[]}"#, "gpt-4o").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "gpt-4o");
        assert_eq!(v["messages"], serde_json::json!([]));
        assert_eq!(override_model(b"not json", "m").unwrap(), b"not json");
        let added = override_model(br#"{"messages":[]}"#, "m").unwrap();
        assert!(String::from_utf8(added).unwrap().contains(r#""model":"m""#));
        let e = override_model(br#"{"model":"x","bedrock_model":"a.b"}"#, "m").unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("bedrock_model")));
        assert!(override_model(br#"{"model":"x","bedrock_model":null}"#, "m").is_ok());
    }
}
