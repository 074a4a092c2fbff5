//! Folders of nodes and jobs on the local engine, and mount volumes without root.
//!
//! Layout under the workspace folder:
//! ```text
//! nodes/<node>/mounts/<relativeMountPath>   cluster volumes   ($AZ_BATCHAI_MOUNT_ROOT)
//! nodes/<node>/jobs/temp/                  job temp          ($AZ_BATCHAI_JOB_TEMP)
//! nodes/<node>/jobs/temp/mounts/...        job volumes       ($AZ_BATCHAI_JOB_MOUNT_ROOT)
//! nodes/<node>/jobs/hostfile               MPI host file of a one-node job
//! shared/<uid>/                            shared job temp of a multi-node job
//! ```
//! A node runs one job at a time, and Batch AI wiped the job temp before the next job, so each
//! node has one job temp folder, emptied when a job ends; a one-node job's shared temp is its job
//! temp (its only node). Creating and removing folders per job would cost several journaled
//! metadata operations per job, which on a virtual disk cost more than starting the process.
//! A file server or a stand-in for Azure storage is "mounted" as a symbolic link to its folder,
//! which needs no privileges and shows the same files on every node, as NFS did. Unmanaged file
//! systems run their mount command (with the mount path appended, as Batch AI did) in the node's
//! setup or the job's preparation, where a failure is reported like a setup failure.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::engine::model::mounts::MountVolumes;
use crate::engine::paths::Layout;

pub fn node_root(layout: &Layout, node: &str) -> PathBuf {
    layout.nodes().join(node)
}

pub fn node_mount_root(layout: &Layout, node: &str) -> PathBuf {
    node_root(layout, node).join("mounts")
}

pub fn job_temp_root(layout: &Layout, node: &str) -> PathBuf {
    node_root(layout, node).join("jobs")
}

pub fn job_temp(layout: &Layout, node: &str) -> PathBuf {
    job_temp_root(layout, node).join("temp")
}

/// The host file of a one-node job on `node`.
pub fn node_host_file(layout: &Layout, node: &str) -> PathBuf {
    job_temp_root(layout, node).join("hostfile")
}

/// Remove everything inside `dir` (not crossing into other file systems), keeping `dir`.
/// An empty folder costs one directory read.
pub fn empty_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        remove_tree(&entry.path());
    }
}

pub fn shared_job_temp(layout: &Layout, uid: &str) -> PathBuf {
    layout.root.join("shared").join(uid)
}

/// Expand `$NAME` and `${NAME}` the way bash would for plain references: from `vars`, then the
/// agent's environment, else empty (no shell expands a folder path after us).
pub fn expand(text: &str, vars: &HashMap<String, String>) -> String {
    crate::engine::toolkits::env::expand_with(text, |name| {
        Some(vars.get(name).cloned().or_else(|| std::env::var(name).ok()).unwrap_or_default())
    })
}

/// Where a mounted volume's files really are, for every volume that can be linked.
pub struct MountTargets<'a> {
    pub layout: &'a Layout,
    /// File server name → its folder.
    pub file_servers: &'a HashMap<String, String>,
}

/// A volume that could not be made visible.
#[derive(Debug)]
pub struct MountError {
    pub code: &'static str,
    pub message: String,
}

impl MountTargets<'_> {
    /// The folder each linkable volume shows: `(relativeMountPath, folder, error code)`. File
    /// servers, Azure File shares and Blob containers are links; unmanaged file systems are not
    /// listed (their mount command decides what they show).
    pub fn links<'v>(&self, volumes: &'v MountVolumes) -> Result<Vec<(&'v str, PathBuf, &'static str)>, MountError> {
        let mut links = Vec::new();
        for reference in &volumes.file_servers {
            let name = reference.file_server.id.rsplit('/').next().unwrap_or_default();
            let Some(folder) = self.file_servers.get(name) else {
                return Err(MountError {
                    code: "FileServerNotFound",
                    message: format!("file server '{name}' does not exist"),
                });
            };
            let mut target = PathBuf::from(folder);
            if let Some(source) =
                reference.source_directory.as_deref().map(|s| s.trim_start_matches('/')).filter(|s| !s.is_empty())
            {
                target.push(source);
            }
            links.push((reference.relative_mount_path.as_str(), target, "NFSMountError"));
        }
        for share in &volumes.azure_file_shares {
            let target = self.layout.azure_storage(&share.account_name, share.share_name());
            links.push((share.relative_mount_path.as_str(), target, "AZFMountError"));
        }
        for blob in &volumes.azure_blob_file_systems {
            let target = self.layout.azure_storage(&blob.account_name, &blob.container_name);
            links.push((blob.relative_mount_path.as_str(), target, "BFSMountError"));
        }
        Ok(links)
    }

    /// Link each linkable volume under `root`. Unmanaged file systems are returned as shell
    /// commands (`<mountCommand> <path>`) for the caller to run in a setup or preparation step.
    pub fn mount(&self, volumes: &MountVolumes, root: &Path) -> Result<Vec<String>, MountError> {
        for (relative, target, code) in self.links(volumes)? {
            let error = |e: io::Error| MountError {
                code,
                message: format!("cannot mount {} at {relative}: {e}", target.display()),
            };
            std::fs::create_dir_all(&target).map_err(error)?;
            let path = root.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(error)?;
            }
            match std::os::unix::fs::symlink(&target, &path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                other => other.map_err(error)?,
            }
        }
        let mut commands = Vec::new();
        for unmanaged in &volumes.unmanaged_file_systems {
            let path = root.join(&unmanaged.relative_mount_path);
            std::fs::create_dir_all(&path).map_err(|e| MountError {
                code: "UnmanagedMountError",
                message: format!("cannot create {}: {e}", path.display()),
            })?;
            commands.push(format!(
                "{} '{}'",
                unmanaged.mount_command,
                path.display().to_string().replace('\'', "'\\''")
            ));
        }
        Ok(commands)
    }
}

