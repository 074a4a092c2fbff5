//! The supervisor loop (see the module docs of `launcher` for its place in the system).
//!
//! One thread, one `poll`: the listening socket, the connected agent (at most one; a newer
//! connection replaces an older one), and a signalfd that turns SIGCHLD into a readable event.
//! Nothing runs on a timer except the final idle countdown, so a quiet supervisor uses no CPU.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::contain::Containment;
use super::protocol::{Exit, FromSupervisor, Running, SpawnRequest, ToSupervisor, write_line};
use super::{socket, spawn, tree};

/// How often markers being reaped are checked (and killed again) until they are empty.
const REAP_INTERVAL: Duration = Duration::from_millis(20);

/// How often a supervisor with work looks whether its workspace's database still exists.
const DB_CHECK: Duration = Duration::from_secs(2);

/// How long an unwatched, idle supervisor waits for an agent before it exits.
const IDLE_GRACE: Duration = Duration::from_secs(3);

/// At most this many agent restarts within `RESTART_WINDOW`: an agent that dies at once every
/// time it starts is not restarted forever (the next client call still starts one and reports
/// why it fails).
const RESTART_LIMIT: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

struct Agent {
    stream: UnixStream,
    /// Bytes of a message that has not arrived whole yet.
    pending: Vec<u8>,
}

struct Process {
    key: String,
    marker: Option<String>,
}

/// The marker of a spawn request: its `BATCHAI_JOB_UID`.
fn marker_of(request: &SpawnRequest) -> Option<String> {
    let prefix = format!("{}=", tree::MARKER);
    request.env.iter().rev().find_map(|e| e.strip_prefix(&prefix)).map(str::to_string)
}

