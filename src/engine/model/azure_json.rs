//! Loading the JSON files that `az batchai job create -f` and `cluster create -f` took.
//!
//! Accepted with or without the ARM `properties` wrapper. Read-only properties (what `show`
//! printed: states, times, counts) are ignored, so a resource's own output loads back. Azure-only
//! properties are mapped where they mean something here and otherwise removed with a warning that
//! names them; nothing is dropped silently, and credentials are never stored.
//!
//! Recipes load unchanged: an Azure resource id of a cluster or file server
//! (`/subscriptions/…/providers/Microsoft.BatchAI/workspaces/ws/clusters/c0`) is resolved by its
//! name in the workspace the job or cluster is created in, with a warning that the
//! subscription, resource group and workspace were ignored (a local workspace has none of them).
//! Placeholders that `az batchai` filled in from its flags (`<AZURE_BATCHAI_STORAGE_ACCOUNT>`)
//! and that are still in the file are reported with the field and how to fill them.

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

    /// `holder[key]` names a resource of `collection` (`clusters`, `fileServers`), as a string or
    /// `{"id": ...}`: an Azure resource id becomes the bare name, with a warning.
    fn azure_reference(&mut self, holder: &mut Value, key: &str, path: &str, collection: &str) {
        let Some(reference) = holder.get_mut(key) else { return };
        let slot = match reference {
            Value::Object(object) => match object.get_mut("id") {
                Some(id) => id,
                None => return,
            },
            other => other,
        };
        let Some(id) = slot.as_str() else { return };
        let Some((workspace, name)) = azure_resource(id, collection) else { return };
        let what = if collection == "clusters" { "cluster" } else { "file server" };
        self.warnings.push(format!(
            "{path}{key}: '{id}' is an Azure resource id; the {what} '{name}' of this workspace is used (the subscription, resource group and workspace '{workspace}' were ignored)"
        ));
        *slot = Value::String(name);
    }

    /// The file servers a set of mount volumes names (`fileServers[].fileServer`).
    fn file_server_references(&mut self, volumes: &mut Value, path: &str) {
        if let Some(Value::Array(items)) = volumes.get_mut("fileServers") {
            for (i, item) in items.iter_mut().enumerate() {
                self.azure_reference(item, "fileServer", &format!("{path}fileServers[{i}]."), "fileServers");
            }
        }
    }

    /// Report every `<PLACEHOLDER>` left in a string of the document.
    fn placeholders(&mut self, value: &Value, path: &str) {
        match value {
            Value::Object(object) => {
                for (key, item) in object {
                    let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    self.placeholders(item, &here);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.placeholders(item, &format!("{path}[{i}]"));
                }
            }
            Value::String(text) => {
                for placeholder in find_placeholders(text) {
                    self.warnings.push(format!("{path}: {}", placeholder_advice(placeholder)));
                }
            }
            _ => {}
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

/// `(workspace, name)` of an Azure resource id of `collection`:
/// `/subscriptions/<s>/resourceGroups/<g>/providers/Microsoft.BatchAI/workspaces/<ws>/<collection>/<name>`.
fn azure_resource(id: &str, collection: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    let n = parts.len();
    let azure = parts.first().is_some_and(|p| p.eq_ignore_ascii_case("subscriptions"))
        && parts.iter().any(|p| p.eq_ignore_ascii_case("providers"));
    (azure
        && n >= 4
        && parts[n - 4].eq_ignore_ascii_case("workspaces")
        && parts[n - 2].eq_ignore_ascii_case(collection)
        && !parts[n - 1].is_empty())
    .then(|| (parts[n - 3].to_string(), parts[n - 1].to_string()))
}

/// `<NAME>` tokens in `text`: `<`, an upper-case letter, then upper-case letters, digits or
/// underscores (at least three characters in all), then `>`; the form of Batch AI's
/// placeholders, and not of shell redirections or HTML.
fn find_placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let len =
            after.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).unwrap_or(after.len());
        let name = &after[..len];
        if len >= 3 && name.starts_with(|c: char| c.is_ascii_uppercase()) && after[len..].starts_with('>') {
            found.push(&rest[start..start + len + 2]);
            rest = &after[len + 1..];
        } else {
            rest = after;
        }
    }
    found
}

