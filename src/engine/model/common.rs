//! Types shared by several resources (Batch AI 2018-05-01 "common types", spec §1.2).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::validate::{self, Check};

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningState {
    Creating,
    Updating,
    Succeeded,
    Failed,
    Deleting,
}

/// `EnvironmentVariable`: a name and a value, both required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
}

/// `EnvironmentVariableWithSecretValue`. The value is accepted and never given back: it is not
/// serialized (so no JSON, log or error carries it) and `Debug` prints a mask. The store keeps
/// values in a separate table that only the launcher reads.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretVariable {
    pub name: String,
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
}

impl fmt::Debug for SecretVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVariable").field("name", &self.name).field("value", &"<secret>").finish()
    }
}

/// `BatchAIError`: what went wrong, recorded on clusters (node setup) and on jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<NameValuePair>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameValuePair {
    pub name: String,
    pub value: String,
}

impl ErrorInfo {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo { code: code.into(), message: message.into(), details: Vec::new() }
    }

    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.push(NameValuePair { name: name.into(), value: value.into() });
        self
    }
}

/// `ResourceId`: a reference to another resource. Accepts Batch AI's `{"id": ...}` object or a plain
/// string. The id may be a bare name (same workspace), `workspace/name`, or an ARM-style path that
/// contains `workspaces/{ws}/{collection}/{name}` (as Batch AI JSON files carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub id: String,
}

/// A parsed [`ResourceId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTarget {
    pub workspace: Option<String>,
    pub name: String,
}

impl ResourceId {
    pub fn new(id: impl Into<String>) -> Self {
        ResourceId { id: id.into() }
    }

    /// The canonical local form, `/workspaces/{ws}/{collection}/{name}`.
    pub fn local(workspace: &str, collection: &str, name: &str) -> Self {
        ResourceId { id: format!("/workspaces/{workspace}/{collection}/{name}") }
    }

    /// Resolve the reference for a resource of `collection` (`clusters` or `fileServers`).
    pub fn parse(
        &self,
        field: &str,
        collection: &str,
    ) -> Result<ResourceTarget, crate::engine::error::ValidationError> {
        let rule = format!(
            "must be a {} name, 'workspace/name', or an id ending in 'workspaces/<workspace>/{collection}/<name>'",
            singular(collection)
        );
        let bad = || crate::engine::error::ValidationError::new(field, validate::show(&self.id), rule.clone());
        let parts: Vec<&str> = self.id.trim_matches('/').split('/').collect();
        let target = match parts.as_slice() {
            [name] => ResourceTarget { workspace: None, name: name.to_string() },
            [ws, name] => ResourceTarget { workspace: Some(ws.to_string()), name: name.to_string() },
            _ => {
                let n = parts.len();
                if n >= 4
                    && parts[n - 4].eq_ignore_ascii_case("workspaces")
                    && parts[n - 2].eq_ignore_ascii_case(collection)
                {
                    ResourceTarget { workspace: Some(parts[n - 3].to_string()), name: parts[n - 1].to_string() }
                } else {
                    return Err(bad());
                }
            }
        };
        validate::name(field, &target.name).map_err(|_| bad())?;
        if let Some(ws) = &target.workspace {
            validate::name(field, ws).map_err(|_| bad())?;
        }
        Ok(target)
    }
}

fn singular(collection: &str) -> &'static str {
    match collection {
        "clusters" => "cluster",
        "fileServers" => "file server",
        _ => "resource",
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ResourceId", 1)?;
        s.serialize_field("id", &self.id)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a resource name or an object {\"id\": ...}")]
        enum Form {
            Plain(String),
            Object { id: String },
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::Plain(id) | Form::Object { id } => ResourceId { id },
        })
    }
}

/// Validate a list of environment variables and secrets together: names are shell names, not
/// reserved, and unique across both lists (a secret must not silently shadow a variable).
pub fn check_environment(prefix: &str, variables: &[EnvironmentVariable], secrets: &[SecretVariable]) -> Check {
    for (i, var) in variables.iter().enumerate() {
        validate::env_name(&format!("{prefix}environmentVariables[{i}].name"), &var.name)?;
        if var.value.contains('\0') {
            return validate::fail(
                &format!("{prefix}environmentVariables[{i}].value"),
                &var.value,
                "must not contain NUL characters",
            );
        }
    }
    for (i, secret) in secrets.iter().enumerate() {
        validate::env_name(&format!("{prefix}secrets[{i}].name"), &secret.name)?;
        match &secret.value {
            None => {
                return Err(crate::engine::error::ValidationError::new(
                    format!("{prefix}secrets[{i}].value"),
                    "null",
                    "is required: a secret needs a value",
                ));
            }
            Some(v) if v.contains('\0') => {
                return Err(crate::engine::error::ValidationError::new(
                    format!("{prefix}secrets[{i}].value"),
                    "\"<secret>\"",
                    "must not contain NUL characters",
                ));
            }
            Some(_) => {}
        }
    }
    let names = variables.iter().map(|v| v.name.as_str()).chain(secrets.iter().map(|s| s.name.as_str()));
    validate::unique(
        &format!("{prefix}environmentVariables"),
        names,
        "variable name (across environmentVariables and secrets)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_accept_names_pairs_and_arm_paths() {
        let plain: ResourceId = serde_json::from_str("\"gpu\"").unwrap();
        assert_eq!(plain.parse("cluster", "clusters").unwrap(), ResourceTarget { workspace: None, name: "gpu".into() });
        let arm: ResourceId = serde_json::from_str(
            r#"{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.BatchAI/workspaces/ws1/clusters/nc6"}"#,
        )
        .unwrap();
        assert_eq!(
            arm.parse("cluster", "clusters").unwrap(),
            ResourceTarget { workspace: Some("ws1".into()), name: "nc6".into() }
        );
        assert!(arm.parse("fs", "fileServers").is_err());
        let pair = ResourceId::new("ws/c");
        assert_eq!(pair.parse("c", "clusters").unwrap().workspace.as_deref(), Some("ws"));
        assert!(ResourceId::new("a b").parse("c", "clusters").is_err());
        assert_eq!(
            serde_json::to_string(&ResourceId::local("w", "clusters", "c")).unwrap(),
            r#"{"id":"/workspaces/w/clusters/c"}"#
        );
    }

    #[test]
    fn secrets_never_serialize_or_debug_print() {
        let s: SecretVariable = serde_json::from_str(r#"{"name": "TOKEN", "value": "hunter2"}"#).unwrap();
        assert_eq!(s.value.as_deref(), Some("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn environment_names_are_unique_across_variables_and_secrets() {
        let vars = vec![EnvironmentVariable { name: "A".into(), value: "1".into() }];
        let secrets = vec![SecretVariable { name: "A".into(), value: Some("x".into()) }];
        let err = check_environment("", &vars, &secrets).unwrap_err();
        assert!(err.rule.contains("unique"), "{err}");
        let missing = vec![SecretVariable { name: "B".into(), value: None }];
        assert_eq!(check_environment("", &[], &missing).unwrap_err().field, "secrets[0].value");
    }
}
