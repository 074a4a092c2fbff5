//! Experiments (spec §1.4): a named group of jobs, with no settings of its own.

use super::common::{ProvisioningState, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub workspace: String,
    pub name: String,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
}

impl Experiment {
    pub fn id(&self) -> String {
        format!("/workspaces/{}/experiments/{}", self.workspace, self.name)
    }

    pub fn to_resource(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.BatchAI/workspaces/experiments",
            "properties": {
                "creationTime": self.creation_time,
                "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": self.provisioning_state_transition_time,
            },
        })
    }
}
