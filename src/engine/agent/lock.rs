//! One agent per workspace: an exclusive `flock` on `agent.lock`, held for the agent's life.
//! The kernel drops it when the process dies, however it dies, so a crashed agent never blocks
//! its successor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct AgentLock {
    file: File,
}

impl AgentLock {
    /// Write this process's pid into the lock file (the agent does once it has detached): a
    /// client whose agent does not answer (stopped with SIGSTOP) can still name it. Best effort:
    /// the lock is what matters.
    pub fn record_pid(&self) {
        use std::os::unix::fs::FileExt;
        let _ = self.file.set_len(0);
        let _ = self.file.write_all_at(std::process::id().to_string().as_bytes(), 0);
    }
}

/// The pid the agent holding the lock recorded (see `AgentLock::record_pid`); None when no
/// agent holds it or none was recorded.
pub fn holder_pid(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let pid = text.trim().parse().ok()?;
    is_held(path).then_some(pid)
}

/// `Ok(None)` when another agent holds the lock.
pub fn try_acquire(path: &Path) -> io::Result<Option<AgentLock>> {
    // Private like every file of the workspace (see `store::permissions`).
    let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(path)?;
    crate::engine::store::permissions::restrict(path, 0o600)?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(AgentLock { file }));
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

    #[test]
    fn the_holder_pid_is_known_only_while_the_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.lock");
        let lock = try_acquire(&path).unwrap().expect("free lock");
        assert_eq!(holder_pid(&path), None, "nothing recorded yet");
        std::fs::write(&path, "123456789").unwrap();
        lock.record_pid();
        assert_eq!(holder_pid(&path), Some(std::process::id() as i32));
        drop(lock);
        assert_eq!(holder_pid(&path), None, "a stale pid is no holder");
    }
}
