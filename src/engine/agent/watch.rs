//! Waiting for jobs to end: a `watch` on the agent's socket, blocking or async.
//!
//! Theory of operation:
//! - A wait names jobs by uid, never by name: a job deleted while waited on (and perhaps created
//!   again under its name) ends the wait with the state `deleted`, and the caller says so; it
//!   never starts following the new job.
//! - The agent answers `JobEnded` once per job. A wait with `first` ends at the first answer.
//! - The agent may die during a wait: the wait connects again (which starts a new agent once
//!   the dead one's lock is free) and watches what is left.
//! - The agent may also stop answering while it holds the workspace (SIGSTOP, a debugger, a
//!   hang). A wait with a deadline still ends at it, and its timeout says why: the wait asks for
//!   the agent's status when it connects and again shortly before the deadline, and a question
//!   left unanswered means the agent is not answering.
//! - The async wait holds no thread: it is a task on a tokio runtime, its connection a tokio
//!   socket. Dropping the future (a cancelled wait) closes the connection at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::client::{self, Launcher};
use super::protocol::{Reply, Request};
use crate::engine::error::{Error, Result};
use crate::engine::paths::Layout;

/// How long before its deadline a wait asks the agent again whether it answers: long enough for
/// a busy agent to reply, short enough to describe the agent as it is at the deadline.
const ASK_BEFORE_DEADLINE: Duration = Duration::from_secs(1);
/// A question unanswered for this long says the agent is not answering (a live agent answers a
/// status request within milliseconds; the margin covers a loaded machine).
const SILENT_AFTER: Duration = Duration::from_millis(250);
/// The slice a blocking wait sleeps between checks of its `between` hook (Ctrl-C).
const SLICE: Duration = Duration::from_millis(50);
/// The pause before connecting again after the agent went away.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// One wait: which jobs (by uid) are left, which ended, and what the agent has said.
#[derive(Debug)]
pub struct Watch {
    uids: Vec<String>,
    left: HashSet<String>,
    ended: Vec<(String, String)>,
    first: bool,
    deadline: Option<Instant>,
    /// When the last status question still unanswered was sent.
    asked: Option<Instant>,
    /// When to ask again before the deadline (None once asked, or without a deadline).
    ask_again: Option<Instant>,
    /// The agent's pid, from its last status answer.
    agent_pid: Option<i32>,
    /// The agent's lock file, which names an agent that never answered (see `lock::holder_pid`).
    agent_lock: Option<std::path::PathBuf>,
}

impl Watch {
    /// A wait for `uids` (with `first`, for the first of them) until `deadline`.
    pub fn new(uids: &[String], first: bool, deadline: Option<Instant>) -> Watch {
        let now = Instant::now();
        let ask_again = deadline.map(|at| {
            let span = at.saturating_duration_since(now);
            at - ASK_BEFORE_DEADLINE.min(span / 2)
        });
        Watch {
            uids: uids.to_vec(),
            left: uids.iter().cloned().collect(),
            ended: Vec::new(),
            first,
            deadline,
            asked: None,
            ask_again,
            agent_pid: None,
            agent_lock: None,
        }
    }

    /// Whether the wait has its answer.
    pub fn done(&self) -> bool {
        self.left.is_empty() || (self.first && !self.ended.is_empty())
    }

    /// `(uid, state)` of the jobs that ended, in the order they did; `state` is the final
    /// execution state, or `deleted` for a job that was deleted.
    pub fn into_ended(self) -> Vec<(String, String)> {
        self.ended
    }

    /// What to send on a new connection: the jobs still waited for, and a status question.
    fn opening(&mut self, now: Instant) -> [Request; 2] {
        // A question left unanswered on a lost connection still counts from when it was asked.
        self.asked.get_or_insert(now);
        let jobs = self.uids.iter().filter(|u| self.left.contains(*u)).cloned().collect();
        [Request::Watch { jobs }, Request::Status]
    }

    fn on_reply(&mut self, reply: Reply) -> Result<()> {
        match reply {
            Reply::JobEnded { job, state } => {
                if self.left.remove(&job) {
                    self.ended.push((job, state));
                }
            }
            Reply::Status(status) => {
                self.asked = None;
                self.agent_pid = Some(status.pid);
            }
            Reply::Error { message } => return Err(Error::Agent(message)),
            Reply::Awake | Reply::Stopping | Reply::Deleted => {}
        }
        Ok(())
    }

    /// The next moment the wait must act without a reply: ask again, or give up.
    fn next_moment(&self) -> Option<Instant> {
        match (self.ask_again, self.deadline) {
            (Some(ask), Some(deadline)) => Some(ask.min(deadline)),
            (ask, deadline) => ask.or(deadline),
        }
    }

