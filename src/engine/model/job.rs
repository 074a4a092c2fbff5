//! Jobs (spec §1.8): a script run on `nodeCount` gang-scheduled nodes of a cluster with one toolkit.
//!
//! A job's create parameters never change after creation (the store enforces it too); everything
//! else here is read-only state owned by the agent.

use serde::{Deserialize, Serialize};

use super::cluster::{MAX_NODES, merge};
use super::common::{
    EnvironmentVariable, ErrorInfo, ProvisioningState, ResourceId, SecretVariable, Timestamp, check_environment,
};
use super::duration::WallClock;
use super::mounts::MountVolumes;
use super::toolkits::*;
use super::validate::{self, Check};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulingPriority {
    Low,
    #[default]
    Normal,
    High,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivateRegistryCredentials {
    pub username: String,
    /// Secret: accepted, kept apart from the spec, never returned.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSourceRegistry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PrivateRegistryCredentials>,
}

/// Recorded with the job. The local engine runs processes on the host, as Batch AI did for jobs
/// without container settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSettings {
    pub image_source_registry: ImageSourceRegistry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobPreparation {
    pub command_line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputDirectory {
    pub id: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputDirectory {
    pub id: String,
    pub path_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_suffix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobConstraints {
    #[serde(default = "default_wall_clock")]
    pub max_wall_clock_time: WallClock,
}

fn default_wall_clock() -> WallClock {
    WallClock::DEFAULT
}

impl Default for JobConstraints {
    fn default() -> Self {
        JobConstraints { max_wall_clock_time: WallClock::DEFAULT }
    }
}

/// `JobCreateParameters.properties`. The nine toolkit fields are kept side by side, as in Batch
/// AI's JSON; [`JobSpec::toolkit`] checks that exactly one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    pub cluster: ResourceId,
    pub node_count: u32,
    #[serde(default)]
    pub scheduling_priority: SchedulingPriority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_volumes: Option<MountVolumes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_settings: Option<ContainerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cntk_settings: Option<CntkSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub py_torch_settings: Option<PyTorchSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_flow_settings: Option<TensorFlowSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caffe_settings: Option<CaffeSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caffe2_settings: Option<Caffe2Settings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chainer_settings: Option<ChainerSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_toolkit_settings: Option<CustomToolkitSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_mpi_settings: Option<CustomMpiSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horovod_settings: Option<HorovodSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_preparation: Option<JobPreparation>,
    /// Where stdout/stderr go; the workspace's `outputs` folder when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_out_err_path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_directories: Vec<InputDirectory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_directories: Vec<OutputDirectory>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_variables: Vec<EnvironmentVariable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretVariable>,
    #[serde(default)]
    pub constraints: JobConstraints,
    /// The interpreter of toolkits whose settings name none (a local addition to Batch AI's
    /// fields): the submitter's `sys.executable` unless given, so the job runs with the
    /// packages of the environment it was submitted from, not the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter_path: Option<String>,
}

/// The output directory id that names the job's stdout/stderr folder.
pub const STDOUTERR_ID: &str = "stdouterr";

impl JobSpec {
    /// The one toolkit the job names.
    pub fn toolkit(&self) -> Result<Toolkit<'_>, crate::engine::error::ValidationError> {
        let mut found: Vec<Toolkit<'_>> = Vec::new();
        if let Some(s) = &self.cntk_settings {
            found.push(Toolkit::Cntk(s));
        }
        if let Some(s) = &self.py_torch_settings {
            found.push(Toolkit::PyTorch(s));
        }
        if let Some(s) = &self.tensor_flow_settings {
            found.push(Toolkit::TensorFlow(s));
        }
        if let Some(s) = &self.caffe_settings {
            found.push(Toolkit::Caffe(s));
        }
        if let Some(s) = &self.caffe2_settings {
            found.push(Toolkit::Caffe2(s));
        }
        if let Some(s) = &self.chainer_settings {
            found.push(Toolkit::Chainer(s));
        }
        if let Some(s) = &self.custom_toolkit_settings {
            found.push(Toolkit::CustomToolkit(s));
        }
        if let Some(s) = &self.custom_mpi_settings {
            found.push(Toolkit::CustomMpi(s));
        }
        if let Some(s) = &self.horovod_settings {
            found.push(Toolkit::Horovod(s));
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(crate::engine::error::ValidationError::new(
                "toolkit",
                "null",
                "is required: give exactly one of cntkSettings, pyTorchSettings, tensorFlowSettings, caffeSettings, caffe2Settings, chainerSettings, customToolkitSettings, customMpiSettings, horovodSettings",
            )),
            many => {
                let names: Vec<&str> = many.iter().map(Toolkit::field).collect();
                Err(crate::engine::error::ValidationError::new(
                    names[1],
                    validate::show(&names),
                    format!("cannot be combined with {}: a job has exactly one toolkit", names[0]),
                ))
            }
        }
    }

    pub fn validate(&self) -> Check {
        self.cluster.parse("cluster", "clusters")?;
        validate::range_u32("nodeCount", self.node_count, 1, MAX_NODES)?;
        self.toolkit()?.validate(self.node_count)?;
        if let Some(mounts) = &self.mount_volumes {
            mounts.validate("mountVolumes.")?;
        }
        if let Some(c) = &self.container_settings {
            validate::not_blank("containerSettings.imageSourceRegistry.image", &c.image_source_registry.image)?;
            if let Some(shm) = &c.shm_size {
                let digits = shm.trim_end_matches(['b', 'B']).trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
                if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                    return validate::fail(
                        "containerSettings.shmSize",
                        shm,
                        "must be a size like 16gb, 512m or 1073741824 (Docker's --shm-size)",
                    );
                }
            }
            if let Some(creds) = &c.image_source_registry.credentials {
                validate::not_blank("containerSettings.imageSourceRegistry.credentials.username", &creds.username)?;
            }
        }
        if let Some(prep) = &self.job_preparation {
            validate::not_blank("jobPreparation.commandLine", &prep.command_line)?;
        }
        if let Some(prefix) = &self.std_out_err_path_prefix {
            validate::not_blank("stdOutErrPathPrefix", prefix)?;
        }
        for (i, dir) in self.input_directories.iter().enumerate() {
            validate::directory_id(&format!("inputDirectories[{i}].id"), &dir.id)?;
            validate::not_blank(&format!("inputDirectories[{i}].path"), &dir.path)?;
        }
        validate::unique(
            "inputDirectories",
            self.input_directories.iter().map(|d| d.id.as_str()),
            "input directory id",
        )?;
        for (i, dir) in self.output_directories.iter().enumerate() {
            let field = format!("outputDirectories[{i}].id");
            validate::directory_id(&field, &dir.id)?;
            if dir.id.eq_ignore_ascii_case(STDOUTERR_ID) {
                return validate::fail(
                    &field,
                    &dir.id,
                    "is reserved: 'stdouterr' names the job's stdout/stderr folder",
                );
            }
            validate::not_blank(&format!("outputDirectories[{i}].pathPrefix"), &dir.path_prefix)?;
            if let Some(suffix) = &dir.path_suffix {
                validate::relative_path(&format!("outputDirectories[{i}].pathSuffix"), suffix)?;
            }
        }
        validate::unique(
            "outputDirectories",
            self.output_directories.iter().map(|d| d.id.as_str()),
            "output directory id",
        )?;
        check_environment("", &self.environment_variables, &self.secrets)?;
        let limit = self.constraints.max_wall_clock_time;
        if limit.0.is_zero() || limit > WallClock::MAX {
            return validate::fail(
                "constraints.maxWallClockTime",
                &limit,
                "must be longer than 0 and at most 365 days",
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    Queued,
    Running,
    Terminating,
    Succeeded,
    Failed,
}

impl ExecutionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Queued => "queued",
            ExecutionState::Running => "running",
            ExecutionState::Terminating => "terminating",
            ExecutionState::Succeeded => "succeeded",
            ExecutionState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => ExecutionState::Queued,
            "running" => ExecutionState::Running,
            "terminating" => ExecutionState::Terminating,
            "succeeded" => ExecutionState::Succeeded,
            "failed" => ExecutionState::Failed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, ExecutionState::Succeeded | ExecutionState::Failed)
    }

    /// Batch AI's state machine: queued → running → (terminating →) succeeded | failed; a running
    /// job goes back to queued when its nodes are taken away with `requeue`; a queued job can be
    /// terminated (it fails without running).
    pub fn can_become(self, next: ExecutionState) -> bool {
        use ExecutionState::*;
        matches!(
            (self, next),
            (Queued, Running | Terminating | Failed)
                | (Running, Succeeded | Failed | Terminating | Queued)
                | (Terminating, Succeeded | Failed | Queued)
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub errors: Vec<ErrorInfo>,
    /// The nodes of the latest attempt (the local stand-in for remote login information).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_ids: Vec<String>,
    /// Resolved output folders by id, `stdouterr` included, once the job has started.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub output_paths: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub workspace: String,
    pub experiment: String,
    pub name: String,
    /// Unique for the life of the store: two jobs of the same name at different times differ.
    pub uid: String,
    pub spec: JobSpec,
    pub tool_type: ToolType,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
    pub execution_state: ExecutionState,
    pub execution_state_transition_time: Timestamp,
    pub execution_info: ExecutionInfo,
    /// `{ws}/experiments/{exp}/jobs/{job}/{uid}`: inserted in output paths so runs never collide.
    pub job_output_directory_path_segment: String,
    /// Why the job still waits, as the scheduler last saw it (queued jobs only; `None` before the
    /// scheduler looked at it).
    pub wait_reason: Option<String>,
    /// When the job starts at the latest, where the scheduler can promise it (the reservation of
    /// the first job in line).
    pub expected_start: Option<Timestamp>,
}

impl Job {
    pub fn id(&self) -> String {
        format!("/workspaces/{}/experiments/{}/jobs/{}", self.workspace, self.experiment, self.name)
    }

    pub fn to_resource(&self) -> serde_json::Value {
        let mut props = serde_json::to_value(&self.spec).expect("job spec serializes");
        merge(
            &mut props,
            serde_json::json!({
                "toolType": self.tool_type,
                "jobOutputDirectoryPathSegment": self.job_output_directory_path_segment,
                "creationTime": self.creation_time,
                "provisioningState": self.provisioning_state,
                "provisioningStateTransitionTime": self.provisioning_state_transition_time,
                "executionState": self.execution_state,
                "executionStateTransitionTime": self.execution_state_transition_time,
                "executionInfo": self.execution_info,
            }),
        );
        // Local additions, absent from Batch AI's schema: only while they say something.
        if let serde_json::Value::Object(map) = &mut props {
            if let Some(reason) = &self.wait_reason {
                map.insert("waitReason".into(), reason.clone().into());
            }
            if let Some(at) = &self.expected_start {
                map.insert("expectedStart".into(), serde_json::json!(at));
            }
        }
        serde_json::json!({
            "id": self.id(),
            "name": self.name,
            "type": "Microsoft.BatchAI/workspaces/experiments/jobs",
            "properties": props,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> JobSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn exactly_one_toolkit() {
        let none = spec(r#"{"cluster": "c", "nodeCount": 1}"#);
        assert_eq!(none.validate().unwrap_err().field, "toolkit");
        let two = spec(
            r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "x"}, "horovodSettings": {"pythonScriptFilePath": "t.py"}}"#,
        );
        let err = two.validate().unwrap_err();
        assert!(err.rule.contains("exactly one toolkit"), "{err}");
        let one = spec(
            r#"{"cluster": "c", "nodeCount": 2, "customMpiSettings": {"commandLine": "hostname", "processCount": 4}}"#,
        );
        one.validate().unwrap();
        assert_eq!(one.toolkit().unwrap().tool_type(), ToolType::Custommpi);
        assert_eq!(one.constraints.max_wall_clock_time, WallClock::DEFAULT);
    }

    #[test]
    fn output_ids_reserve_stdouterr() {
        let s = spec(
            r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}, "outputDirectories": [{"id": "STDOUTERR", "pathPrefix": "/tmp"}]}"#,
        );
        assert!(s.validate().unwrap_err().rule.contains("reserved"));
    }

    #[test]
    fn state_machine_allows_batch_ai_transitions_only() {
        use ExecutionState::*;
        assert!(Queued.can_become(Running));
        assert!(Running.can_become(Queued));
        assert!(Terminating.can_become(Failed));
        assert!(!Succeeded.can_become(Running));
        assert!(!Failed.can_become(Queued));
        assert!(!Queued.can_become(Succeeded));
    }

    #[test]
    fn parameter_servers_fit_on_nodes() {
        let s = spec(
            r#"{"cluster": "c", "nodeCount": 1, "tensorFlowSettings": {"pythonScriptFilePath": "a.py", "parameterServerCount": 2}}"#,
        );
        assert_eq!(s.validate().unwrap_err().field, "tensorFlowSettings.parameterServerCount");
    }
}
