//! Workspaces (spec §1.3): the top-level collection. Locally one workspace is one folder holding
//! one SQLite file and everything the workspace owns (managed file servers, default outputs).

use std::collections::BTreeMap;

use super::common::{ProvisioningState, Timestamp};
use super::validate::{self, Check};

pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub name: String,
    /// The workspace's folder.
    pub path: String,
    pub tags: Tags,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
}

/// Azure's tag limits: 50 tags, names up to 512 characters, values up to 256.
pub fn validate_tags(tags: &Tags) -> Check {
    if tags.len() > 50 {
        return validate::fail("tags", &tags.len(), "must hold at most 50 tags");
    }
    for (key, value) in tags {
        let field = format!("tags.{key}");
        if key.is_empty() || key.chars().count() > 512 || key.contains(['<', '>', '%', '&', '\\', '?', '/']) {
            return validate::fail(&field, key, "tag names must be 1 to 512 characters without < > % & \\ ? /");
        }
        if value.chars().count() > 256 {
            return validate::fail(&field, value, "tag values must be at most 256 characters");
        }
    }
    Ok(())
}

impl Workspace {
    pub fn id(&self) -> String {
        format!("/workspaces/{}", self.name)
    }

    pub fn to_resource(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.BatchAI/workspaces",
            "tags": self.tags,
            "properties": {
                "path": self.path,
                "creationTime": self.creation_time,
                "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": self.provisioning_state_transition_time,
            },
        })
    }
}
