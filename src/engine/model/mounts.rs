//! Mount volumes (spec §1.6), used on clusters (`nodeSetup.mountVolumes`) and on jobs.
//!
//! On the local engine nothing is mounted with root rights: each volume becomes a directory (or a
//! symbolic link to one) under the mount root, which is what the job sees at
//! `$AZ_BATCHAI_MOUNT_ROOT/<relativeMountPath>`. Azure storage is stood in for by directories the
//! workspace owns, so recipes that write to `$AZ_BATCHAI_MOUNT_ROOT/afs` keep working.

use serde::{Deserialize, Serialize};

use super::common::ResourceId;
use super::validate::{self, Check};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountVolumes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_servers: Vec<FileServerReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_file_systems: Vec<UnmanagedFileSystemReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub azure_file_shares: Vec<AzureFileShareReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub azure_blob_file_systems: Vec<AzureBlobFileSystemReference>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileServerReference {
    pub file_server: ResourceId,
    /// A directory inside the file server; the whole file server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_directory: Option<String>,
    pub relative_mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<String>,
}

/// Any file system reached by a mount command. Batch AI appended the mount path to the command;
/// locally the command runs with the mount path appended when the process may mount, and
/// otherwise the failure is reported as a mount error on the node or job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnmanagedFileSystemReference {
    pub mount_command: String,
    pub relative_mount_path: String,
}

/// An Azure File share. Credentials are never stored (the JSON importer drops them with a
/// warning); the share is stood in for by a directory of the workspace named after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureFileShareReference {
    pub account_name: String,
    pub azure_file_url: String,
    pub relative_mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_mode: Option<String>,
}

/// An Azure Blob container mounted with blobfuse; stood in for like a file share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureBlobFileSystemReference {
    pub account_name: String,
    pub container_name: String,
    pub relative_mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<String>,
}

/// What an `accountName` should be: it names the folder `<workspace>/azure/<accountName>` that
/// stands in for the storage account.
const ACCOUNT: &str =
    "the storage account's name, such as 'mystorage' (it names the workspace folder azure/<accountName>)";

impl AzureFileShareReference {
    /// The share's name: the last component of its URL.
    pub fn share_name(&self) -> &str {
        self.azure_file_url.trim_end_matches('/').rsplit('/').next().unwrap_or("share")
    }
}

impl MountVolumes {
    pub fn is_empty(&self) -> bool {
        self.file_servers.is_empty()
            && self.unmanaged_file_systems.is_empty()
            && self.azure_file_shares.is_empty()
            && self.azure_blob_file_systems.is_empty()
    }