/// What to do about a placeholder left in a file.
fn placeholder_advice(placeholder: &str) -> String {
    match placeholder {
        "<AZURE_BATCHAI_STORAGE_ACCOUNT>" => format!(
            "'{placeholder}' is a placeholder that az batchai filled from --storage-account-name (or $AZURE_BATCHAI_STORAGE_ACCOUNT); write the storage account's name in the file instead (here it names the workspace folder that stands in for the storage: azure/<account>/<share>)"
        ),
        "<AZURE_BATCHAI_STORAGE_KEY>" => format!(
            "'{placeholder}' is a placeholder that az batchai filled from --storage-account-key (or $AZURE_BATCHAI_STORAGE_KEY); storage keys are not used here: remove it"
        ),
        _ => format!(
            "'{placeholder}' looks like a placeholder left in the file; replace it with the value it stands for"
        ),
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
        m.file_server_references(volumes, "mountVolumes.");
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
    m.azure_reference(&mut props, "cluster", "", "clusters");
    m.placeholders(&props, "");
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
            m.file_server_references(volumes, "nodeSetup.mountVolumes.");
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
    let props = Value::Object(props);
    m.placeholders(&props, "");
    let spec: ClusterSpec = parse::from_value(props)?;
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
    let props = Value::Object(props);
    m.placeholders(&props, "");
    let spec: FileServerSpec = parse::from_value(props)?;
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
        // The Azure id is resolved by name in the workspace the job is created in.
        assert_eq!(imported.spec.cluster.id, "nc6");
        assert!(all.contains("cluster: '/subscriptions/x/"), "{all}");
        imported.spec.validate().unwrap();
    }

    #[test]
    fn azure_ids_of_clusters_and_file_servers_resolve_by_name_with_a_warning() {
        let arm = "/subscriptions/0000/resourceGroups/batchai.recipes/providers/Microsoft.BatchAI/workspaces/recipe_ws";
        let text = format!(
            r#"{{"properties": {{"cluster": {{"id": "{arm}/clusters/c0"}}, "nodeCount": 1,
                "customToolkitSettings": {{"commandLine": "true"}},
                "mountVolumes": {{"fileServers": [{{"fileServer": {{"id": "{arm}/fileServers/nfs"}}, "relativeMountPath": "nfs"}},
                                                 {{"fileServer": "{arm}/fileServers/other", "relativeMountPath": "o"}}]}}}}}}"#
        );
        let imported = job(&text).unwrap();
        assert_eq!(imported.spec.cluster.id, "c0");
        let servers = &imported.spec.mount_volumes.as_ref().unwrap().file_servers;
        assert_eq!(servers.iter().map(|s| s.file_server.id.as_str()).collect::<Vec<_>>(), ["nfs", "other"]);
        assert_eq!(imported.warnings.len(), 3, "{:?}", imported.warnings);
        assert_eq!(
            imported.warnings[0],
            format!(
                "mountVolumes.fileServers[0].fileServer: '{arm}/fileServers/nfs' is an Azure resource id; the file server 'nfs' of this workspace is used (the subscription, resource group and workspace 'recipe_ws' were ignored)"
            )
        );
        assert!(imported.warnings[2].starts_with("cluster: "), "{:?}", imported.warnings);

        let text = format!(
            r#"{{"properties": {{"nodeSetup": {{"mountVolumes": {{"fileServers": [{{"fileServer": {{"id": "{arm}/fileServers/nfs"}}, "relativeMountPath": "nfs"}}]}}}}}}}}"#
        );
        let imported = cluster(&text).unwrap();
        let servers = &imported.spec.node_setup.as_ref().unwrap().mount_volumes.as_ref().unwrap().file_servers;
        assert_eq!(servers[0].file_server.id, "nfs");
        assert!(
            imported.warnings[0].starts_with("nodeSetup.mountVolumes.fileServers[0].fileServer: "),
            "{:?}",
            imported.warnings
        );
    }

    #[test]
    fn local_references_are_left_alone() {
        for id in ["c0", "ws/c0", "/workspaces/ws/clusters/c0", "/resourceGroups/g/workspaces/ws/clusters/c0"] {
            let imported =
                job(&format!(r#"{{"cluster": "{id}", "nodeCount": 1, "customToolkitSettings": {{}}}}"#)).unwrap();
            assert_eq!(imported.spec.cluster.id, id);
            assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
        }
    }

    #[test]
    fn placeholders_left_in_are_reported_with_the_field_and_how_to_fill_them() {
        let text = r#"{"properties": {"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "python a.py < in.txt <<EOF"},
            "mountVolumes": {"azureFileShares": [{
                "azureFileUrl": "https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/share",
                "accountName": "<AZURE_BATCHAI_STORAGE_ACCOUNT>", "relativeMountPath": "afs",
                "credentials": {"accountKey": "<AZURE_BATCHAI_STORAGE_KEY>"}}]},
            "environmentVariables": [{"name": "A", "value": "<MY_VALUE>"}]}}"#;
        let imported = job(text).unwrap();
        let found: Vec<&String> = imported.warnings.iter().filter(|w| w.contains("placeholder")).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("mountVolumes.azureFileShares[0].azureFileUrl: '<AZURE_BATCHAI_STORAGE_ACCOUNT>'")
        );
        assert!(found[0].contains("--storage-account-name"), "{}", found[0]);
        assert!(found[1].starts_with("mountVolumes.azureFileShares[0].accountName: "), "{}", found[1]);
        assert!(found[2].starts_with("environmentVariables[0].value: '<MY_VALUE>'"), "{}", found[2]);
        // The key was in credentials, which are dropped (and reported) as a whole.
        assert!(!imported.warnings.iter().any(|w| w.contains("STORAGE_KEY")), "{:?}", imported.warnings);
        let text = r#"{"properties": {"nodeSetup": {"setupTask": {"commandLine": "echo <AZURE_BATCHAI_STORAGE_KEY>", "stdOutErrPathPrefix": "/x"}}}}"#;
        let imported = cluster(text).unwrap();
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("nodeSetup.setupTask.commandLine: '<AZURE_BATCHAI_STORAGE_KEY>'"));
    }

    #[test]
    fn only_upper_case_names_in_angle_brackets_are_placeholders() {
        assert_eq!(find_placeholders("a <B> <CD> <x_Y> <<EOF> <E_1>< <F2_>x"), ["<EOF>", "<E_1>", "<F2_>"]);
        assert_eq!(find_placeholders("https://<ACCOUNT>.blob/<CONTAINER>"), ["<ACCOUNT>", "<CONTAINER>"]);
        assert!(find_placeholders("a < b > c, <br>, 1<2>3").is_empty());
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
