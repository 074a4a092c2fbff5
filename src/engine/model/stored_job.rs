//! A job as the store holds it, its create parameters still the JSON text they were stored as.
//!
//! Listing a workspace's jobs used to parse every stored spec into a [`JobSpec`], turn the job into
//! a `serde_json::Value` tree and print that tree again: for 100,000 jobs most of the time went
//! into allocating and freeing those trees, only to produce the text the store already held. A
//! stored spec is the canonical serialisation of a validated [`JobSpec`] (the store writes it with
//! `serde_json::to_string` and nothing else writes that column), so [`StoredJob::write_resource`]
//! splices it into the resource unchanged and serialises only the small state part, formatting
//! the timestamps a listing shares once ([`TimeText`]). The result is the same text
//! [`Job::to_resource`] gives (a test below holds the two together); [`StoredJob::parse`] gives
//! the full [`Job`] where a caller needs the spec's values.

use serde::Serialize;

use super::common::{ProvisioningState, Timestamp};
use super::job::{ExecutionInfo, ExecutionState, Job, JobSpec};
use super::toolkits::ToolType;

/// Batch AI's resource type of a job.
pub const JOB_TYPE: &str = "Microsoft.BatchAI/workspaces/experiments/jobs";

#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    pub workspace: String,
    pub experiment: String,
    pub name: String,
    pub uid: String,
    /// The stored create parameters: a JSON object, as `serde_json::to_string(&JobSpec)` wrote it.
    pub spec_json: String,
    pub tool_type: ToolType,
    pub creation_time: Timestamp,
    pub provisioning_state: ProvisioningState,
    pub provisioning_state_transition_time: Timestamp,
    pub execution_state: ExecutionState,
    pub execution_state_transition_time: Timestamp,
    pub execution_info: ExecutionInfo,
    pub job_output_directory_path_segment: String,
    /// See [`Job::wait_reason`] and [`Job::expected_start`].
    pub wait_reason: Option<String>,
    pub expected_start: Option<Timestamp>,
}

/// Timestamps as JSON text, remembering the last one: a job's creation, provisioning and (while
/// queued) state times are one instant, and so are those of every job of one batch, so most
/// timestamps of a listing are formatted once.
#[derive(Default)]
pub struct TimeText {
    last: Option<(Timestamp, String)>,
}

impl TimeText {
    fn write(&mut self, out: &mut Vec<u8>, at: Timestamp) {
        match &self.last {
            Some((seen, text)) if *seen == at => out.extend_from_slice(text.as_bytes()),
            _ => {
                let text = serde_json::to_string(&at).expect("timestamps serialize");
                out.extend_from_slice(text.as_bytes());
                self.last = Some((at, text));
            }
        }
    }
}

/// Appends `value`'s JSON to `out`.
fn json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    serde_json::to_writer(out, value).expect("job fields serialize");
}

impl StoredJob {
    /// The full job, its spec parsed.
    pub fn parse(self) -> serde_json::Result<Job> {
        Ok(Job {
            spec: serde_json::from_str::<JobSpec>(&self.spec_json)?,
            workspace: self.workspace,
            experiment: self.experiment,
            name: self.name,
            uid: self.uid,
            tool_type: self.tool_type,
            creation_time: self.creation_time,
            provisioning_state: self.provisioning_state,
            provisioning_state_transition_time: self.provisioning_state_transition_time,
            execution_state: self.execution_state,
            execution_state_transition_time: self.execution_state_transition_time,
            execution_info: self.execution_info,
            job_output_directory_path_segment: self.job_output_directory_path_segment,
            wait_reason: self.wait_reason,
            expected_start: self.expected_start,
        })
    }

    /// Why the stored spec cannot be spliced, if it cannot: it must be a JSON object's text (a
    /// damaged row's may not be). Checked without building a value, which costs a fraction of
    /// parsing the spec.
    pub fn spec_problem(&self) -> Option<String> {
        let spec = self.spec_json.trim();
        if !(spec.starts_with('{') && spec.ends_with('}')) {
            return Some("not a JSON object".into());
        }
        serde_json::from_str::<serde::de::IgnoredAny>(spec).err().map(|e| e.to_string())
    }

    pub fn id(&self) -> String {
        format!("/workspaces/{}/experiments/{}/jobs/{}", self.workspace, self.experiment, self.name)
    }

    /// The job's Batch AI JSON, as text: the text of `Job::to_resource()` without parsing the spec.
    pub fn to_resource_text(&self) -> String {
        let mut out = Vec::with_capacity(self.spec_json.len() + 640);
        self.write_resource(&mut out, &mut TimeText::default());
        String::from_utf8(out).expect("JSON text is UTF-8")
    }

