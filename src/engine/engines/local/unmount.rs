//! Unmounting what a node's unmanaged file systems mounted, when the node goes.
//!
//! Theory of operation. An unmanaged file system is mounted by its own `mountCommand` in the
//! node's setup (or a job's preparation) at a path under the node's folder; batchai does not
//! know what the command did, so when the node is released it asks the kernel:
//! `/proc/self/mountinfo` lists every mount point, and those under the node's folder are
//! unmounted, deepest first (a mount inside another comes off before its parent). Removing the
//! node's folder afterwards never crosses into another file system (see `workdirs::remove_tree`),
//! so a mount that cannot be taken off keeps its files and is reported in the agent's log.
//!
//! Each mount point is tried with `umount(2)`; a busy one (a process of the node still has a
//! file open there) is detached lazily, as the node is gone either way; one this process may
//! not unmount itself (a FUSE or `user` mount) goes to `fusermount -u` or `umount`, which
//! hold the privileges for it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A mount point and its file system type, as `/proc/self/mountinfo` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    pub path: PathBuf,
    pub fs_type: String,
}

/// Parse `/proc/<pid>/mountinfo`: field 5 is the mount point (octal escapes for space, tab,
/// newline and backslash); the file system type follows the `-` separator.
pub fn parse_mountinfo(text: &str) -> Vec<MountPoint> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let path = fields.get(4)?;
            let separator = fields.iter().position(|f| *f == "-")?;
            let fs_type = fields.get(separator + 1)?;
            Some(MountPoint { path: PathBuf::from(unescape(path)), fs_type: fs_type.to_string() })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points strictly under `root` (resolved through links), deepest first.
pub fn mounts_under(root: &Path) -> Vec<MountPoint> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<MountPoint> =
        parse_mountinfo(&text).into_iter().filter(|m| m.path != root && m.path.starts_with(&root)).collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.path.components().count()));
    // A path mounted over twice is listed twice: each unmount takes off the top one.
    found
}

/// Unmount every file system mounted under `root`; returns what could not be unmounted, with why.
pub fn unmount_under(root: &Path) -> Vec<(PathBuf, String)> {
    mounts_under(root).into_iter().filter_map(|m| unmount(&m).err().map(|e| (m.path, e))).collect()
}

fn unmount(mount: &MountPoint) -> Result<(), String> {
    let Ok(path) = CString::new(mount.path.as_os_str().as_bytes()) else {
        return Err("the path holds a NUL byte".into());
    };
    // SAFETY: umount2 with a valid NUL-terminated path; no memory is shared with the kernel.
    if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        // SAFETY: as above.
        Some(libc::EBUSY) if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 => Ok(()),
        Some(libc::EPERM) => {
            let helper: &[&str] = if mount.fs_type.starts_with("fuse") { &["fusermount", "-u"] } else { &["umount"] };
            let status = Command::new(helper[0])
                .args(&helper[1..])
                .arg(&mount.path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() => Ok(()),
                Ok(s) => Err(format!("{error}; {} exited with {s}", helper.join(" "))),
                Err(e) => Err(format!("{error}; {}: {e}", helper[0])),
            }
        }
        _ => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_the_unescaped_path_and_type() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                    90 27 0:50 / /ws/nodes/n\\0401/mounts/gluster rw shared:1 - fuse.glusterfs host:/gv0 rw\n";
        assert_eq!(
            parse_mountinfo(text),
            [
                MountPoint { path: "/proc".into(), fs_type: "proc".into() },
                MountPoint { path: "/ws/nodes/n 1/mounts/gluster".into(), fs_type: "fuse.glusterfs".into() },
            ]
        );
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Mounting needs root (CI runs as root); elsewhere this test has nothing to mount with.
    #[test]
    fn tmpfs_mounts_under_a_node_come_off_deepest_first() {
        if !is_root() {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("nodes/n0");
        let outer = node.join("mounts/scratch");
        std::fs::create_dir_all(&outer).unwrap();
        let mount = |path: &Path| {
            let status = Command::new("mount").args(["-t", "tmpfs", "none"]).arg(path).status().unwrap();
            assert!(status.success(), "mount -t tmpfs none {}", path.display());
        };
        mount(&outer);
        let inner = outer.join("inner");
        std::fs::create_dir(&inner).unwrap();
        mount(&inner);
        std::fs::write(inner.join("f"), "x").unwrap();
        let found: Vec<PathBuf> = mounts_under(&node).into_iter().map(|m| m.path).collect();
        let real = |p: &Path| std::fs::canonicalize(p).unwrap();
        assert_eq!(found, [real(&inner), real(&outer)]);
        assert_eq!(unmount_under(&node), []);
        assert_eq!(mounts_under(&node), []);
        assert!(!inner.exists(), "the inner mount point was in the outer tmpfs, now gone");
    }
}