pub struct Supervisor {
    /// The agent's socket; `None` for a node launcher, which talks through files (`files`).
    listener: Option<UnixListener>,
    agent: Option<Agent>,
    files: Option<super::node::FileLink>,
    running: HashMap<i32, Process>,
    by_key: HashMap<String, i32>,
    /// Exits the agent has not acknowledged yet, in key order (stable for tests and logs).
    exited: BTreeMap<String, Exit>,
    signals: SignalFd,
    /// How to start the agent again if it dies (see `ToSupervisor::Watchdog`).
    watchdog: Option<(SpawnRequest, String)>,
    /// The workspace's database, once an agent named it: when it is gone (the workspace folder
    /// was removed behind batchai's back) everything is killed and the supervisor ends.
    db: Option<std::path::PathBuf>,
    next_db_check: std::time::Instant,
    restarts: std::collections::VecDeque<std::time::Instant>,
    containment: Containment,
    /// Per marker, the pids of the processes started for it (each leads its own session).
    sessions: HashMap<String, Vec<i32>>,
    /// Markers to reap: killed again on every check until nothing of them is left.
    reaping: std::collections::BTreeSet<String>,
    /// Who this supervisor is (pid and start time), told to every agent in Hello.
    instance: String,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Supervisor {
    /// Take over SIGCHLD and become the subreaper of everything spawned from here.
    pub fn new(listener: UnixListener, tag: &str) -> io::Result<Supervisor> {
        let mut supervisor = Supervisor::new_unbound(tag, &[Signal::SIGCHLD])?;
        supervisor.listener = Some(listener);
        Ok(supervisor)
    }

    fn new_unbound(tag: &str, handled: &[Signal]) -> io::Result<Supervisor> {
        let mut mask = SigSet::empty();
        for &signal in handled {
            mask.add(signal);
        }
        mask.thread_block().map_err(io::Error::from)?;
        let signals =
            SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(io::Error::from)?;
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        Ok(Supervisor {
            listener: None,
            agent: None,
            files: None,
            running: HashMap::new(),
            by_key: HashMap::new(),
            exited: BTreeMap::new(),
            signals,
            watchdog: None,
            db: None,
            next_db_check: std::time::Instant::now(),
            restarts: std::collections::VecDeque::new(),
            containment: Containment::detect(tag),
            sessions: HashMap::new(),
            reaping: std::collections::BTreeSet::new(),
            instance: format!("{}-{}", std::process::id(), now_us()),
        })
    }

    /// A supervisor that talks to its agent through files (a node launcher in a Slurm job): it
    /// also stops its processes on SIGTERM (Slurm's cancel), and serves until told goodbye.
    pub fn with_files(link: super::node::FileLink, tag: &str) -> io::Result<Supervisor> {
        let mut supervisor = Supervisor::new_unbound(tag, &[Signal::SIGCHLD, Signal::SIGTERM])?;
        supervisor.files = Some(link);
        Ok(supervisor)
    }

    fn idle(&self) -> bool {
        self.agent.is_none()
            && self.running.is_empty()
            && (self.exited.is_empty() || self.workspace_gone())
            && self.reaping.is_empty()
    }

    fn workspace_gone(&self) -> bool {
        self.db.as_ref().is_some_and(|db| !db.exists())
    }

    /// Every few seconds while it has something to watch: a workspace whose database vanished
    /// (its folder removed with `rm -rf`) gets no more agent, and its processes are killed, so
    /// nothing of it runs on forever.
    fn check_workspace(&mut self) {
        let now = std::time::Instant::now();
        if now < self.next_db_check || self.db.is_none() {
            return;
        }
        self.next_db_check = now + DB_CHECK;
        if !self.workspace_gone() {
            return;
        }
        self.watchdog = None;
        if !self.running.is_empty() {
            tracing::warn!("the workspace's database is gone: killing what it ran");
        }
        self.signal_all(libc::SIGKILL);
    }

    /// Serve until idle and unwatched for `IDLE_GRACE`.
    pub fn run(mut self) -> io::Result<()> {
        if self.files.is_some() {
            let hello = self.hello();
            self.send(&hello);
            // What the agent asked before the job started is there already: start it now, not
            // after a first poll interval.
            self.serve_files();
        }
        loop {
            if let Some(files) = &self.files
                && files.finished(self.running.is_empty() && self.reaping.is_empty())
            {
                self.containment.close();
                return Ok(());
            }
            let timeout = if self.files.is_some() {
                PollTimeout::try_from(super::node::INBOX_POLL.as_millis() as i32).unwrap_or(PollTimeout::MAX)
            } else if self.db.is_some() && !self.idle() && self.reaping.is_empty() {
                PollTimeout::try_from(DB_CHECK.as_millis() as i32).unwrap_or(PollTimeout::MAX)
            } else if !self.reaping.is_empty() {
                PollTimeout::try_from(REAP_INTERVAL.as_millis() as i32).unwrap_or(PollTimeout::MAX)
            } else if self.idle() {
                PollTimeout::try_from(IDLE_GRACE.as_millis() as i32).unwrap_or(PollTimeout::MAX)
            } else {
                PollTimeout::NONE
            };
            let (listener_ready, agent_ready, child_ready) = {
                let signal_fd = self.signals.as_fd();
                let listener_fd: Option<BorrowedFd<'_>> = self.listener.as_ref().map(|l| l.as_fd());
                let agent_fd: Option<BorrowedFd<'_>> = self.agent.as_ref().map(|a| a.stream.as_fd());
                // Signals first, then the listener and the agent when there are: fixed slots.
                let mut fds = vec![PollFd::new(signal_fd, PollFlags::POLLIN)];
                fds.extend(listener_fd.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
                fds.extend(agent_fd.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
                match poll(&mut fds, timeout) {
                    Ok(0) if self.idle() && self.files.is_none() => {
                        self.containment.close();
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
                let listener_ready = self.listener.is_some() && fds.get(1).is_some_and(ready);
                let agent_ready = self.agent.is_some() && fds.last().is_some_and(ready) && fds.len() == 3;
                (listener_ready, agent_ready, ready(&fds[0]))
            };
            if child_ready {
                let mut terminated = false;
                while let Some(info) = self.signals.read_signal().ok().flatten() {
                    terminated |= info.ssi_signo == Signal::SIGTERM as u32;
                }
                if terminated {
                    self.terminated();
                }
                self.reap();
            }
            if self.files.is_some() {
                self.serve_files();
            }
            if listener_ready {
                self.accept();
            }
            if agent_ready {
                self.serve_agent();
            }
            if !self.reaping.is_empty() {
                self.check_reaping();
            }
            self.check_workspace();
        }
    }

    /// Answer every marker with nothing left; kill the others again (a process may have forked
    /// between two kills).
    fn check_reaping(&mut self) {
        let markers: Vec<String> = self.reaping.iter().cloned().collect();
        for marker in markers {
            let sessions = self.sessions.get(&marker).cloned().unwrap_or_default();
            if self.containment.is_empty(&marker, &sessions) {
                self.containment.remove(&marker);
                self.reaping.remove(&marker);
                self.sessions.remove(&marker);
                self.send(&FromSupervisor::Reaped { marker });
            } else {
                self.kill_marker(&marker, &sessions);
            }
        }
    }

    fn kill_marker(&self, marker: &str, sessions: &[i32]) {
        for &pid in sessions {
            tree::signal_group(pid, libc::SIGKILL);
        }
        self.containment.signal(marker, libc::SIGKILL, None, sessions);
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else { return };
        let Ok((stream, _)) = listener.accept() else { return };
        if socket::check_peer(&stream).is_err() {
            return;
        }
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        self.agent = Some(Agent { stream, pending: Vec::new() });
        let hello = self.hello();
        self.send(&hello);
    }

    fn hello(&self) -> FromSupervisor {
        FromSupervisor::Hello {
            pid: std::process::id() as i32,
            running: self.running.iter().map(|(pid, p)| Running { key: p.key.clone(), pid: *pid }).collect(),
            exited: self.exited.values().cloned().collect(),
            containment: self.containment.name().to_string(),
            instance: self.instance.clone(),
        }
    }

    /// Messages that arrived in the inbox file since the last look.
    fn serve_files(&mut self) {
        let (messages, orphaned, kill) = match &mut self.files {
            Some(files) => {
                let kill = files.kill_at.is_some_and(|at| std::time::Instant::now() >= at);
                if kill {
                    files.kill_at = None;
                }
                (files.read(), files.orphaned(), kill)
            }
            None => return,
        };
        if orphaned && self.files.as_ref().is_some_and(|f| f.kill_at.is_none()) {
            tracing::warn!("the run's folder is gone: stopping its processes");
            self.terminated();
            if let Some(files) = &mut self.files {
                files.kill_at = Some(std::time::Instant::now() + super::node::STOP_GRACE);
            }
        }
        if kill {
            self.signal_all(libc::SIGKILL);
        }
        for mut message in messages {
            if let (Some(files), ToSupervisor::Spawn(request)) = (&self.files, &mut message) {
                files.localize(request);
            }
            if matches!(message, ToSupervisor::Goodbye)
                && let Some(files) = &mut self.files
            {
                files.goodbye = true;
            }
            self.handle(message);
        }
    }

    /// SIGTERM (Slurm cancels the job, or its time limit passed): every process and marked
    /// descendant gets it too; the launcher ends once they have exited and their exits are
    /// written, before Slurm's SIGKILL if they stop within its grace.
    fn terminated(&mut self) {
        if let Some(files) = &mut self.files {
            files.goodbye = true;
            files.stopped = true;
        }
        self.signal_all(libc::SIGTERM);
    }

    /// Signal every running process's group and every process of its marker.
    fn signal_all(&self, signal: i32) {
        for (&pid, process) in &self.running {
            let reached = tree::signal_group(pid, signal).then_some(pid);
            if let Some(marker) = &process.marker {
                let sessions = self.sessions.get(marker).cloned().unwrap_or_default();
                self.containment.signal(marker, signal, reached, &sessions);
            }
        }
    }

    fn send(&mut self, message: &FromSupervisor) {
        if let Some(files) = &mut self.files {
            return files.write(message);
        }
        if let Some(agent) = &mut self.agent
            && write_line(&mut agent.stream, message).and_then(|_| agent.stream.flush()).is_err()
        {
            // The agent went away; what it missed is resent in the next Hello.
            self.agent_lost();
        }
    }

    /// The agent's connection ended. Unless it said goodbye, start it again (rate-limited), so
    /// exits are committed and queued jobs start without waiting for a client.
    fn agent_lost(&mut self) {
        self.agent = None;
        let Some((request, db)) = self.watchdog.take() else { return };
        if !std::path::Path::new(&db).exists() {
            return; // the workspace was deleted
        }
        let now = std::time::Instant::now();
        while self.restarts.front().is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW) {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= RESTART_LIMIT {
            tracing::warn!("the agent died {RESTART_LIMIT} times within {RESTART_WINDOW:?}; not restarting it");
            return;
        }
        self.restarts.push_back(now);
        // The new agent's first stage exits once it has detached; `reap` forgets it.
        if let Err(e) = spawn::spawn(&request) {
            tracing::warn!("cannot restart the agent: {e}");
        }
    }

    fn serve_agent(&mut self) {
        let Some(agent) = &mut self.agent else { return };
        // One read (poll said data is there), then every complete line that has arrived.
        let mut chunk = [0u8; 64 * 1024];
        let n = match agent.stream.read(&mut chunk) {
            Ok(0) | Err(_) => return self.agent_lost(),
            Ok(n) => n,
        };
        agent.pending.extend_from_slice(&chunk[..n]);
        let mut messages = Vec::new();
        while let Some(end) = agent.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = agent.pending.drain(..=end).collect();
            match serde_json::from_slice::<ToSupervisor>(&line) {
                Ok(message) => messages.push(message),
                Err(e) => tracing::warn!("ignoring a malformed message: {e}"),
            }
        }
        for message in messages {
            self.handle(message);
        }
    }

    fn handle(&mut self, message: ToSupervisor) {
        match message {
            ToSupervisor::Spawn(request) => self.spawn(request),
            ToSupervisor::Signal { key, signal, marker } => {
                let pgid = self.by_key.get(&key).copied().or_else(|| self.exited.get(&key).map(|e| e.pid));
                let reached = pgid.filter(|&pgid| tree::signal_group(pgid, signal));
                if let Some(marker) = marker {
                    let sessions = self.sessions.get(&marker).cloned().unwrap_or_default();
                    self.containment.signal(&marker, signal, reached, &sessions);
                }
            }
            ToSupervisor::Ack { keys } => {
                for key in keys {
                    self.exited.remove(&key);
                }
            }
            ToSupervisor::Watchdog { restart, db } => {
                self.db = Some(std::path::PathBuf::from(&db));
                self.watchdog = Some((restart, db));
            }
            ToSupervisor::Goodbye => self.watchdog = None,
            ToSupervisor::Reap { marker } => {
                let sessions = self.sessions.get(&marker).cloned().unwrap_or_default();
                if !self.containment.is_empty(&marker, &sessions) {
                    self.kill_marker(&marker, &sessions);
                }
                self.reaping.insert(marker);
                self.check_reaping();
            }
        }
    }

    /// Idempotent per key: a key already running or ended is reported (Spawned or Exited), not
    /// started again.
    fn spawn(&mut self, request: SpawnRequest) {
        if let Some(&pid) = self.by_key.get(&request.key) {
            return self.send(&FromSupervisor::Spawned { key: request.key, pid });
        }
        if let Some(exit) = self.exited.get(&request.key).cloned() {
            return self.send(&FromSupervisor::Exited(exit));
        }
        let marker = marker_of(&request);
        match self.containment.spawn_inside(marker.as_deref(), &request.cpus, || spawn::spawn(&request)) {
            // No message on success: the agent counts a requested start as running, and one
            // message fewer per job is one agent wake-up fewer. Failures are reported.
            Ok(pid) => {
                tracing::debug!("started {} as pid {pid}", request.key);
                if let Some(marker) = &marker {
                    self.sessions.entry(marker.clone()).or_default().push(pid);
                }
                self.running.insert(pid, Process { key: request.key.clone(), marker });
                self.by_key.insert(request.key.clone(), pid);
            }
            Err(e) => {
                tracing::warn!("cannot start {}: {e}", request.key);
                self.send(&FromSupervisor::SpawnFailed { key: request.key, error: e.to_string() })
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => status,
            };
            let (pid, code, signal) = match status {
                WaitStatus::Exited(pid, code) => (pid.as_raw(), Some(code), None),
                WaitStatus::Signaled(pid, signal, _) => (pid.as_raw(), None, Some(signal as i32)),
                _ => continue,
            };
            // Adopted orphans (descendants whose parent died) are reaped and forgotten.
            let Some(process) = self.running.remove(&pid) else { continue };
            self.by_key.remove(&process.key);
            match (code, signal) {
                (Some(code), _) => tracing::debug!("{} (pid {pid}) exited with code {code}", process.key),
                (_, Some(signal)) => tracing::debug!("{} (pid {pid}) was killed by signal {signal}", process.key),
                _ => {}
            }
            // The last process of a marker whose cgroup is now empty leaves nothing to reap; its
            // cgroup goes (the next phase of the job makes it again).
            let rest_gone = process.marker.as_deref().is_some_and(|m| {
                let empty =
                    !self.running.values().any(|p| p.marker.as_deref() == Some(m)) && self.containment.known_empty(m);
                if empty {
                    self.containment.remove(m);
                }
                empty
            });
            let engine_stop = self.files.as_ref().is_some_and(|f| f.stopped);
            let exit = Exit { key: process.key.clone(), pid, code, signal, end_us: now_us(), rest_gone, engine_stop };
            self.exited.insert(process.key, exit.clone());
            self.send(&FromSupervisor::Exited(exit));
        }
    }
}

/// Outcome of [`start_detached`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Started,
    /// The socket name is taken: a supervisor of this workspace is alive.
    AlreadyRunning,
}

/// Start a supervisor serving `name` in a new, detached process (double fork, new session).
///
/// Must be called while the calling process has exactly one thread: the child runs Rust code
/// after `fork`, which is only sound when no other thread could hold a lock at that moment.
pub fn start_detached(name: &str) -> io::Result<Started> {
    let listener = match socket::bind(name) {
        Ok(listener) => listener,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(Started::AlreadyRunning),
        Err(e) => return Err(e),
    };
    // SAFETY: single-threaded caller (see above); the intermediate child only forks and exits.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // SAFETY: as above.
            if unsafe { libc::fork() } != 0 {
                // SAFETY: leave without running destructors or atexit handlers of the parent.
                unsafe { libc::_exit(0) };
            }
            // SAFETY: setsid has no memory effects.
            unsafe { libc::setsid() };
            close_inherited(&listener);
            tracing::info!("started");
            let tag = format!("{:016x}", fnv(name));
            let code = match Supervisor::new(listener, &tag).and_then(Supervisor::run) {
                Ok(()) => {
                    tracing::info!("idle with no agent: exiting");
                    0
                }
                Err(e) => {
                    tracing::error!("{e}");
                    1
                }
            };
            // SAFETY: as above; the supervisor never returns into its parent's code.
            unsafe { libc::_exit(code) }
        }
        child => {
            drop(listener);
            let mut status = 0;
            // SAFETY: reaping the intermediate child, which exits at once.
            unsafe { libc::waitpid(child, &mut status, 0) };
            Ok(Started::Started)
        }
    }
}

/// A stable tag for this workspace's supervisor (its cgroup's name), from its socket name.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Close every descriptor inherited from the agent except stdio and the listener: above all the
/// agent's lock, which must die with the agent, not live on in the supervisor.
fn close_inherited(listener: &UnixListener) {
    use std::os::fd::AsRawFd;
    let keep = listener.as_raw_fd();
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|entries| entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|&fd| fd > 2 && fd != keep) {
        // SAFETY: closing descriptors this process will not use; the read_dir handle is gone.
        unsafe { libc::close(fd) };
    }
}
