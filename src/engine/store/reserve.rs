//! Space held back for the agent's own records when the workspace's file system fills up.
//!
//! Theory of operation: a job that writes until the disk is full leaves nothing for the store,
//! and an agent that cannot commit cannot say that the job ended, or why. So the agent keeps a
//! file of [`RESERVE_BYTES`] allocated blocks (`.reserve`) in the workspace folder. When a commit
//! fails because the disk is full, the agent's store deletes the file and tries again: the blocks
//! it freed take the commit. The file comes back once the file system has room for it and a
//! margin, checked at most every [`RETRY_EVERY`]. Clients never use it: a create on a full disk
//! fails and says so, nothing is written.
//!
//! The space is allocated (`posix_fallocate`), not a sparse file, or deleting it would free
//! nothing.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The size of the reserve: room for thousands of job-state commits (a few pages each).
pub const RESERVE_BYTES: u64 = 4 * 1024 * 1024;

/// How often a released reserve is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(10);

/// Below this many bytes available (to unprivileged users), a file system counts as full.
pub const FULL_BELOW: u64 = 1024 * 1024;

/// The reserve file of the workspace in `root`.
pub fn path(root: &Path) -> PathBuf {
    root.join(".reserve")
}

/// Make the reserve if it is missing and the file system has room for it and as much again.
/// Returns whether it exists now.
pub fn ensure(root: &Path) -> bool {
    let file = path(root);
    if !root.join(crate::engine::paths::DB_FILE).exists() {
        return false; // a workspace being deleted (or gone) gets no new file
    }
    if file.metadata().is_ok_and(|m| m.len() >= RESERVE_BYTES) {
        return true;
    }
    if available_bytes(root).is_none_or(|free| free < 2 * RESERVE_BYTES) {
        return false;
    }
    let made = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .mode(0o600)
        .open(&file)
        .and_then(|f| nix::fcntl::posix_fallocate(&f, 0, RESERVE_BYTES as i64).map_err(std::io::Error::from));
    if made.is_err() {
        // A file system without fallocate, or filled meanwhile: no reserve rather than a sparse one.
        let _ = std::fs::remove_file(&file);
        return false;
    }
    true
}

/// Delete the reserve. Returns whether there was one to free.
pub fn release(root: &Path) -> bool {
    std::fs::remove_file(path(root)).is_ok()
}

/// Bytes an unprivileged process can still write on the file system holding `path`.
pub fn available_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

/// Whether the file system holding `path` is full (see [`FULL_BELOW`]); unknown is not full.
pub fn is_full(path: &Path) -> bool {
    available_bytes(path).is_some_and(|free| free < FULL_BELOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_allocated_and_released() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!ensure(dir.path()), "no workspace there: no reserve");
        std::fs::write(dir.path().join(crate::engine::paths::DB_FILE), b"").unwrap();
        assert!(ensure(dir.path()));
        let meta = path(dir.path()).metadata().unwrap();
        assert_eq!(meta.len(), RESERVE_BYTES);
        // Allocated blocks, not a hole: deleting it frees space.
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 >= RESERVE_BYTES);
        assert!(ensure(dir.path()), "a second call keeps the one there");
        assert!(release(dir.path()));
        assert!(!release(dir.path()), "nothing left to release");
        assert!(!is_full(dir.path()));
    }
}