    /// At `now`: the timeout once the deadline has passed, else a question to send when it is
    /// time to ask again.
    fn tick(&mut self, now: Instant) -> Result<Option<Request>> {
        if self.deadline.is_some_and(|at| now >= at) {
            return Err(self.timed_out(now));
        }
        if self.ask_again.is_some_and(|at| now >= at) {
            self.ask_again = None;
            if self.asked.is_none() {
                self.asked = Some(now);
                return Ok(Some(Request::Status));
            }
        }
        Ok(None)
    }

    /// The timeout, saying when the agent is not answering.
    fn timed_out(&self, now: Instant) -> Error {
        let mut message = format!("{} job(s) still running when the wait timed out", self.left.len());
        if let Some(asked) = self.asked {
            let silent = now.saturating_duration_since(asked);
            if silent >= SILENT_AFTER {
                let pid = self.agent_pid.or_else(|| self.agent_lock.as_deref().and_then(super::lock::holder_pid));
                let (who, resume) = match pid {
                    Some(pid) => (format!("the workspace agent (pid {pid})"), format!("`kill -CONT {pid}`")),
                    None => ("the workspace agent".to_string(), "`kill -CONT` with its pid".to_string()),
                };
                message.push_str(&format!(
                    "; {who} is not answering (no reply for {:.1} s): it is stopped (SIGSTOP, a \
                     debugger) or hung, and jobs are not watched meanwhile; {resume} resumes a \
                     stopped agent",
                    silent.as_secs_f64()
                ));
            }
        }
        Error::Timeout(message)
    }
}

/// Wait on this thread. `between` runs before every slice of at most 50 ms (to let Ctrl-C
/// through); its error ends the wait.
pub fn watch_blocking<E: From<Error>>(
    layout: &Layout,
    launcher: &Launcher,
    mut watch: Watch,
    mut between: impl FnMut() -> std::result::Result<(), E>,
) -> std::result::Result<Vec<(String, String)>, E> {
    watch.agent_lock = Some(layout.agent_lock());
    'reconnect: loop {
        if watch.done() {
            return Ok(watch.into_ended());
        }
        let mut connection = client::connect_or_start(layout, launcher)?;
        for request in watch.opening(Instant::now()) {
            if connection.send(&request).is_err() {
                std::thread::sleep(RECONNECT_PAUSE);
                continue 'reconnect;
            }
        }
        while !watch.done() {
            between()?;
            let now = Instant::now();
            if let Some(request) = watch.tick(now)?
                && connection.send(&request).is_err()
            {
                continue 'reconnect;
            }
            let wait = match watch.next_moment() {
                Some(at) => SLICE.min(at.saturating_duration_since(now)).max(Duration::from_millis(1)),
                None => SLICE,
            };
            match connection.receive(Some(wait)) {
                Ok(Some(reply)) => watch.on_reply(reply)?,
                Ok(None) => {}
                // The agent went away (stopped or killed): start it again and keep watching.
                Err(_) => {
                    std::thread::sleep(RECONNECT_PAUSE);
                    continue 'reconnect;
                }
            }
        }
    }
}

