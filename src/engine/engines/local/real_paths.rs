//! Where a job's output really goes, so that the path recorded with the job stays valid.
//!
//! Theory of operation: a job names its output folders as its node sees them
//! (`$AZ_BATCHAI_JOB_MOUNT_ROOT/afs/logs`). On the local engine the volumes under a mount root
//! are symbolic links kept in the node's folder (see `workdirs`): the job mount root is inside the
//! node's job temp, emptied when the node starts its next job, and the whole node folder goes
//! with its cluster. A path recorded through such a link would stop resolving although the files
//! still exist. So before the run is committed, a path under a linked volume is rewritten to the
//! volume's own folder (computed from the volume, not read from the link, which may still be a
//! stale one of the node's previous job), and a prefix outside the workspace folder is
//! canonicalized as far as it exists (links the user made, `..`). Paths in the workspace folder
//! are kept as batchai named them (no system call: most jobs write to its `outputs`); those in a
//! node folder (the job temp, an unmanaged file system's mount point) are node-local on purpose:
//! like Batch AI's `$AZ_BATCHAI_JOB_TEMP_DIR` output, they are gone after the node's next job.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::workdirs::MountTargets;
use crate::engine::model::mounts::MountVolumes;
use crate::engine::paths::Layout;

/// `prefix/tail` with its linked volumes replaced by their folders (see the module docs).
/// `tail` is the part batchai adds (the job's path segment, a validated suffix): new folders
/// without links, so only the prefix, or the volume's folder, is canonicalized, which costs
/// one `realpath` when it exists. `mounted`: each mount root the job's master node has, with
/// the volumes linked under it.
pub fn real_path(
    layout: &Layout,
    prefix: &Path,
    tail: &Path,
    mounted: &[(PathBuf, &MountVolumes)],
    file_servers: &HashMap<String, String>,
) -> PathBuf {
    let path = lexical(&prefix.join(tail));
    let targets = MountTargets { layout, file_servers };
    // The longest link wins: volumes may be mounted inside each other's paths (`a`, `a/b`).
    let mut best: Option<(usize, PathBuf, PathBuf)> = None;
    for (root, volumes) in mounted {
        // A volume that cannot be linked fails the run's preparation with its own error.
        let Ok(links) = targets.links(volumes) else { continue };
        for (relative, target, _) in links {
            let link = lexical(&root.join(relative));
            if let Ok(rest) = path.strip_prefix(&link) {
                let depth = link.components().count();
                if best.as_ref().is_none_or(|(d, _, _)| depth > *d) {
                    best = Some((depth, target, rest.to_path_buf()));
                }
            }
        }
    }
    let (base, rest) = match best {
        Some((_, target, rest)) => (target, rest),
        None => (lexical(prefix), tail.to_path_buf()),
    };
    // The workspace's own folders (default outputs, Azure stand-ins, node folders) are named
    // as batchai made them; a path in a node folder is node-local on purpose (module docs).
    if base.starts_with(&layout.root) {
        return base.join(rest);
    }
    canonical_prefix(&base).join(rest)
}

/// `.` dropped and `..` applied to the text (a relative path keeps leading `..`).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The deepest existing ancestor canonicalized (links followed), the rest appended.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut base = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            return rest.iter().rev().fold(real, |acc: PathBuf, part| acc.join(part));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::mounts::{AzureFileShareReference, FileServerReference, UnmanagedFileSystemReference};

    fn volumes() -> MountVolumes {
        MountVolumes {
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
                mount_command: "true".into(),
                relative_mount_path: "lustre".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn linked_volumes_resolve_to_their_folders_without_reading_the_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let layout = Layout::new(root.join("ws"));
        let served = root.join("served");
        let servers = HashMap::from([("nfs".to_string(), served.display().to_string())]);
        let job_mounts = layout.nodes().join("n0/jobs/temp/mounts");
        // A stale link of the node's previous job must not be followed.
        std::fs::create_dir_all(&job_mounts).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), job_mounts.join("afs")).unwrap();
        let v = volumes();
        let mounted = [(job_mounts.clone(), &v)];
        let real = |p: PathBuf| real_path(&layout, &p, Path::new("ws/exp/uid"), &mounted, &servers);
        assert_eq!(real(job_mounts.join("nfs/./logs")), served.join("data/logs/ws/exp/uid"));
        assert_eq!(real(job_mounts.join("afs")), layout.azure_storage("acct", "logs").join("ws/exp/uid"));
        // The tail may be what reaches a volume (a prefix of the mount root itself).
        assert_eq!(
            real_path(&layout, &job_mounts, Path::new("afs/x"), &mounted, &servers),
            layout.azure_storage("acct", "logs").join("x")
        );
        // An unmanaged file system and the job temp are node-local: kept as given.
        assert_eq!(real(job_mounts.join("lustre")), job_mounts.join("lustre/ws/exp/uid"));
        assert_eq!(real(job_mounts.join("../scratch")), layout.nodes().join("n0/jobs/temp/scratch/ws/exp/uid"));
    }

    #[test]
    fn other_paths_follow_the_links_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let layout = Layout::new(root.join("ws"));
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        let real = |p: PathBuf| real_path(&layout, &p, Path::new("seg"), &[], &HashMap::new());
        assert_eq!(real(root.join("link/sub/not/yet")), root.join("real/sub/not/yet/seg"));
        assert_eq!(real(root.join("link/../real/sub")), root.join("real/sub/seg"));
        assert_eq!(real(root.join("none/at/all")), root.join("none/at/all/seg"));
    }
}