    /// Appends the job's Batch AI JSON to `out`; `times` may be shared by the jobs of a listing.
    /// A spec that is not a JSON object (a store damaged by hand) goes through the parsing path,
    /// and one that does not parse either shows as an empty object rather than failing a list.
    pub fn write_resource(&self, out: &mut Vec<u8>, times: &mut TimeText) {
        let spec = self.spec_json.trim();
        let spec_fields = match spec.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(fields) => fields.trim(),
            None => {
                if let Ok(job) = self.clone().parse() {
                    return json(out, &job.to_resource());
                }
                ""
            }
        };
        out.extend_from_slice(b"{\"id\":");
        json(out, &self.id());
        out.extend_from_slice(b",\"name\":");
        json(out, &self.name);
        out.extend_from_slice(b",\"type\":");
        json(out, JOB_TYPE);
        out.extend_from_slice(b",\"properties\":{");
        if !spec_fields.is_empty() {
            out.extend_from_slice(spec_fields.as_bytes());
            out.push(b',');
        }
        // The fields `Job::to_resource` adds after the spec's, in its order.
        out.extend_from_slice(b"\"toolType\":");
        json(out, &self.tool_type);
        out.extend_from_slice(b",\"jobOutputDirectoryPathSegment\":");
        json(out, &self.job_output_directory_path_segment);
        out.extend_from_slice(b",\"creationTime\":");
        times.write(out, self.creation_time);
        out.extend_from_slice(b",\"provisioningState\":");
        json(out, &self.provisioning_state);
        out.extend_from_slice(b",\"provisioningStateTransitionTime\":");
        times.write(out, self.provisioning_state_transition_time);
        out.extend_from_slice(b",\"executionState\":");
        json(out, &self.execution_state);
        out.extend_from_slice(b",\"executionStateTransitionTime\":");
        times.write(out, self.execution_state_transition_time);
        out.extend_from_slice(b",\"executionInfo\":");
        json(out, &self.execution_info);
        // Local additions (see `Job::to_resource`): only while they say something.
        if let Some(reason) = &self.wait_reason {
            out.extend_from_slice(b",\"waitReason\":");
            json(out, reason);
        }
        if let Some(at) = self.expected_start {
            out.extend_from_slice(b",\"expectedStart\":");
            json(out, &at);
        }
        out.extend_from_slice(b"}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::ErrorInfo;

    fn stored(spec: &str, info: ExecutionInfo) -> StoredJob {
        let spec: JobSpec = serde_json::from_str(spec).unwrap();
        let at = chrono::DateTime::from_timestamp_micros(1_764_620_000_123_456).unwrap();
        StoredJob {
            workspace: "ws".into(),
            experiment: "exp \"quoted\"".into(),
            name: "j-1".into(),
            uid: "0123".into(),
            spec_json: serde_json::to_string(&spec).unwrap(),
            tool_type: spec.toolkit().unwrap().tool_type(),
            creation_time: at,
            provisioning_state: ProvisioningState::Succeeded,
            provisioning_state_transition_time: at,
            execution_state: ExecutionState::Failed,
            execution_state_transition_time: at + chrono::Duration::microseconds(7),
            execution_info: info,
            job_output_directory_path_segment: "ws/experiments/exp/jobs/j-1/0123".into(),
            wait_reason: Some("needs 1 node".into()),
            expected_start: Some(at),
        }
    }

    #[test]
    fn spliced_text_is_the_parsed_resource() {
        let info = ExecutionInfo {
            start_time: Some(chrono::DateTime::from_timestamp(1_764_620_001, 0).unwrap()),
            end_time: Some(chrono::DateTime::from_timestamp(1_764_620_002, 5_000).unwrap()),
            exit_code: Some(3),
            errors: vec![ErrorInfo::new("JobFailed", "exit \"3\"\nsee stderr".to_string())],
            node_ids: vec!["node-0".into(), "node-1".into()],
            output_paths: [("stdouterr".to_string(), "/tmp/o".to_string())].into(),
        };
        let specs = [
            r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}"#,
            r#"{"cluster": {"id": "/workspaces/ws/clusters/c"}, "nodeCount": 2, "schedulingPriority": "high",
                "customMpiSettings": {"commandLine": "echo ü \u0001", "processCount": 4},
                "environmentVariables": [{"name": "A", "value": "1"}],
                "secrets": [{"name": "TOKEN", "value": "hunter2"}],
                "outputDirectories": [{"id": "MODEL", "pathPrefix": "/tmp/m", "pathSuffix": "s"}],
                "inputDirectories": [{"id": "DATA", "path": "/d"}],
                "jobPreparation": {"commandLine": "echo prep"},
                "constraints": {"maxWallClockTime": "PT1H30M"}}"#,
        ];
        for spec in specs {
            for info in [ExecutionInfo::default(), info.clone()] {
                let job = stored(spec, info);
                let text = job.to_resource_text();
                let expected = job.clone().parse().unwrap().to_resource();
                assert_eq!(text, expected.to_string(), "the spliced text must be byte for byte the parsed one");
                assert!(!text.contains("hunter2"));
            }
        }
    }

    #[test]
    fn a_spec_that_is_not_an_object_still_lists() {
        let mut job =
            stored(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}}"#, ExecutionInfo::default());
        job.spec_json = "not json".into();
        let value: serde_json::Value = serde_json::from_str(&job.to_resource_text()).unwrap();
        assert_eq!(value["properties"]["executionState"], "failed");
        assert_eq!(value["name"], "j-1");
        job.spec_json = "{}".into();
        let value: serde_json::Value = serde_json::from_str(&job.to_resource_text()).unwrap();
        assert_eq!(value["properties"]["toolType"], "custom");
    }
}
