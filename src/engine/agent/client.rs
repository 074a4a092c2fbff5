//! The client side: reach the workspace's agent, starting it when needed.
//!
//! Clients never wait for the agent to do their work: they commit intents to the store, then
//! `wake` it. Waiting for jobs is a `watch` on the agent's socket, answered when the job ends, so
//! a waiting client uses no CPU. If the agent dies during a wait, the client restarts it and
//! watches again.

use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::protocol::{AgentStatus, Reply, Request};
use crate::engine::error::{Error, Result};
use crate::engine::launcher::protocol::{SpawnRequest, read_line, write_line};
use crate::engine::launcher::{socket, spawn};
use crate::engine::paths::Layout;

/// How to start an agent process for a workspace: a program and its arguments, to which the
/// workspace folder is appended.
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: String,
    pub args: Vec<String>,
}

pub struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

fn agent_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Agent(format!("{context}: {e}"))
}

impl Connection {
    pub fn send(&mut self, request: &Request) -> Result<()> {
        write_line(&mut self.writer, request)
            .and_then(|_| self.writer.flush())
            .map_err(|e| agent_error("sending to the agent", e))
    }

    /// The next reply; `Ok(None)` when the wait ran out, an error when the agent went away.
    pub fn receive(&mut self, timeout: Option<Duration>) -> Result<Option<Reply>> {
        self.reader.get_ref().set_read_timeout(timeout).map_err(|e| agent_error("agent socket", e))?;
        match read_line::<Reply>(&mut self.reader) {
            Ok(Some(reply)) => Ok(Some(reply)),
            Ok(None) => Err(Error::Agent("the agent closed the connection".into())),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(agent_error("reading from the agent", e)),
        }
    }
}

pub fn try_connect(layout: &Layout) -> io::Result<Connection> {
    let stream = socket::connect(&socket::name(&layout.root, "agent"))?;
    Ok(Connection { reader: BufReader::new(stream.try_clone()?), writer: stream })
}

/// Connect to the agent, starting one (detached) if none answers.
pub fn connect_or_start(layout: &Layout, launcher: &Launcher) -> Result<Connection> {
    if let Ok(connection) = try_connect(layout) {
        return Ok(connection);
    }
    start(layout, launcher)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_connect(layout) {
            Ok(connection) => return Ok(connection),
            Err(e) if Instant::now() > deadline => {
                return Err(agent_error(&format!("the agent did not answer ({})", log_tail(layout)), e));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Start the agent and wait for its first stage, which takes the lock, binds the socket and
/// then detaches (forks and exits). A zero exit means the socket accepts connections now.
fn start(layout: &Layout, launcher: &Launcher) -> Result<()> {
    let log = layout.agent_log();
    // The log is the agent's stdout and stderr: private like the rest of the workspace.
    crate::engine::store::permissions::create_private_file(&log)
        .map_err(|e| agent_error(&format!("creating {}", log.display()), e))?;
    let mut args = vec![launcher.program.clone()];
    args.extend(launcher.args.iter().cloned());
    args.push(layout.root.display().to_string());
    let request = SpawnRequest {
        key: "agent".into(),
        program: launcher.program.clone(),
        args,
        env: std::env::vars_os().filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v.to_str()?))).collect(),
        cwd: layout.root.display().to_string(),
        stdout: log.display().to_string(),
        stderr: log.display().to_string(),
        append: true,
        cpus: Vec::new(),
        make_dirs: Vec::new(),
    };
    let pid = spawn::spawn(&request).map_err(|e| agent_error(&format!("starting {}", launcher.program), e))?;
    let mut status = 0;
    // SAFETY: waiting for the child we just started; it exits as soon as it has detached.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    if rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(Error::Agent(format!("the agent failed to start ({})", log_tail(layout))))
    }
}

/// The last lines of the agent's log, for error messages.
pub fn log_tail(layout: &Layout) -> String {
    let text = std::fs::read_to_string(layout.agent_log()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        format!("see {}", layout.agent_log().display())
    } else {
        format!("{}: {}", layout.agent_log().display(), lines.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

/// Tell the agent to look at the store, starting it if needed; returns once it has acted.
pub fn wake(layout: &Layout, launcher: &Launcher) -> Result<()> {
    let mut connection = connect_or_start(layout, launcher)?;
    connection.send(&Request::Wake)?;
    loop {
        match connection.receive(Some(Duration::from_secs(60)))? {
            Some(Reply::Awake) => return Ok(()),
            Some(Reply::Error { message }) => return Err(Error::Agent(message)),
            Some(_) => continue,
            None => return Err(Error::Agent("the agent did not answer a wake-up within 60 s".into())),
        }
    }
}

pub fn status(layout: &Layout) -> Result<Option<AgentStatus>> {
    let Ok(mut connection) = try_connect(layout) else { return Ok(None) };
    connection.send(&Request::Status)?;
    match connection.receive(Some(Duration::from_secs(10)))? {
        Some(Reply::Status(status)) => Ok(Some(status)),
        other => Err(Error::Agent(format!("unexpected answer to status: {other:?}"))),
    }
}

/// Stop the agent; returns once it has exited (its lock is free). False when none was running.
pub fn stop(layout: &Layout, timeout: Duration) -> Result<bool> {
    let Ok(mut connection) = try_connect(layout) else { return Ok(false) };
    connection.send(&Request::Stop)?;
    let _ = connection.receive(Some(Duration::from_secs(10)));
    let deadline = Instant::now() + timeout;
    while super::lock::is_held(&layout.agent_lock()) {
        if Instant::now() > deadline {
            return Err(Error::Timeout(format!("the agent did not stop within {} s", timeout.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(true)
}
