//! Unix sockets in Linux's abstract namespace, named after a workspace folder.
//!
//! Abstract names have no 108-byte path limit (workspace folders can be deep) and leave no stale
//! files behind after a crash. Anyone on the machine could connect, so both ends check the peer's
//! user id and refuse strangers.

use std::io;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::Path;

/// FNV-1a: a stable hash, the same in every process and every build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The abstract name of one endpoint (`agent` or `supervisor`) of the workspace at `root`.
pub fn name(root: &Path, endpoint: &str) -> String {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    format!("batchai/{:016x}/{endpoint}", fnv1a(canonical.as_os_str().as_encoded_bytes()))
}

pub fn bind(name: &str) -> io::Result<UnixListener> {
    UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)
}

pub fn connect(name: &str) -> io::Result<UnixStream> {
    let stream = UnixStream::connect_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
    check_peer(&stream)?;
    Ok(stream)
}

/// Refuse a peer that runs as another user.
pub fn check_peer(stream: &UnixStream) -> io::Result<()> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a properly sized ucred.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if cred.uid != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("peer runs as uid {}, not {me}", cred.uid),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        let a = name(Path::new("/nonexistent/a"), "agent");
        assert_eq!(a, name(Path::new("/nonexistent/a"), "agent"));
        assert_ne!(a, name(Path::new("/nonexistent/b"), "agent"));
        assert_ne!(a, name(Path::new("/nonexistent/a"), "supervisor"));
    }

    #[test]
    fn same_user_connects() {
        let n = format!("batchai-test/{}", std::process::id());
        let listener = bind(&n).unwrap();
        let client = connect(&n).unwrap();
        let (server, _) = listener.accept().unwrap();
        check_peer(&server).unwrap();
        drop(client);
    }
}
