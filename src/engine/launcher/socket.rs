//! Unix sockets in Linux's abstract namespace, named after a workspace folder and a secret.
//!
//! Abstract names have no 108-byte path limit (workspace folders can be deep) and leave no stale
//! files behind after a crash. But anyone on the machine can bind any abstract name: a name that
//! others could compute (from the workspace's path alone) lets another local user take it first
//! and deny the workspace its agent. So each name carries a random secret kept in the workspace
//! folder (`.endpoints`, mode 0600, in a 0700 folder): only the workspace's owner can learn it.
//! Anyone could still connect to a name they learnt, so both ends check the peer's user id and
//! refuse strangers.

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
    let secret = secret(&canonical);
    format!("batchai/{:016x}/{secret}/{endpoint}", fnv1a(canonical.as_os_str().as_encoded_bytes()))
}

/// The workspace's endpoint secret, made on first use. Concurrent first uses agree: each writes
/// its own candidate and links it into place, and the one that lands first wins.
fn secret(root: &Path) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let path = root.join(".endpoints");
    let valid = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Ok(text) = std::fs::read_to_string(&path)
        && valid(text.trim())
    {
        return text.trim().to_string();
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let candidate = root.join(format!(".endpoints.{}.{token}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&candidate)
        .and_then(|mut f| std::io::Write::write_all(&mut f, token.as_bytes()));
    if written.is_ok() {
        let _ = std::fs::hard_link(&candidate, &path);
        let _ = std::fs::remove_file(&candidate);
    }
    // The folder is gone or not ours: a name nobody listens on, so connecting fails as it should.
    std::fs::read_to_string(&path).ok().map(|t| t.trim().to_string()).filter(|t| valid(t)).unwrap_or(token)
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
    fn names_are_stable_per_workspace_and_carry_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let agent = name(&a, "agent");
        assert_eq!(agent, name(&a, "agent"));
        assert_ne!(agent, name(&b, "agent"));
        assert_ne!(agent, name(&a, "supervisor"));
        let secret = std::fs::read_to_string(a.join(".endpoints")).unwrap();
        assert!(agent.contains(&secret), "{agent}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(a.join(".endpoints")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The name cannot be computed from the path alone.
        let guess =
            format!("batchai/{:016x}/agent", fnv1a(std::fs::canonicalize(&a).unwrap().as_os_str().as_encoded_bytes()));
        assert_ne!(agent, guess);
    }

    #[test]
    fn concurrent_first_uses_agree_on_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let names: Vec<String> = (0..8)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || name(&root, "agent"))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(names.iter().all(|n| *n == names[0]));
        let leftovers = std::fs::read_dir(&root).unwrap().count();
        assert_eq!(leftovers, 1, "only .endpoints stays");
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
