//! Loading the JSON files that `az batchai job create -f` and `cluster create -f` took.
//!
//! Accepted with or without the ARM `properties` wrapper. Read-only properties (what `show`
//! printed: states, times, counts) are ignored, so a resource's own output loads back. Azure-only
//! properties are mapped where they mean something here and otherwise removed with a warning that
//! names them; nothing is dropped silently, and credentials are never stored.

use serde_json::{Map, Value};

use crate::engine::error::ValidationError;

use super::parse;
use super::{ClusterSpec, FileServerSpec, JobSpec};

/// A spec loaded from Batch AI JSON, with what was not carried over.
#[derive(Debug)]
pub struct Imported<T> {
    pub spec: T,
    pub warnings: Vec<String>,
}

const JOB_READ_ONLY: &[&str] = &[
    "toolType",
    "executionState",
    "executionStateTransitionTime",
    "executionInfo",
    "provisioningState",
    "provisioningStateTransitionTime",
    "creationTime",
    "jobOutputDirectoryPathSegment",
    "waitReason",
    "expectedStart",
];

const CLUSTER_READ_ONLY: &[&str] = &[
    "creationTime",
    "provisioningState",
    "provisioningStateTransitionTime",
    "allocationState",
    "allocationStateTransitionTime",
    "currentNodeCount",
    "nodeStateCounts",
    "errors",
];

const FILE_SERVER_READ_ONLY: &[&str] =
    &["creationTime", "provisioningState", "provisioningStateTransitionTime", "mountSettings", "managed"];

struct Mapper {
    warnings: Vec<String>,
}

impl Mapper {
    fn drop_field(&mut self, object: &mut Map<String, Value>, path: &str, key: &str, why: &str) {
        if object.remove(key).is_some() {
            self.warnings.push(format!("{path}{key}: {why}"));
        }
    }

    /// Strip the ARM envelope: `{"properties": {...}, "location": ..., "name": ...}`.
    fn unwrap_envelope(&mut self, document: Value) -> Result<Map<String, Value>, ValidationError> {
        let Value::Object(mut top) = document else {
            return Err(ValidationError::new("(document)", super::validate::show(&document), "must be a JSON object"));
        };
        // Batch AI's recipes name their JSON schema for editors; it carries no settings.
        top.remove("$schema");
        if !matches!(top.get("properties"), Some(Value::Object(_))) {
            return Ok(top);
        }
        let Some(Value::Object(properties)) = top.remove("properties") else { unreachable!("checked above") };
        self.drop_field(&mut top, "", "location", "Azure regions do not apply; ignored");
        self.drop_field(&mut top, "", "tags", "tags are kept on workspaces only (as in Batch AI 2018-05-01); ignored");
        for read_only in ["id", "name", "type"] {
            top.remove(read_only);
        }
        if let Some(key) = top.keys().next() {
            return Err(ValidationError::new(
                key.clone(),
                super::validate::show(&top[key]),
                "is not a known field next to 'properties' (expected location, tags, id, name, type)",
            ));
        }
        Ok(properties)
    }

    fn mount_volumes(&mut self, volumes: &mut Value, path: &str) {
        for (kind, what) in [("azureFileShares", "file share"), ("azureBlobFileSystems", "blob container")] {
            if let Some(Value::Array(items)) = volumes.get_mut(kind) {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Value::Object(object) = item {
                        let here = format!("{path}{kind}[{i}].");
                        self.drop_field(
                            object,
                            &here,
                            "credentials",
                            &format!("Azure storage credentials are not used or stored; the {what} is stood in for by a folder of the workspace"),
                        );
                    }
                }
            }
        }
    }

    fn secrets(&mut self, holder: &mut Value, path: &str) {
        let Some(Value::Array(items)) = holder.get_mut("secrets") else { return };
        let mut kept = Vec::new();
        for (i, item) in std::mem::take(items).into_iter().enumerate() {
            if item.get("valueSecretReference").is_some() {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
                self.warnings.push(format!(
                    "{path}secrets[{i}].valueSecretReference: Key Vault references cannot be resolved locally; secret '{name}' is not set (give its value instead)"
                ));
            } else {
                kept.push(item);
            }
        }
        *items = kept;
    }
}

fn remove_all(object: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        object.remove(*key);
    }
}

/// `JobCreateParameters`.
pub fn job(text: &str) -> Result<Imported<JobSpec>, ValidationError> {
    let mut m = Mapper { warnings: Vec::new() };
    let mut props = m.unwrap_envelope(parse::parse_text(text)?)?;
    remove_all(&mut props, JOB_READ_ONLY);
    if let Some(volumes) = props.get_mut("mountVolumes") {
        m.mount_volumes(volumes, "mountVolumes.");
    }
    if let Some(Value::Object(container)) = props.get_mut("containerSettings") {
        if let Some(Value::Object(registry)) = container.get_mut("imageSourceRegistry")
            && let Some(Value::Object(creds)) = registry.get_mut("credentials")
        {
            m.drop_field(
                creds,
                "containerSettings.imageSourceRegistry.credentials.",
                "passwordSecretReference",
                "Key Vault references cannot be resolved locally; ignored",
            );
        }
        m.warnings.push(
            "containerSettings: recorded with the job; the local engine runs the job's processes on this machine, not in the container".to_string(),
        );
    }
    let mut props = Value::Object(props);
    m.secrets(&mut props, "");
    let spec: JobSpec = parse::from_value(props)?;
    Ok(Imported { spec, warnings: m.warnings })
}

