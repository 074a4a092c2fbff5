//! Finding every process of a job, including those that left its session.
//!
//! A job's processes lead their own session, so `killpg` reaches everything that stays in the
//! group. A descendant that calls `setsid` (a daemon) escapes the group, but it inherits the
//! environment marker `BATCHAI_JOB_UID=<uid>`: scanning /proc for that marker (only processes of
//! this user are readable) finds it. The scan costs about a millisecond for a few hundred
//! processes, so it runs on terminate and timeouts, and at the end of a job only when the
//! supervisor has adopted orphans (see `adopted_children`).

use std::fs;
use std::io::Read;

pub const MARKER: &str = "BATCHAI_JOB_UID";

/// Pids of this user's processes whose environment holds `BATCHAI_JOB_UID=<uid>`.
pub fn find_marked(uid: &str) -> Vec<i32> {
    let needle = format!("{MARKER}={uid}");
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    let mut buffer = Vec::with_capacity(8192);
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        buffer.clear();
        let readable = fs::File::open(format!("/proc/{pid}/environ")).and_then(|mut f| f.read_to_end(&mut buffer));
        if readable.is_ok() && buffer.split(|b| *b == 0).any(|var| var == needle.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Signal every marked process of the job that is not in `signalled_group` (already reached
/// through `killpg`, and a process must get each signal once); returns how many were signalled.
pub fn signal_marked(uid: &str, signal: i32, signalled_group: Option<i32>) -> usize {
    find_marked(uid)
        .into_iter()
        .filter(|&pid| signalled_group.is_none() || process_group(pid) != signalled_group)
        // SAFETY: kill has no memory effects; a pid that just exited yields ESRCH.
        .filter(|&pid| unsafe { libc::kill(pid, signal) } == 0)
        .count()
}

/// The process group of `pid` (field 5 of /proc/<pid>/stat).
pub fn process_group(pid: i32) -> Option<i32> {
    stat_field(pid, 2)
}

/// Field `index` (counted after the command name) of /proc/<pid>/stat.
fn stat_field(pid: i32, index: usize) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(index)?.parse().ok()
}

/// Live processes (not zombies) whose session is one of `sessions`: what a job's processes
/// left behind that stayed in their session but left their process group.
pub fn session_members(sessions: &[i32]) -> Vec<i32> {
    if sessions.is_empty() {
        return Vec::new();
    }
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            let Some((_, rest)) = stat.rsplit_once(')') else { return false };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first().is_some_and(|state| *state != "Z")
                && fields.get(3).and_then(|s| s.parse::<i32>().ok()).is_some_and(|sid| sessions.contains(&sid))
        })
        .collect()
}

/// Signal every member of these sessions outside `reached_group`.
pub fn signal_sessions(sessions: &[i32], signal: i32, reached_group: Option<i32>) {
    for pid in session_members(sessions) {
        if reached_group.is_none() || process_group(pid) != reached_group {
            // SAFETY: kill has no memory effects; a pid that just exited yields ESRCH.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// Signal a process group; false when no process is left in it.
pub fn signal_group(pgid: i32, signal: i32) -> bool {
    // SAFETY: as above.
    pgid > 1 && unsafe { libc::killpg(pgid, signal) } == 0
}

/// The direct children of this process (a subreaper's adopted orphans show up here).
pub fn children() -> Vec<i32> {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn marked_processes_are_found_and_stopped() {
        let uid = format!("test-{}", std::process::id());
        let mut child = Command::new("sleep").arg("30").env(MARKER, &uid).stdout(Stdio::null()).spawn().unwrap();
        let pid = child.id() as i32;
        // The environment is readable as soon as exec has happened.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !find_marked(&uid).contains(&pid) {
            assert!(std::time::Instant::now() < deadline, "marked process not found");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!find_marked("someone-else").contains(&pid));
        // The child is in the test's process group, not one of its own: the marker reaches it.
        assert_eq!(signal_marked(&uid, libc::SIGKILL, Some(pid)), 1);
        // SAFETY: getpgrp has no preconditions.
        assert_eq!(process_group(std::process::id() as i32), Some(unsafe { libc::getpgrp() }));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(children().iter().all(|&c| c != pid));
    }
}
