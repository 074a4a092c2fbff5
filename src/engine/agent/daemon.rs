//! The agent process's entry point: take the lock, bind the socket, detach, connect to (or start)
//! the supervisor, then serve.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::lock;
use crate::engine::launcher::socket;
use crate::engine::launcher::supervisor;
use crate::engine::logging;
use crate::engine::paths::Layout;

/// What the agent needs from the process that started it.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Python interpreter for toolkits whose settings name none (the client's own).
    pub python: String,
    /// The file of batchai's native module, which Slurm nodes load to start their launchers.
    pub core_module: Option<String>,
}

/// Run the agent for the workspace at `root`; returns the process exit code.
///
/// Must be called in a fresh process with a single thread (it forks twice). The first stage
/// returns 0 in the original process once the socket accepts connections; the detached agent
/// returns when it stops. Callers exit with the code at once.
pub fn main(root: PathBuf, options: Options) -> i32 {
    let layout = Layout::new(root);
    // Before the forks, so the detached agent and the supervisor log the same way. Once the
    // workspace is deleted (its database gone) a late line must not recreate the log.
    logging::init(&layout.agent_log(), &layout.db());
    let lock = match lock::try_acquire(&layout.agent_lock()) {
        Ok(Some(lock)) => lock,
        Ok(None) => return 0, // another agent serves this workspace
        Err(e) => {
            tracing::error!("cannot lock {}: {e}", layout.agent_lock().display());
            return 1;
        }
    };
    let listener = match socket::bind(&socket::name(&layout.root, "agent")) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen on the agent socket: {e}");
            return 1;
        }
    };
    // Detach: the starter's child exits now (the socket already accepts), the grandchild serves.
    // SAFETY: single-threaded here (see above); the parent only exits.
    match unsafe { libc::fork() } {
        -1 => {
            tracing::error!("fork: {}", io::Error::last_os_error());
            return 1;
        }
        0 => {}
        // SAFETY: leave without running the parent's destructors.
        _ => unsafe { libc::_exit(0) },
    }
    lock.record_pid();
    let supervisor = match connect_supervisor(&layout) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::error!("cannot reach the supervisor: {e}");
            return 1;
        }
    };
    tracing::info!("serving {} (supervisor {})", layout.root.display(), if supervisor.1 { "started" } else { "found" });
    match super::server::serve(layout, options, listener, supervisor, lock) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

/// Connect to the workspace's supervisor, starting one if none is there. The flag says whether
/// this agent started it (then no process of an earlier supervisor can still be watched).
pub(super) fn connect_supervisor(layout: &Layout) -> io::Result<(UnixStream, bool)> {
    let name = socket::name(&layout.root, "supervisor");
    if let Ok(stream) = socket::connect(&name) {
        return Ok((stream, false));
    }
    let fresh = supervisor::start_detached(&name)? == supervisor::Started::Started;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match socket::connect(&name) {
            Ok(stream) => return Ok((stream, fresh)),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}
