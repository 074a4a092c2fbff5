//! Keeping every process of a job (or of a node's setup task) where it can be found and killed,
//! whatever it does: ignore SIGTERM, start its own session, double-fork, clear its environment.
//!
//! Theory of operation:
//! - Each process the supervisor starts belongs to a *marker*: the job's uid, or `setup-<node>`.
//! - Where this process may create cgroups (cgroup v2, as root or with a delegated subtree), the
//!   supervisor makes `<its cgroup>/batchai-<tag>/<marker>` and starts the process inside it: it
//!   moves its own thread into the cgroup, calls `posix_spawn`, and moves back, so the child is
//!   in the cgroup from its first instruction and no early fork escapes. Every descendant stays
//!   in the cgroup whatever it does, and `cgroup.kill` kills them all at once.
//! - Otherwise the process tree is followed by what it cannot shed by accident: process groups
//!   (each process leads its own), the `BATCHAI_JOB_UID` environment marker, and the session ids
//!   of the job's processes. A descendant that leaves its session *and* clears its environment
//!   escapes this fallback; `batchai agent status` says which mechanism is in use.
//! - CPU pinning uses the same trick: the supervisor pins its own thread to the node's CPUs
//!   around the spawn, so the child starts pinned.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::tree;

/// How a marker's processes are contained.
#[derive(Debug)]
pub enum Containment {
    Cgroup {
        /// `<mount>/<own cgroup>/batchai-<tag>`.
        base: PathBuf,
        /// The supervisor's own cgroup, where it returns after each spawn.
        home: PathBuf,
    },
    ProcessTree,
}

impl Containment {
    /// A writable cgroup v2 subtree if there is one (checked by moving this process into a
    /// probe cgroup and back), else the process-tree fallback. `BATCHAI_CONTAINMENT=process-tree`
    /// forces the fallback.
    pub fn detect(tag: &str) -> Containment {
        if std::env::var("BATCHAI_CONTAINMENT").is_ok_and(|v| v == "process-tree") {
            return Containment::ProcessTree;
        }
        match cgroup_base(tag) {
            Ok((base, home)) => Containment::Cgroup { base, home },
            Err(_) => Containment::ProcessTree,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Containment::Cgroup { .. } => "cgroup-v2",
            Containment::ProcessTree => "process-tree",
        }
    }

    fn cgroup(&self, marker: &str) -> Option<PathBuf> {
        match self {
            Containment::Cgroup { base, .. } => Some(base.join(cgroup_name(marker))),
            Containment::ProcessTree => None,
        }
    }

    /// Call `spawn` with this thread inside the marker's cgroup and pinned to `cpus` (when not
    /// empty), so that the process it starts begins inside both.
    pub fn spawn_inside(
        &self,
        marker: Option<&str>,
        cpus: &[u32],
        spawn: impl FnOnce() -> io::Result<i32>,
    ) -> io::Result<i32> {
        let cgroup = marker.and_then(|m| self.cgroup(m));
        let moved = match (&cgroup, self) {
            (Some(path), Containment::Cgroup { .. }) => {
                fs::create_dir_all(path)?;
                enter(path).is_ok()
            }
            _ => false,
        };
        let previous = (!cpus.is_empty()).then(|| pin_self(cpus));
        let result = spawn();
        if let Some(Some(previous)) = previous {
            restore_affinity(&previous);
        }
        if moved && let Containment::Cgroup { home, .. } = self {
            // Failing to move back would put the next process in the wrong cgroup: say so loudly.
            if let Err(e) = enter(home) {
                tracing::error!("cannot return to {}: {e}", home.display());
            }
        }
        result
    }

