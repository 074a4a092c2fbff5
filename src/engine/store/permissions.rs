//! Who may read a workspace: only its owner.
//!
//! Theory of operation. The workspace folder holds the database (with job and setup-task secrets
//! until they are erased, see `secrets`), its WAL and shared-memory files, the agent's log and
//! lock. The folder is made 0700 and those files 0600 whatever the umask: modes given at
//! creation are masked by the umask, so each is set again with `chmod` after creation. SQLite
//! creates `-wal` and `-shm` with the mode of the database file, so creating `workspace.db` as
//! 0600 before SQLite opens it covers them. Opening an existing workspace fixes the modes of what
//! is there (a few `stat` calls); a file owned by someone else is left as it is (chmod would fail
//! and the owner's choice stands).

use std::fs::{OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::engine::paths::Layout;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Set `path`'s permission bits to `mode` unless they already are; a missing file is fine.
pub fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(()),
        Ok(meta) if meta.permissions().mode() & 0o7777 == mode => Ok(()),
        Ok(_) => std::fs::set_permissions(path, Permissions::from_mode(mode)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create the workspace folder (and its parents) with the folder itself 0700. An existing folder
/// is made 0700 only when it is empty: one that holds anything (`/`, `/tmp`, a home folder) is
/// someone's folder, whose mode is not batchai's to change (making `/` 0700 stops every other
/// user's programs), so it is refused with `AlreadyExists`.
pub fn create_root(root: &Path) -> io::Result<()> {
    match std::fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the folder already holds files"));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(root)?,
        Err(e) => return Err(e),
    }
    restrict(root, DIR_MODE)
}

/// Create `path` empty with mode 0600 if it does not exist, and make it 0600 if it does.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    OpenOptions::new().create(true).append(true).mode(FILE_MODE).open(path)?;
    restrict(path, FILE_MODE)
}

/// The files of a workspace that must be private (see the module docs).
fn private_files(layout: &Layout) -> [std::path::PathBuf; 5] {
    let db = layout.db();
    let with = |suffix: &str| {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [with("-wal"), with("-shm"), db, layout.agent_log(), layout.agent_lock()]
}

/// Make an existing workspace private: best effort, as the files may belong to another user.
pub fn fix_existing(layout: &Layout) {
    let _ = restrict(&layout.root, DIR_MODE);
    for path in private_files(layout) {
        let _ = restrict(&path, FILE_MODE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn existing_files_are_made_private_and_missing_ones_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("ws"));
        std::fs::create_dir(&layout.root).unwrap();
        std::fs::set_permissions(&layout.root, Permissions::from_mode(0o755)).unwrap();
        std::fs::write(layout.db(), "").unwrap();
        std::fs::set_permissions(layout.db(), Permissions::from_mode(0o644)).unwrap();
        std::fs::write(layout.agent_log(), "").unwrap();
        std::fs::set_permissions(layout.agent_log(), Permissions::from_mode(0o666)).unwrap();
        fix_existing(&layout);
        assert_eq!(mode(&layout.root), 0o700);
        assert_eq!(mode(&layout.db()), 0o600);
        assert_eq!(mode(&layout.agent_log()), 0o600);
        assert!(!layout.agent_lock().exists(), "a missing file is not created");
    }

    #[test]
    fn only_a_new_or_empty_folder_becomes_a_workspace_root() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a/b/ws");
        create_root(&new).unwrap();
        assert_eq!(mode(&new), 0o700);
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        std::fs::set_permissions(&empty, Permissions::from_mode(0o755)).unwrap();
        create_root(&empty).unwrap();
        assert_eq!(mode(&empty), 0o700);
        // Someone's folder (this is how `/` became 0700): refused, its mode untouched.
        let used = dir.path().join("used");
        std::fs::create_dir(&used).unwrap();
        std::fs::write(used.join("theirs"), "").unwrap();
        std::fs::set_permissions(&used, Permissions::from_mode(0o755)).unwrap();
        assert_eq!(create_root(&used).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(mode(&used), 0o755);
    }

    #[test]
    fn a_private_file_is_created_0600_and_an_existing_one_made_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create_private_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::write(&path, "kept").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        create_private_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept");
    }
}
