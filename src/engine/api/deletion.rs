//! Deleting the workspace: the client commits the intent, the agent carries it out.
//!
//! The client marks the workspace `deleting` (from then on nothing new can be created in it) and
//! asks the agent to delete it (`Request::AwaitDeletion`). The agent stops every job and removes
//! every node, waits until no process of the workspace runs, removes the workspace's files, answers
//! `Deleted` and exits (see `agent::core::deletion`). The client blocks on the agent's socket
//! meanwhile, then on the agent's exit (a pidfd): no polling, and when the call returns no
//! process of the workspace runs. If the agent dies on the way, the client starts a new one, which sees
//! the workspace `deleting` and carries on; if the agent got as far as removing the store, the
//! client removes what is left itself.
//!
//! When no agent runs and nothing may be running (no job running, no node), there is nothing to
//! stop: the client takes the agent's lock, so that none starts meanwhile, and removes the files
//! itself, which saves starting an agent only to have it exit.

use std::time::{Duration, Instant};

use super::{Workspace, now};
use crate::engine::agent::client;
use crate::engine::agent::lock;
use crate::engine::agent::protocol::{Reply, Request};
use crate::engine::engines::local::workdirs;
use crate::engine::error::{Error, Result};
use crate::engine::paths;

impl Workspace {
    /// Delete the workspace with its clusters, file servers, experiments and jobs; running jobs
    /// are stopped first (SIGTERM, then SIGKILL after the grace period). Only what batchai made
    /// in the folder is removed. Raises a timeout error when the jobs have not stopped within
    /// `timeout` (the deletion then still completes in the agent).
    pub fn delete_workspace(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        match self.with(|s| s.mark_deleting(now())) {
            // A full disk is when deleting matters most: the agent's reserve takes the mark.
            Err(e) if e.is_no_space() && crate::engine::store::reserve::release(&self.layout.root) => {
                self.with(|s| s.mark_deleting(now()))?
            }
            other => other?,
        }
        if let Ok(Some(held)) = lock::try_acquire(&self.layout.agent_lock()) {
            if !self.with(|s| s.has_running())? {
                workdirs::remove_workspace(&self.layout);
                drop(held);
                return Ok(());
            }
            drop(held);
        }
        let timed_out = || {
            Error::Timeout(format!("jobs of workspace '{}' did not stop within {} s", self.name, timeout.as_secs_f64()))
        };
        loop {
            if !paths::exists(&self.layout.root) {
                // An agent removed the store and died before it finished: finish here.
                workdirs::remove_workspace(&self.layout);
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let mut connection = match client::connect_or_start_within(&self.layout, &self.launcher, left) {
                Ok(connection) => connection,
                Err(_) if !paths::exists(&self.layout.root) => continue,
                Err(e) => return Err(e),
            };
            // Which process the agent is, to wait for its exit at the end.
            let Some(pid) = agent_pid(&mut connection) else { continue };
            // An agent that is exiting (stopped, or killed) accepted the connection: start anew.
            if connection.send(&Request::AwaitDeletion).is_err() {
                continue;
            }
            let waited = wait_for_deletion(&mut connection, deadline);
            if matches!(waited, Waited::Deleted | Waited::Lost) {
                // Done (or died): either way it is about to exit; return once it has, so that
                // no process of the workspace outlives this call.
                client::wait_for_exit(pid, Duration::from_secs(5));
            }
            match waited {
                Waited::Deleted => return Ok(()),
                Waited::TimedOut => return Err(timed_out()),
                Waited::Failed(message) => return Err(Error::Agent(message)),
                // The agent went away: if it had not finished, another carries on.
                Waited::Lost => continue,
            }
        }
    }
}

enum Waited {
    Deleted,
    TimedOut,
    Failed(String),
    Lost,
}

/// The agent's process id, from its status; `None` when it went away meanwhile.
fn agent_pid(connection: &mut client::Connection) -> Option<i32> {
    connection.send(&Request::Status).ok()?;
    match connection.receive(Some(Duration::from_secs(10))) {
        Ok(Some(Reply::Status(status))) => Some(status.pid),
        _ => None,
    }
}

/// Block on the agent's answer until `deadline`.
fn wait_for_deletion(connection: &mut client::Connection, deadline: Instant) -> Waited {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Waited::TimedOut;
        }
        match connection.receive(Some(left)) {
            Ok(Some(Reply::Deleted)) => return Waited::Deleted,
            Ok(Some(Reply::Error { message })) => return Waited::Failed(message),
            Ok(Some(_)) => {}
            Ok(None) => return Waited::TimedOut,
            Err(_) => return Waited::Lost,
        }
    }
}