/// Wait as a future on a tokio runtime (see the module docs); dropping it ends the wait and
/// closes its connection.
pub async fn watch_async(layout: Layout, launcher: Launcher, mut watch: Watch) -> Result<Vec<(String, String)>> {
    watch.agent_lock = Some(layout.agent_lock());
    while !watch.done() {
        let stream = connect_async(&layout, &launcher).await?;
        if !watch_on(stream, &mut watch).await? {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
    Ok(watch.into_ended())
}

/// Watch on one connection: true once done, false when the connection was lost.
async fn watch_on(stream: tokio::net::UnixStream, watch: &mut Watch) -> Result<bool> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut out = Vec::new();
    for request in watch.opening(Instant::now()) {
        append_line(&mut out, &request);
    }
    if write.write_all(&out).await.is_err() {
        return Ok(false);
    }
    while !watch.done() {
        let moment = watch.next_moment();
        let sleep = async {
            match moment {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match serde_json::from_str::<Reply>(&line) {
                    Ok(reply) => watch.on_reply(reply)?,
                    Err(e) => return Err(Error::Agent(format!("unreadable answer from the agent: {e}"))),
                },
                Ok(None) | Err(_) => return Ok(false),
            },
            _ = sleep => {
                if let Some(request) = watch.tick(Instant::now())? {
                    let mut out = Vec::new();
                    append_line(&mut out, &request);
                    if write.write_all(&out).await.is_err() {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

fn append_line(out: &mut Vec<u8>, request: &Request) {
    out.extend(serde_json::to_vec(request).expect("requests serialize"));
    out.push(b'\n');
}

/// Connect without blocking the runtime when an agent answers (the common case); starting one
/// blocks (it spawns a process and waits for it to detach), so that runs on a blocking thread.
async fn connect_async(layout: &Layout, launcher: &Launcher) -> Result<tokio::net::UnixStream> {
    let stream = match client::try_connect(layout) {
        Ok(connection) => connection.into_stream(),
        Err(_) => {
            let (layout, launcher) = (layout.clone(), launcher.clone());
            tokio::task::spawn_blocking(move || client::connect_or_start(&layout, &launcher))
                .await
                .map_err(|e| Error::Agent(format!("starting the agent failed: {e}")))??
                .into_stream()
        }
    };
    stream.set_nonblocking(true).map_err(|e| Error::Agent(format!("agent socket: {e}")))?;
    tokio::net::UnixStream::from_std(stream).map_err(|e| Error::Agent(format!("agent socket: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::agent::protocol::AgentStatus;

    fn status(pid: i32) -> Reply {
        Reply::Status(AgentStatus {
            pid,
            supervisor_pid: 0,
            started: String::new(),
            queued_jobs: 0,
            running_jobs: 0,
            nodes: 0,
            processes: 0,
            containment: String::new(),
            cpus: Vec::new(),
            gpus: Vec::new(),
            watchers: 0,
        })
    }

    fn ended(job: &str, state: &str) -> Reply {
        Reply::JobEnded { job: job.into(), state: state.into() }
    }

    #[test]
    fn a_deleted_job_ends_the_wait_with_its_uid_and_the_state_deleted() {
        let mut watch = Watch::new(&["a".into(), "b".into()], false, None);
        watch.opening(Instant::now());
        watch.on_reply(ended("a", "deleted")).unwrap();
        watch.on_reply(ended("other", "succeeded")).unwrap();
        assert!(!watch.done());
        watch.on_reply(ended("b", "failed")).unwrap();
        assert!(watch.done());
        assert_eq!(watch.into_ended(), [("a".into(), "deleted".into()), ("b".into(), "failed".into())]);
    }

    #[test]
    fn a_reconnecting_wait_watches_only_what_is_left() {
        let mut watch = Watch::new(&["a".into(), "b".into(), "c".into()], false, None);
        watch.opening(Instant::now());
        watch.on_reply(ended("b", "succeeded")).unwrap();
        let [Request::Watch { jobs }, Request::Status] = watch.opening(Instant::now()) else { panic!() };
        assert_eq!(jobs, ["a", "c"]);
    }

    #[test]
    fn a_timeout_says_when_the_agent_is_not_answering() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(4);
        let mut watch = Watch::new(&["a".into()], false, Some(deadline));
        watch.opening(start);
        watch.on_reply(status(42)).unwrap();
        // Asked again one second before the deadline, once.
        assert_eq!(watch.next_moment(), Some(deadline - ASK_BEFORE_DEADLINE));
        assert_eq!(watch.tick(start + Duration::from_secs(1)).unwrap(), None);
        assert_eq!(watch.tick(deadline - ASK_BEFORE_DEADLINE).unwrap(), Some(Request::Status));
        assert_eq!(watch.next_moment(), Some(deadline));
        let Err(Error::Timeout(message)) = watch.tick(deadline) else { panic!("the deadline passed") };
        assert!(message.contains("the workspace agent (pid 42) is not answering (no reply for 1.0 s)"), "{message}");
        assert!(message.contains("`kill -CONT 42`"), "{message}");
    }

    #[test]
    fn a_timeout_with_an_answering_agent_says_only_what_is_left() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(4);
        let mut watch = Watch::new(&["a".into(), "b".into()], false, Some(deadline));
        watch.opening(start);
        watch.on_reply(status(42)).unwrap();
        watch.tick(deadline - ASK_BEFORE_DEADLINE).unwrap();
        watch.on_reply(status(42)).unwrap();
        let Err(Error::Timeout(message)) = watch.tick(deadline) else { panic!("the deadline passed") };
        assert_eq!(message, "2 job(s) still running when the wait timed out");
    }

    #[test]
    fn an_agent_silent_from_the_start_is_named_without_a_pid() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(600);
        let mut watch = Watch::new(&["a".into()], false, Some(deadline));
        watch.opening(start);
        // Half of a short timeout: the question is already out, so no second one.
        assert_eq!(watch.tick(start + Duration::from_millis(300)).unwrap(), None);
        let Err(Error::Timeout(message)) = watch.tick(deadline) else { panic!("the deadline passed") };
        assert!(message.contains("; the workspace agent is not answering (no reply for 0.6 s)"), "{message}");
    }

    #[test]
    fn a_question_asked_just_before_the_deadline_does_not_count_as_silence() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(100);
        let mut watch = Watch::new(&["a".into()], false, Some(deadline));
        watch.opening(start);
        let Err(Error::Timeout(message)) = watch.tick(deadline) else { panic!("the deadline passed") };
        assert_eq!(message, "1 job(s) still running when the wait timed out");
    }

    #[test]
    fn first_ends_at_the_first_answer() {
        let mut watch = Watch::new(&["a".into(), "b".into()], true, None);
        watch.on_reply(ended("b", "succeeded")).unwrap();
        assert!(watch.done());
    }
}