    /// Send `signal` to every process of the marker that is not in `reached_group` (a group
    /// already signalled): the cgroup's members, or the marked processes and their sessions.
    pub fn signal(&self, marker: &str, signal: i32, reached_group: Option<i32>, sessions: &[i32]) {
        match self.cgroup(marker) {
            Some(path) if path.exists() => {
                if signal == libc::SIGKILL && path.join("cgroup.kill").exists() {
                    let _ = fs::write(path.join("cgroup.kill"), "1");
                    return;
                }
                for pid in members(&path) {
                    if reached_group.is_none() || tree::process_group(pid) != reached_group {
                        // SAFETY: kill has no memory effects; a pid that just exited yields ESRCH.
                        unsafe { libc::kill(pid, signal) };
                    }
                }
            }
            _ => {
                tree::signal_marked(marker, signal, reached_group);
                tree::signal_sessions(sessions, signal, reached_group);
            }
        }
    }

    /// Whether the marker's cgroup is known to be empty (false without cgroups: finding out
    /// would take a scan of every process).
    pub fn known_empty(&self, marker: &str) -> bool {
        match self.cgroup(marker) {
            Some(path) => members(&path).is_empty(),
            None => false,
        }
    }

    /// Whether no process of the marker is left.
    pub fn is_empty(&self, marker: &str, sessions: &[i32]) -> bool {
        match self.cgroup(marker) {
            Some(path) if path.exists() => members(&path).is_empty(),
            _ => tree::find_marked(marker).is_empty() && tree::session_members(sessions).is_empty(),
        }
    }

    /// Remove this supervisor's cgroup folder when it exits (only once it is empty).
    pub fn close(&self) {
        if let Containment::Cgroup { base, .. } = self {
            let _ = fs::remove_dir(base);
        }
    }

    /// Forget an empty marker (its cgroup is removed).
    pub fn remove(&self, marker: &str) {
        if let Some(path) = self.cgroup(marker) {
            let _ = fs::remove_dir(path);
        }
    }
}

/// A marker as a cgroup name: the characters a uid or node name uses, nothing else.
fn cgroup_name(marker: &str) -> String {
    marker.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

fn members(cgroup: &Path) -> Vec<i32> {
    fs::read_to_string(cgroup.join("cgroup.procs"))
        .map(|text| text.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// Move this thread's process into `cgroup`.
fn enter(cgroup: &Path) -> io::Result<()> {
    fs::write(cgroup.join("cgroup.procs"), "0")
}

/// The cgroup v2 mount and this process's cgroup in it.
fn own_cgroup() -> io::Result<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mountinfo")?;
    let mount = mounts
        .lines()
        .find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next()? == "cgroup2")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup2 mount"))?;
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let path = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in a cgroup v2 hierarchy"))?;
    Ok(mount.join(path.trim_start_matches('/')))
}

/// Make `<own>/batchai-<tag>` and prove a process can be moved into a child of it and back.
fn cgroup_base(tag: &str) -> io::Result<(PathBuf, PathBuf)> {
    let home = own_cgroup()?;
    let base = home.join(format!("batchai-{}", cgroup_name(tag)));
    fs::create_dir_all(&base)?;
    let probe = base.join("probe");
    fs::create_dir_all(&probe)?;
    let entered = enter(&probe);
    let returned = enter(&home);
    let _ = fs::remove_dir(&probe);
    entered?;
    returned?;
    Ok((base, home))
}

fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data filled in by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
    }
}

/// Pin this thread to `cpus`; returns the affinity to restore.
fn pin_self(cpus: &[u32]) -> Option<libc::cpu_set_t> {
    let previous = current_affinity()?;
    // SAFETY: as above; CPU_SET writes inside the set for ids below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as u32) {
            libc::CPU_SET(cpu as usize, &mut set);
        }
        // Failure (a CPU that went offline) leaves the process unpinned rather than unstarted.
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
    Some(previous)
}

fn restore_affinity(set: &libc::cpu_set_t) {
    // SAFETY: restoring a set read from the kernel.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_names_keep_uids_and_node_names() {
        assert_eq!(cgroup_name("01a2b3"), "01a2b3");
        assert_eq!(cgroup_name("setup-gpu-0"), "setup-gpu-0");
        assert_eq!(cgroup_name("../x"), "___x");
    }
}
