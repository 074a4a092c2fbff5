//! Clusters (spec §1.5): compute nodes of one shape, scaled manually or automatically.
//!
//! A node's shape replaces Azure's `vmSize`: on the local engine a node is a slice of this machine
//! (CPUs, GPU device ids, memory); `vmSize` is kept as a label so Batch AI files still load.

use serde::{Deserialize, Serialize};

use super::common::{EnvironmentVariable, ErrorInfo, ProvisioningState, SecretVariable, Timestamp, check_environment};
use super::mounts::MountVolumes;
use super::slurm::SlurmSettings;
use super::validate::{self, Check};

/// Batch AI's maximum cluster size.
pub const MAX_NODES: u32 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Nodes are slices of this machine, run by the workspace's agent.
    #[default]
    Local,
    /// Nodes come from a Slurm cluster.
    Slurm,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmPriority {
    #[default]
    Dedicated,
    Lowpriority,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeShape {
    #[serde(default = "one")]
    pub cpus: u32,
    #[serde(default)]
    pub gpus: u32,
    /// The GPU devices the cluster's nodes draw from, `gpus` per node. Absent: the devices found on
    /// the machine. Given: used as they are, which also lets GPU placement be developed on a
    /// machine without GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_device_ids: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

fn one() -> u32 {
    1
}

impl Default for NodeShape {
    fn default() -> Self {
        NodeShape { cpus: 1, gpus: 0, gpu_device_ids: None, memory_mb: None }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeallocationOption {
    /// Terminate running jobs and put them back in the queue.
    #[default]
    Requeue,
    /// Terminate running jobs; they do not run again.
    Terminate,
    /// Let running jobs finish; schedule nothing new on leaving nodes.
    Waitforjobcompletion,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManualScaleSettings {
    #[serde(default)]
    pub target_node_count: u32,
    #[serde(default)]
    pub node_deallocation_option: DeallocationOption,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoScaleSettings {
    pub minimum_node_count: u32,
    pub maximum_node_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_node_count: Option<u32>,
}

/// Exactly one of `manual` or `autoScale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualScaleSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scale: Option<AutoScaleSettings>,
}

impl Default for ScaleSettings {
    /// One node, so a cluster created with no settings can run a job at once.
    fn default() -> Self {
        ScaleSettings {
            manual: Some(ManualScaleSettings {
                target_node_count: 1,
                node_deallocation_option: DeallocationOption::Requeue,
            }),
            auto_scale: None,
        }
    }
}

impl ScaleSettings {
    pub fn validate(&self, prefix: &str) -> Check {
        match (&self.manual, &self.auto_scale) {
            (Some(m), None) => {
                validate::range_u32(&format!("{prefix}manual.targetNodeCount"), m.target_node_count, 0, MAX_NODES)
            }
            (None, Some(a)) => {
                let f = |name: &str| format!("{prefix}autoScale.{name}");
                validate::range_u32(&f("minimumNodeCount"), a.minimum_node_count, 0, MAX_NODES)?;
                validate::range_u32(&f("maximumNodeCount"), a.maximum_node_count, 1, MAX_NODES)?;
                if a.minimum_node_count > a.maximum_node_count {
                    return validate::fail(
                        &f("minimumNodeCount"),
                        &a.minimum_node_count,
                        &format!("must not exceed maximumNodeCount ({})", a.maximum_node_count),
                    );
                }
                if let Some(initial) = a.initial_node_count {
                    validate::range_u32(&f("initialNodeCount"), initial, a.minimum_node_count, a.maximum_node_count)?;
                }
                Ok(())
            }
            (Some(_), Some(_)) => validate::fail(
                prefix.trim_end_matches('.'),
                self,
                "must hold exactly one of manual or autoScale, not both",
            ),
            (None, None) => {
                validate::fail(prefix.trim_end_matches('.'), self, "must hold exactly one of manual or autoScale")
            }
        }
    }

    /// The node count the cluster should have right after creation.
    pub fn initial_target(&self) -> u32 {
        match (&self.manual, &self.auto_scale) {
            (Some(m), _) => m.target_node_count,
            (None, Some(a)) => a.initial_node_count.unwrap_or(a.minimum_node_count),
            (None, None) => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetupTask {
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_variables: Vec<EnvironmentVariable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretVariable>,
    /// Where the setup task's output goes; the workspace's folder when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_out_err_path_prefix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSetup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_task: Option<SetupTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_volumes: Option<MountVolumes>,
}

/// `ClusterCreateParameters.properties`, local edition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default)]
    pub engine: EngineKind,
    /// Kept as a label: Azure VM sizes mean nothing on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(default)]
    pub vm_priority: VmPriority,
    #[serde(default)]
    pub node_shape: NodeShape,
    #[serde(default)]
    pub scale_settings: ScaleSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_setup: Option<NodeSetup>,
    /// Where a `slurm` cluster's jobs go (required for it, refused for others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmSettings>,
}

impl ClusterSpec {
    pub fn validate(&self) -> Check {
        match (self.engine, &self.slurm) {
            (EngineKind::Slurm, Some(slurm)) => {
                slurm.validate("slurm.")?;
                if self.node_setup.as_ref().is_some_and(|s| s.setup_task.is_some()) {
                    return validate::fail(
                        "nodeSetup.setupTask",
                        &self.node_setup,
                        "is not run on Slurm clusters (their nodes are Slurm's, not set up by batchai): \
                         give the job a jobPreparation instead",
                    );
                }
            }
            (EngineKind::Slurm, None) => {
                return validate::fail(
                    "slurm",
                    &serde_json::Value::Null,
                    "is required for engine 'slurm': give at least {\"partition\": \"<name>\"}",
                );
            }
            (EngineKind::Local, Some(slurm)) => {
                return validate::fail(
                    "slurm",
                    slurm,
                    "is only for engine 'slurm': set engine to 'slurm' or remove it",
                );
            }
            (EngineKind::Local, None) => {}
        }
        if let Some(size) = &self.vm_size {
            validate::not_blank("vmSize", size)?;
        }
        let shape = &self.node_shape;
        validate::range_u32("nodeShape.cpus", shape.cpus, 1, 4096)?;
        validate::range_u32("nodeShape.gpus", shape.gpus, 0, 64)?;
        if let Some(ids) = &shape.gpu_device_ids {
            let keys: Vec<String> = ids.iter().map(u32::to_string).collect();
            validate::unique("nodeShape.gpuDeviceIds", keys.iter().map(String::as_str), "device id")?;
            if (ids.len() as u32) < shape.gpus {
                return validate::fail(
                    "nodeShape.gpuDeviceIds",
                    ids,
                    &format!(
                        "must list at least nodeShape.gpus ({}) devices, or no node could be allocated",
                        shape.gpus
                    ),
                );
            }
        }
        if let Some(mb) = shape.memory_mb
            && mb == 0
        {
            return validate::fail("nodeShape.memoryMb", &mb, "must be positive");
        }
        self.scale_settings.validate("scaleSettings.")?;
        if let Some(setup) = &self.node_setup {
            if let Some(task) = &setup.setup_task {
                validate::not_blank("nodeSetup.setupTask.commandLine", &task.command_line)?;
                check_environment("nodeSetup.setupTask.", &task.environment_variables, &task.secrets)?;
                if let Some(prefix) = &task.std_out_err_path_prefix {
                    validate::not_blank("nodeSetup.setupTask.stdOutErrPathPrefix", prefix)?;
                }
            }
            if let Some(mounts) = &setup.mount_volumes {
                mounts.validate("nodeSetup.mountVolumes.")?;
            }
        }
        Ok(())
    }

    pub fn setup_secrets(&self) -> &[SecretVariable] {
        self.node_setup.as_ref().and_then(|s| s.setup_task.as_ref()).map(|t| t.secrets.as_slice()).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllocationState {
    Steady,
    Resizing,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStateCounts {
    pub idle_node_count: u32,
    pub running_node_count: u32,
    pub preparing_node_count: u32,
    pub unusable_node_count: u32,
    pub leaving_node_count: u32,
}

/// A cluster as stored: its create parameters (with current scale settings) and read-only state.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub workspace: String,
    pub name: String,
    pub spec: ClusterSpec,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
    pub allocation_state: AllocationState,
    pub allocation_state_transition_time: Timestamp,
    pub current_node_count: u32,
    pub node_state_counts: NodeStateCounts,
    pub errors: Vec<ErrorInfo>,
    /// Generated path segment for the setup task's output, `{ws}/clusters/{name}/{uid}`.
    pub std_out_err_path_suffix: String,
}

impl Cluster {
    pub fn id(&self) -> String {
        format!("/workspaces/{}/clusters/{}", self.workspace, self.name)
    }

    /// The Batch AI resource view: `{id, name, type, properties}`.
    pub fn to_resource(&self) -> serde_json::Value {
        let mut props = serde_json::to_value(&self.spec).expect("cluster spec serializes");
        let extra = serde_json::json!({
            "creationTime": self.creation_time,
            "provisioningState": self.provisioning_state,
            "provisioningStateTransitionTime": self.provisioning_state_transition_time,
            "allocationState": self.allocation_state,
            "allocationStateTransitionTime": self.allocation_state_transition_time,
            "currentNodeCount": self.current_node_count,
            "nodeStateCounts": self.node_state_counts,
            "errors": self.errors,
        });
        merge(&mut props, extra);
        if let Some(task) = props.pointer_mut("/nodeSetup/setupTask").and_then(|t| t.as_object_mut()) {
            task.insert("stdOutErrPathSuffix".into(), self.std_out_err_path_suffix.clone().into());
        }
        serde_json::json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.BatchAI/workspaces/clusters",
            "properties": props,
        })
    }
}

/// Add every key of `extra` (an object) to `target` (an object).
pub(crate) fn merge(target: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(t), serde_json::Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_one_local_node() {
        let spec: ClusterSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec.engine, EngineKind::Local);
        assert_eq!(spec.scale_settings.initial_target(), 1);
        assert_eq!(spec.node_shape.cpus, 1);
        spec.validate().unwrap();
    }

    #[test]
    fn scale_settings_rules() {
        let both: ScaleSettings = serde_json::from_str(
            r#"{"manual": {"targetNodeCount": 1}, "autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}}"#,
        )
        .unwrap();
        assert!(both.validate("scaleSettings.").unwrap_err().rule.contains("not both"));
        let inverted: ScaleSettings =
            serde_json::from_str(r#"{"autoScale": {"minimumNodeCount": 3, "maximumNodeCount": 2}}"#).unwrap();
        assert_eq!(inverted.validate("scaleSettings.").unwrap_err().field, "scaleSettings.autoScale.minimumNodeCount");
        let big: ScaleSettings = serde_json::from_str(r#"{"manual": {"targetNodeCount": 101}}"#).unwrap();
        assert!(big.validate("s.").is_err());
        let auto: ScaleSettings =
            serde_json::from_str(r#"{"autoScale": {"minimumNodeCount": 1, "maximumNodeCount": 4}}"#).unwrap();
        assert_eq!(auto.initial_target(), 1);
    }

    #[test]
    fn gpu_ids_must_cover_one_node() {
        let spec: ClusterSpec = serde_json::from_str(r#"{"nodeShape": {"gpus": 2, "gpuDeviceIds": [0]}}"#).unwrap();
        assert_eq!(spec.validate().unwrap_err().field, "nodeShape.gpuDeviceIds");
        let dup: ClusterSpec = serde_json::from_str(r#"{"nodeShape": {"gpus": 1, "gpuDeviceIds": [0, 0]}}"#).unwrap();
        assert!(dup.validate().unwrap_err().rule.contains("unique"));
    }
}
