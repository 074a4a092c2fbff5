//! File servers (spec §1.7): shared storage that clusters and jobs mount.
//!
//! Batch AI's file server was a managed single-node NFS. Locally it is a directory: either one the
//! workspace creates and owns (deleted with the file server), or an existing path the user names
//! (never deleted by batchai).

use serde::{Deserialize, Serialize};

use super::cluster::merge;
use super::common::{ProvisioningState, Timestamp};
use super::validate::{self, Check};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileServerSpec {
    /// An existing directory to serve. Absent: the workspace creates and owns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Kept as a label, as for clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
}

impl FileServerSpec {
    pub fn validate(&self) -> Check {
        if let Some(path) = &self.path {
            validate::not_blank("path", path)?;
            if !path.starts_with('/') {
                return validate::fail("path", path, "must be an absolute path");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountSettings {
    /// The directory that mounts of this file server point to.
    pub mount_point: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileServer {
    pub workspace: String,
    pub name: String,
    pub spec: FileServerSpec,
    /// True when the workspace created the directory and deletes it with the file server.
    pub managed: bool,
    pub mount_settings: MountSettings,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
}

impl FileServer {
    pub fn id(&self) -> String {
        format!("/workspaces/{}/fileServers/{}", self.workspace, self.name)
    }

    pub fn to_resource(&self) -> serde_json::Value {
        let mut props = serde_json::to_value(&self.spec).expect("file server spec serializes");
        merge(
            &mut props,
            serde_json::json!({
                "managed": self.managed,
                "mountSettings": self.mount_settings,
                "creationTime": self.creation_time,
                "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": self.provisioning_state_transition_time,
            }),
        );
        serde_json::json!({"id": self.id(), "name": self.name, "type": "Microsoft.BatchAI/workspaces/fileservers", "properties": props})
    }
}