/// `ClusterCreateParameters`.
pub fn cluster(text: &str) -> Result<Imported<ClusterSpec>, ValidationError> {
    let mut m = Mapper { warnings: Vec::new() };
    let mut props = m.unwrap_envelope(parse::parse_text(text)?)?;
    remove_all(&mut props, CLUSTER_READ_ONLY);
    if let Some(size) = props.get("vmSize").and_then(Value::as_str)
        && !props.contains_key("nodeShape")
    {
        m.warnings.push(format!(
                "vmSize: '{size}' is kept as a label; each node is a slice of this machine given by nodeShape (default: 1 CPU, no GPU)"
            ));
    }
    m.drop_field(
        &mut props,
        "",
        "virtualMachineConfiguration",
        "VM images do not apply: nodes run on this machine's operating system; ignored",
    );
    m.drop_field(&mut props, "", "userAccountSettings", "no admin accounts are made: jobs run as the user who runs the agent; ignored (passwords and keys are not stored)");
    m.drop_field(&mut props, "", "subnet", "virtual networks do not apply; ignored");
    if let Some(Value::Object(setup)) = props.get_mut("nodeSetup") {
        m.drop_field(
            setup,
            "nodeSetup.",
            "performanceCountersSettings",
            "Application Insights is not available; ignored",
        );
        if let Some(volumes) = setup.get_mut("mountVolumes") {
            m.mount_volumes(volumes, "nodeSetup.mountVolumes.");
        }
        if let Some(task) = setup.get_mut("setupTask") {
            if let Value::Object(object) = task {
                object.remove("stdOutErrPathSuffix");
                m.drop_field(
                    object,
                    "nodeSetup.setupTask.",
                    "runElevated",
                    "the setup task runs as the agent's user; ignored",
                );
            }
            m.secrets(task, "nodeSetup.setupTask.");
        }
    }
    let spec: ClusterSpec = parse::from_value(Value::Object(props))?;
    Ok(Imported { spec, warnings: m.warnings })
}

/// `FileServerCreateParameters`.
pub fn file_server(text: &str) -> Result<Imported<FileServerSpec>, ValidationError> {
    let mut m = Mapper { warnings: Vec::new() };
    let mut props = m.unwrap_envelope(parse::parse_text(text)?)?;
    remove_all(&mut props, FILE_SERVER_READ_ONLY);
    m.drop_field(
        &mut props,
        "",
        "sshConfiguration",
        "no SSH access is set up; ignored (passwords and keys are not stored)",
    );
    m.drop_field(&mut props, "", "dataDisks", "the file server is a folder on this machine; disk layout ignored");
    m.drop_field(&mut props, "", "subnet", "virtual networks do not apply; ignored");
    let spec: FileServerSpec = parse::from_value(Value::Object(props))?;
    Ok(Imported { spec, warnings: m.warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_with_envelope_and_azure_fields() {
        let text = r#"{
          "location": "eastus",
          "properties": {
            "cluster": {"id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.BatchAI/workspaces/w/clusters/nc6"},
            "nodeCount": 2,
            "mountVolumes": {"azureFileShares": [{"accountName": "a", "azureFileUrl": "https://a.file.core.windows.net/logs",
               "credentials": {"accountKey": "KEY"}, "relativeMountPath": "afs"}]},
            "secrets": [{"name": "S", "valueSecretReference": {"secretUrl": "u", "sourceVault": {"id": "v"}}}],
            "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs",
            "horovodSettings": {"pythonScriptFilePath": "$AZ_BATCHAI_INPUT_SCRIPT/train.py"},
            "executionState": "running"
          }
        }"#;
        let imported = job(text).unwrap();
        assert_eq!(imported.spec.node_count, 2);
        assert!(imported.spec.secrets.is_empty());
        let all = imported.warnings.join("\n");
        assert!(all.contains("location"), "{all}");
        assert!(all.contains("mountVolumes.azureFileShares[0].credentials"), "{all}");
        assert!(all.contains("secrets[0].valueSecretReference"), "{all}");
        assert!(!serde_json::to_string(&imported.spec).unwrap().contains("KEY"));
        imported.spec.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_errors_not_warnings() {
        let e = job(r#"{"properties": {"cluster": "c", "nodeCount": 1}, "etag": "x"}"#).unwrap_err();
        assert_eq!(e.field, "etag");
        let e = job(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandline": "x"}}"#).unwrap_err();
        assert_eq!(e.field, "customToolkitSettings.commandline");
    }

    #[test]
    fn cluster_drops_azure_only_parts_with_warnings() {
        let text = r#"{"properties": {"vmSize": "STANDARD_NC6", "userAccountSettings": {"adminUserName": "u", "adminUserPassword": "p"},
            "virtualMachineConfiguration": {"imageReference": {"publisher": "p", "offer": "o", "sku": "s"}},
            "scaleSettings": {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}},
            "nodeSetup": {"setupTask": {"commandLine": "echo hi", "stdOutErrPathPrefix": "/tmp", "runElevated": true}}}}"#;
        let imported = cluster(text).unwrap();
        assert_eq!(imported.spec.vm_size.as_deref(), Some("STANDARD_NC6"));
        assert_eq!(imported.warnings.len(), 4, "{:?}", imported.warnings);
        imported.spec.validate().unwrap();
    }
}