/// What batchai makes inside a workspace folder, in the order deleting the workspace removes
/// it: the store and the agent's lock go last, so a deletion cut short can be taken up again.
const WORKSPACE_ENTRIES: [&str; 16] = [
    "nodes",
    "shared",
    "outputs",
    "fileservers",
    "azure",
    // Slurm runs' folders (the launchers' inboxes and outboxes).
    "slurm",
    "agent.sock",
    "workspace.db",
    "workspace.db-wal",
    "workspace.db-shm",
    "agent.log",
    "agent.log.1",
    "agent.log.2",
    // Space kept back for the agent's commits on a full disk (`store::reserve`).
    ".reserve",
    // The endpoints' secret: last but one, so clients of a deletion cut short still reach it.
    ".endpoints",
    "agent.lock",
];

/// Remove what batchai made in the workspace folder, then the folder if nothing else is left in
/// it. Files of the user's (an existing folder used as a file server, anything they put there)
/// stay, and nothing on another file system is touched.
pub fn remove_workspace(layout: &Layout) {
    for entry in WORKSPACE_ENTRIES {
        remove_tree(&layout.root.join(entry));
    }
    // Not empty: the folder holds files of the user's; leave them.
    let _ = std::fs::remove_dir(&layout.root);
}

/// Remove a folder tree, ignoring one that is already gone. Links are removed, not followed, and
/// nothing on another file system is touched: a volume mounted inside (an unmanaged file system
/// a job mounted) keeps its files, and its mount point stays.
pub fn remove_tree(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::symlink_metadata(path) else { return };
    if let Err(e) = remove_on_device(path, root.dev()) {
        tracing::warn!("cannot remove {}: {e}", path.display());
    }
}

fn remove_on_device(path: &Path, device: u64) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    if meta.dev() != device {
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        remove_on_device(&entry?.path(), device)?;
    }
    match std::fs::remove_dir(path) {
        // A mount point left inside keeps its parent non-empty; that is intended.
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::mounts::{AzureFileShareReference, FileServerReference, UnmanagedFileSystemReference};

    #[test]
    fn expansion_follows_bash_for_plain_references() {
        let vars = HashMap::from([("AZ_BATCHAI_MOUNT_ROOT".to_string(), "/m".to_string())]);
        assert_eq!(expand("$AZ_BATCHAI_MOUNT_ROOT/afs", &vars), "/m/afs");
        assert_eq!(expand("${AZ_BATCHAI_MOUNT_ROOT}x/$", &vars), "/mx/$");
        assert_eq!(expand("a$BATCHAI_SURELY_UNSET_VARIABLE-b", &vars), "a-b");
        assert_eq!(expand("cost: 5$", &vars), "cost: 5$");
    }

    #[test]
    fn volumes_become_links_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let served = dir.path().join("served");
        std::fs::create_dir_all(served.join("data")).unwrap();
        std::fs::write(served.join("data/x.txt"), "x").unwrap();
        let servers = HashMap::from([("nfs".to_string(), served.display().to_string())]);
        let volumes = MountVolumes {
            file_servers: vec![FileServerReference {
                file_server: crate::engine::model::ResourceId::new("/workspaces/w/fileServers/nfs"),
                source_directory: Some("data".into()),
                relative_mount_path: "nfs".into(),
                mount_options: None,
            }],
            azure_file_shares: vec![AzureFileShareReference {
                account_name: "acct".into(),
                azure_file_url: "https://acct.file.core.windows.net/logs".into(),
                relative_mount_path: "afs".into(),
                file_mode: None,
                directory_mode: None,
            }],
            unmanaged_file_systems: vec![UnmanagedFileSystemReference {
                mount_command: "mount -t tmpfs none".into(),
                relative_mount_path: "tmp".into(),
            }],
            ..Default::default()
        };
        let root = dir.path().join("mounts");
        let commands = MountTargets { layout: &layout, file_servers: &servers }.mount(&volumes, &root).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("nfs/x.txt")).unwrap(), "x");
        std::fs::write(root.join("afs/out.txt"), "o").unwrap();
        assert_eq!(std::fs::read_to_string(layout.azure_storage("acct", "logs").join("out.txt")).unwrap(), "o");
        assert_eq!(commands, vec![format!("mount -t tmpfs none '{}'", root.join("tmp").display())]);
        remove_tree(&root);
        assert!(served.join("data/x.txt").exists(), "removing mounts must not touch the served files");
    }
}