    /// Every relative mount path with the field that holds it.
    pub fn mount_paths(&self, prefix: &str) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for (i, m) in self.file_servers.iter().enumerate() {
            out.push((format!("{prefix}fileServers[{i}].relativeMountPath"), m.relative_mount_path.as_str()));
        }
        for (i, m) in self.unmanaged_file_systems.iter().enumerate() {
            out.push((format!("{prefix}unmanagedFileSystems[{i}].relativeMountPath"), m.relative_mount_path.as_str()));
        }
        for (i, m) in self.azure_file_shares.iter().enumerate() {
            out.push((format!("{prefix}azureFileShares[{i}].relativeMountPath"), m.relative_mount_path.as_str()));
        }
        for (i, m) in self.azure_blob_file_systems.iter().enumerate() {
            out.push((format!("{prefix}azureBlobFileSystems[{i}].relativeMountPath"), m.relative_mount_path.as_str()));
        }
        out
    }

    /// `prefix` is the path of this object, ending in '.', e.g. `mountVolumes.`.
    pub fn validate(&self, prefix: &str) -> Check {
        let paths = self.mount_paths(prefix);
        for (field, path) in &paths {
            validate::relative_path(field, path)?;
        }
        // Two volumes on one path would hide each other; nested paths would too.
        for (i, (field, a)) in paths.iter().enumerate() {
            for (_, b) in &paths[..i] {
                let nested = a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"));
                if a == b || nested {
                    return validate::fail(
                        field,
                        a,
                        &format!(
                            "collides with the mount path '{b}' of another volume; mount paths must be distinct and not nested"
                        ),
                    );
                }
            }
        }
        for (i, m) in self.file_servers.iter().enumerate() {
            m.file_server.parse(&format!("{prefix}fileServers[{i}].fileServer"), "fileServers")?;
            if let Some(dir) = &m.source_directory {
                let field = format!("{prefix}fileServers[{i}].sourceDirectory");
                let trimmed = dir.trim_start_matches('/');
                if !trimmed.is_empty() {
                    validate::relative_path(&field, trimmed)?;
                }
            }
        }
        for (i, m) in self.unmanaged_file_systems.iter().enumerate() {
            validate::not_blank(&format!("{prefix}unmanagedFileSystems[{i}].mountCommand"), &m.mount_command)?;
        }
        for (i, m) in self.azure_file_shares.iter().enumerate() {
            let f = |name: &str| format!("{prefix}azureFileShares[{i}].{name}");
            validate::path_component(&f("accountName"), &m.account_name, ACCOUNT)?;
            validate::not_blank(&f("azureFileUrl"), &m.azure_file_url)?;
            validate::name(&f("azureFileUrl"), m.share_name())?;
            for (name, mode) in [("fileMode", &m.file_mode), ("directoryMode", &m.directory_mode)] {
                if let Some(mode) = mode {
                    let octal =
                        mode.len() == 4 && mode.starts_with('0') && mode.chars().all(|c| ('0'..='7').contains(&c));
                    if !octal {
                        return validate::fail(&f(name), mode, "must be a four-digit octal mode such as 0777");
                    }
                }
            }
        }
        for (i, m) in self.azure_blob_file_systems.iter().enumerate() {
            let f = |name: &str| format!("{prefix}azureBlobFileSystems[{i}].{name}");
            validate::path_component(&f("accountName"), &m.account_name, ACCOUNT)?;
            validate::name(&f("containerName"), &m.container_name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(path: &str) -> FileServerReference {
        FileServerReference {
            file_server: ResourceId::new("nfs"),
            source_directory: None,
            relative_mount_path: path.into(),
            mount_options: None,
        }
    }

    #[test]
    fn mount_paths_must_be_distinct_and_not_nested() {
        let ok = MountVolumes { file_servers: vec![fs("a"), fs("b")], ..Default::default() };
        assert!(ok.validate("mountVolumes.").is_ok());
        let same = MountVolumes { file_servers: vec![fs("a"), fs("a")], ..Default::default() };
        assert_eq!(same.validate("mountVolumes.").unwrap_err().field, "mountVolumes.fileServers[1].relativeMountPath");
        let nested = MountVolumes { file_servers: vec![fs("a"), fs("a/b")], ..Default::default() };
        assert!(nested.validate("").unwrap_err().rule.contains("nested"));
    }

    #[test]
    fn modes_are_octal() {
        let share = AzureFileShareReference {
            account_name: "acct".into(),
            azure_file_url: "https://acct.file.core.windows.net/share".into(),
            relative_mount_path: "afs".into(),
            file_mode: Some("0778".into()),
            directory_mode: None,
        };
        assert_eq!(share.share_name(), "share");
        let mv = MountVolumes { azure_file_shares: vec![share], ..Default::default() };
        assert!(mv.validate("").unwrap_err().rule.contains("octal"));
    }

    #[test]
    fn account_names_are_one_folder_name() {
        let share = |account: &str| AzureFileShareReference {
            account_name: account.into(),
            azure_file_url: "https://acct.file.core.windows.net/share".into(),
            relative_mount_path: "afs".into(),
            file_mode: None,
            directory_mode: None,
        };
        let ok = MountVolumes { azure_file_shares: vec![share("acct")], ..Default::default() };
        assert!(ok.validate("").is_ok());
        for bad in ["../..", "..", "a/b", "."] {
            let mv = MountVolumes { azure_file_shares: vec![share(bad)], ..Default::default() };
            let err = mv.validate("mountVolumes.").unwrap_err();
            assert_eq!(err.field, "mountVolumes.azureFileShares[0].accountName");
            assert!(err.rule.contains("single folder name") && err.rule.contains("storage account"), "{err}");
        }
        let blob = AzureBlobFileSystemReference {
            account_name: "../..".into(),
            container_name: "c".into(),
            relative_mount_path: "b".into(),
            mount_options: None,
        };
        let mv = MountVolumes { azure_blob_file_systems: vec![blob], ..Default::default() };
        assert_eq!(mv.validate("").unwrap_err().field, "azureBlobFileSystems[0].accountName");
    }
}
