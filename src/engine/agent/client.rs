//! The client side: reach the workspace's agent, starting it when needed.
//!
//! Clients never wait for the agent to do their work: they commit intents to the store, then
//! `wake` it. Waiting for jobs is a `watch` on the agent's socket, answered when the job ends, so
//! a waiting client uses no CPU. If the agent dies during a wait, the client restarts it and
//! watches again.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::protocol::{AgentStatus, Reply, Request};
use crate::engine::error::{Error, Result};
use crate::engine::launcher::protocol::{SpawnRequest, write_line};
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
    /// A reply whose end has not arrived yet: a read that times out mid-line keeps what it got.
    partial: String,
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
        match self.reader.read_line(&mut self.partial) {
            Ok(_) if self.partial.ends_with('\n') => {
                let line = std::mem::take(&mut self.partial);
                serde_json::from_str(&line).map(Some).map_err(|e| agent_error("reading from the agent", e))
            }
            Ok(_) => Err(Error::Agent("the agent closed the connection".into())),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(agent_error("reading from the agent", e)),
        }
    }

    /// The socket itself, for a caller that reads and writes it another way (a tokio wait).
    pub fn into_stream(self) -> UnixStream {
        self.writer
    }
}

pub fn try_connect(layout: &Layout) -> io::Result<Connection> {
    let stream = socket::connect(&socket::name(&layout.root, "agent"))?;
    Ok(Connection { reader: BufReader::new(stream.try_clone()?), writer: stream, partial: String::new() })
}

/// Connect to the agent, starting one (detached) if none answers.
pub fn connect_or_start(layout: &Layout, launcher: &Launcher) -> Result<Connection> {
    connect_or_start_within(layout, launcher, Duration::from_secs(10))
}

/// Connect to the agent within `patience`, starting one whenever none holds the workspace's
/// lock. An agent that was just killed (or is stopping) may hold the lock, or even accept a
/// connection, for a moment after it stopped serving: so a failed connection is retried, and a
/// new agent is started as soon as the lock is free, not only once.
pub fn connect_or_start_within(layout: &Layout, launcher: &Launcher, patience: Duration) -> Result<Connection> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(2);
    let mut started = false;
    let mut start_failure = None;
    loop {
        let failure = match try_connect(layout) {
            Ok(connection) => return Ok(connection),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(match start_failure {
                // Why no agent could start says more than the refused connection.
                Some(e) => e,
                None => Error::Agent(format!("the agent did not answer: {failure} ({})", log_tail(layout))),
            });
        }
        // A fresh start's socket accepts at once: connect again without a pause. A start that
        // does not lead to a connection (the agent died at once) is retried after one.
        if !started && !super::lock::is_held(&layout.agent_lock()) {
            match start(layout, launcher) {
                Ok(()) => {
                    started = true;
                    continue;
                }
                Err(e) => start_failure = Some(e),
            }
        }
        started = false;
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// How to start an agent process for the workspace (by a client, or again by the supervisor's
/// watchdog): in the workspace folder, with this process's environment, writing to the log.
pub(crate) fn agent_request(layout: &Layout, program: String, args: Vec<String>) -> SpawnRequest {
    let log = layout.agent_log().display().to_string();
    SpawnRequest {
        key: "agent".into(),
        program,
        args,
        // Variables that are not UTF-8 cannot be carried in the JSON request: they are left out.
        env: std::env::vars_os().filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v.to_str()?))).collect(),
        cwd: layout.root.display().to_string(),
        stdout: log.clone(),
        stderr: log,
        append: true,
        cpus: Vec::new(),
        make_dirs: Vec::new(),
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
    let request = agent_request(layout, launcher.program.clone(), args);
    let pid = spawn::spawn(&request).map_err(|e| agent_error("cannot start the agent", e))?;
    let mut status = 0;
    // SAFETY: waiting for the child we just started; it exits as soon as it has detached.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    if rc == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(Error::Agent(format!("the agent failed to start ({})", log_tail(layout))))
    }
}

