//! `path_prefix` and `azure_deployments`: the path forms clients may use besides OpenAI's
//! own (see [`crate::pipeline::route`], which applies them to each request).

use std::collections::BTreeMap;

use super::{err, ConfigError};

/// The configured path forms (`path_prefix`, `azure_deployments`), validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathForms {
    /// `/openai`-style prefix in front of `/v1`; never empty, never ends with `/`.
    pub prefix: Option<String>,
    /// Azure deployment name → model name (an alias or a Bedrock model id).
    pub deployments: BTreeMap<String, String>,
}

impl PathForms {
    /// Validates the two config fields; errors name the field.
    pub fn new(
        prefix: Option<String>,
        deployments: BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let prefix = match prefix.as_deref().map(str::trim) {
            None | Some("") | Some("/") => None,
            Some(p) => {
                let p = p.strip_suffix('/').unwrap_or(p);
                let segments_ok = p.strip_prefix('/').is_some_and(|rest| {
                    rest.split('/').all(|s| {
                        !s.is_empty()
                            && s.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                    })
                });
                if !segments_ok {
                    return Err(err(
                        "`path_prefix` must look like `/openai` (a `/`, then path segments of letters, digits, `-._~`)",
                    ));
                }
                if p == "/v1" || p.ends_with("/v1") {
                    return Err(err(format!(
                        "`path_prefix` `{p}` must not include `/v1`: it is the part in front of `/v1`"
                    )));
                }
                Some(p.to_string())
            }
        };
        if let Some((name, _)) = deployments
            .iter()
            .find(|(d, m)| !valid_deployment(d) || m.trim().is_empty())
        {
            let shown = if valid_deployment(name) {
                format!("`{name}`")
            } else {
                "with an invalid name".to_string()
            };
            return Err(err(format!(
                "`azure_deployments` entry {shown}: the name must be letters, digits, `-`, `_`, `.` or `:` and the model non-empty"
            )));
        }
        Ok(Self {
            prefix,
            deployments,
        })
    }
}

/// A deployment name: letters, digits, `-_.`, and `:` so that a Bedrock id can be one.
pub fn valid_deployment(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl PathForms {
    /// The model a deployment stands for: its `azure_deployments` entry; with none
    /// configured, the deployment name itself (resolved like any `model`: an alias, a
    /// Bedrock id); `None` when deployments are configured and this one is not.
    pub fn model_for(&self, deployment: &str) -> Option<String> {
        match self.deployments.get(deployment) {
            Some(model) => Some(model.clone()),
            None if self.deployments.is_empty() => Some(deployment.to_string()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_field() {
        for bad in ["openai", "/openai//x", "/v1", "/openai/v1", "/a b"] {
            let e = PathForms::new(Some(bad.into()), BTreeMap::new())
                .unwrap_err()
                .0;
            assert!(e.contains("path_prefix"), "{bad}: {e}");
        }
        assert_eq!(
            PathForms::new(Some("/".into()), BTreeMap::new())
                .unwrap()
                .prefix,
            None
        );
        for (d, m) in [("a/b", "m"), ("", "m"), ("ok", " ")] {
            let e = PathForms::new(None, [(d.to_string(), m.to_string())].into())
                .unwrap_err()
                .0;
            assert!(e.contains("azure_deployments"), "{d}: {e}");
        }
    }
}
