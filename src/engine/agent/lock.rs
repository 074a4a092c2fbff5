//! One agent per workspace: an exclusive `flock` on `agent.lock`, held for the agent's life.
//! The kernel drops it when the process dies, however it dies, so a crashed agent never blocks
//! its successor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct AgentLock {
    _file: File,
}

/// `Ok(None)` when another agent holds the lock.
pub fn try_acquire(path: &Path) -> io::Result<Option<AgentLock>> {
    // Private like every file of the workspace (see `store::permissions`).
    let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)?;
    crate::engine::store::permissions::restrict(path, 0o600)?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(AgentLock { _file: file }));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(None) } else { Err(e) }
}

/// Whether some process holds the lock now.
pub fn is_held(path: &Path) -> bool {
    matches!(try_acquire(path), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.lock");
        let first = try_acquire(&path).unwrap().expect("free lock");
        assert!(try_acquire(&path).unwrap().is_none());
        assert!(is_held(&path));
        drop(first);
        assert!(try_acquire(&path).unwrap().is_some());
    }
}