/// The last lines of the agent's log, for error messages. They may have just been rotated into
/// `agent.log.1`, so that file's end is read first; only the last 64 KiB of each is read.
pub fn log_tail(layout: &Layout) -> String {
    let log = layout.agent_log();
    let text = [crate::engine::logging::rotated(&log, 1), log.clone()]
        .iter()
        .map(|p| file_tail(p, 64 * 1024))
        .collect::<String>();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        format!("see {}", layout.agent_log().display())
    } else {
        format!("{}: {}", layout.agent_log().display(), lines.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

/// Up to the last `max` bytes of a file, from a line start; empty if it cannot be read.
fn file_tail(path: &std::path::Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() || file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if len > max {
        // Drop the partial first line.
        text = text.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap_or_default();
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Tell the agent to look at the store, starting it if needed; returns once it has acted (an
/// error if it does not answer within a minute).
pub fn wake(layout: &Layout, launcher: &Launcher) -> Result<()> {
    wake_within(layout, launcher, WAKE_ANSWER)
}

/// `wake`, with an error when the agent has not answered within `answer`.
pub fn wake_within(layout: &Layout, launcher: &Launcher, answer: Duration) -> Result<()> {
    // An agent killed after accepting the connection and before answering drops it, and so
    // does one that a `batchai agent stop` (perhaps several, at once) is stopping: connect
    // again (which starts a new agent once the old one's lock is free). A few times only: an
    // agent that dies at every wake-up is an error to report.
    let mut lost = 0;
    loop {
        match wake_on(connect_or_start(layout, launcher)?, answer) {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(not_answering(layout, "a wake-up", answer)),
            Err(Error::Agent(message)) if connection_lost(&message) => {
                lost += 1;
                if lost > WAKE_RETRIES {
                    return Err(Error::Agent(format!(
                        "the agent went away {lost} times while being woken ({message}); if no 'batchai agent \
                         stop' ran meanwhile, it is dying: {}",
                        log_tail(layout)
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// How many lost connections a wake-up survives: enough for a burst of concurrent stops, few
/// enough that an agent that crashes at every start is reported within a second or two.
const WAKE_RETRIES: u32 = 10;

/// Whether an agent error says the connection went away (the agent died), not that it refused.
fn connection_lost(message: &str) -> bool {
    message.starts_with("reading from the agent")
        || message.starts_with("sending to the agent")
        || message == "the agent closed the connection"
}

/// How long `wake` (an explicit `agent start`) waits for the agent to act.
const WAKE_ANSWER: Duration = Duration::from_secs(60);

/// The error of a `request` (`a wake-up`) the agent did not answer within `answer`: it holds the
/// workspace but does not run (stopped, hung) or is very busy; its process state tells which
/// when its pid is known (from its lock file).
pub fn not_answering(layout: &Layout, request: &str, answer: Duration) -> Error {
    let within = format!("did not answer {request} within {:.1} s", answer.as_secs_f64());
    Error::Agent(match super::lock::holder_pid(&layout.agent_lock()) {
        Some(pid) if is_stopped(pid) => format!(
            "the workspace agent (pid {pid}) {within}: it is stopped (SIGSTOP, Ctrl-Z or a debugger); \
             `kill -CONT {pid}` resumes it"
        ),
        Some(pid) => format!("the workspace agent (pid {pid}) {within}: it is hung or very busy"),
        None => format!("the workspace agent {within}: it is stopped (SIGSTOP, a debugger), hung or very busy"),
    })
}

/// Whether process `pid` is stopped by a signal or a debugger (state `T` or `t`).
fn is_stopped(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may hold anything.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|s| s == "T" || s == "t")
}

/// Send a wake-up on `connection`: true once the agent has acted, false when it has not
/// answered within `answer`. The request stays in the agent's socket either way, so a stopped
/// agent acts on it when it runs again.
pub fn wake_on(mut connection: Connection, answer: Duration) -> Result<bool> {
    connection.send(&Request::Wake)?;
    let deadline = Instant::now() + answer;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        match connection.receive(Some(left))? {
            Some(Reply::Awake) => return Ok(true),
            Some(Reply::Error { message }) => return Err(Error::Agent(message)),
            Some(_) | None => continue,
        }
    }
}

/// The agent's status; None when no agent runs, or when the one that accepted the connection
/// dropped it unanswered: it was stopping (a concurrent `batchai agent stop`) or died.
pub fn status(layout: &Layout) -> Result<Option<AgentStatus>> {
    let Ok(mut connection) = try_connect(layout) else { return Ok(None) };
    let answer = Duration::from_secs(10);
    let reply = connection.send(&Request::Status).and_then(|()| connection.receive(Some(answer)));
    match reply {
        Ok(Some(Reply::Status(status))) => Ok(Some(status)),
        Ok(None) => Err(not_answering(layout, "a status request", answer)),
        Ok(Some(other)) => Err(Error::Agent(format!("unexpected answer to status: {other:?}"))),
        Err(Error::Agent(message)) if connection_lost(&message) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stop the agent; returns once it has exited (its lock is free). False when none was running.
/// An agent that drops the connection before taking the request is already on its way out
/// (another stop got there first): this waits for it the same way. A `timeout` too long for the
/// clock waits as long as it takes.
pub fn stop(layout: &Layout, timeout: Duration) -> Result<bool> {
    let Ok(mut connection) = try_connect(layout) else { return Ok(false) };
    match connection.send(&Request::Stop) {
        Ok(()) => {
            let _ = connection.receive(Some(Duration::from_secs(10)));
        }
        Err(Error::Agent(message)) if connection_lost(&message) => {}
        Err(e) => return Err(e),
    }
    let deadline = Instant::now().checked_add(timeout);
    while super::lock::is_held(&layout.agent_lock()) {
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Err(Error::Timeout(format!("the agent did not stop within {} s", timeout.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(true)
}

/// Block until process `pid` has exited, or `timeout` has passed; true when it has exited (or
/// never existed). Waits on a pidfd, which becomes readable when the process ends: no polling.
pub fn wait_for_exit(pid: i32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new file descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let deadline = Instant::now() + timeout;
    let exited = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; the timeout is in milliseconds.
        let rc = unsafe { libc::poll(&mut poll, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if rc > 0 {
            break true;
        }
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break false;
        }
    };
    // SAFETY: closing the descriptor pidfd_open gave us.
    unsafe { libc::close(fd) };
    exited
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_tail_reaches_back_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert_eq!(log_tail(&layout), format!("see {}", layout.agent_log().display()));
        let old: String = (1..=100).map(|i| format!("old {i}\n")).collect();
        std::fs::write(crate::engine::logging::rotated(&layout.agent_log(), 1), old).unwrap();
        std::fs::write(layout.agent_log(), "new 1\nnew 2\n").unwrap();
        assert_eq!(
            log_tail(&layout),
            format!("{}: old 98 | old 99 | old 100 | new 1 | new 2", layout.agent_log().display())
        );
    }

    #[test]
    fn a_stopped_process_is_told_from_a_running_one() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(!is_stopped(pid));
        // SAFETY: signalling the child we started.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_stopped(pid) {
            assert!(Instant::now() < deadline, "the child never showed as stopped");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_stopped(pid), "a reaped process is not stopped");
    }

    #[test]
    fn the_log_tail_reads_only_the_end_of_a_big_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let text: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let tail = file_tail(&path, 1000);
        assert!(tail.len() <= 1000 && tail.starts_with("line ") && tail.ends_with("line 19999\n"), "{tail}");
    }
}
