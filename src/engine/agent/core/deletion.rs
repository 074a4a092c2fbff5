//! Deleting the workspace, carried out by its agent.
//!
//! A client marks the workspace `deleting` in the store and asks the agent to delete it
//! (`Request::AwaitDeletion`; see `api::deletion` for the client's side). The agent then:
//! 1. deletes every experiment and cluster row, and reads the store again: the rows being gone,
//!    the ordinary paths stop every job (SIGTERM, then SIGKILL after the grace period) and
//!    remove every node (its setup task is killed);
//! 2. after each later turn, checks whether anything of the workspace still runs (a job's run, a
//!    node, a process started and not yet ended);
//! 3. waits for the engine to have reaped every finished run (descendants that outlived their
//!    job's own processes are killed then: see `engines` and `launcher::contain`);
//! 4. once nothing runs, removes the workspace's files, answers the waiting clients `Deleted` and
//!    stops.
//!
//! Step 1 is idempotent, so an agent that is restarted half-way (it was killed) carries on where
//! the last one stopped.

use tokio::sync::mpsc::UnboundedSender;

use super::{Core, Proc};
use crate::engine::agent::protocol::Reply;
use crate::engine::engines::local::workdirs;
use crate::engine::error::Result;
use crate::engine::model::ProvisioningState;

/// Where the agent stands with a deletion.
#[derive(Default)]
pub(crate) struct Deletion {
    /// The store says `deleting` and the rows are cleared: stopping what runs.
    active: bool,
    /// The files are gone.
    done: bool,
    waiters: Vec<UnboundedSender<Reply>>,
}

impl Core {
    /// A client waits for the deletion the store records.
    pub(super) fn await_deletion(&mut self, reply: UnboundedSender<Reply>) {
        let deleting = self.store.workspace().map(|w| w.provisioning_state == ProvisioningState::Deleting);
        match deleting {
            Ok(true) => {
                self.data_version = -1; // look at the store in the coming turn
                self.deletion.waiters.push(reply);
            }
            Ok(false) => {
                let message = format!(
                    "workspace '{}' is not marked for deletion; delete it through the API, which marks it first",
                    self.workspace
                );
                let _ = reply.send(Reply::Error { message });
            }
            Err(e) => {
                let _ = reply.send(Reply::Error { message: e.to_string() });
            }
        }
    }

    /// Before a turn's refresh: when others changed the store, see whether the workspace is now
    /// being deleted; if so, delete its rows, so the refresh stops every job and removes every node.
    pub(super) fn notice_deletion(&mut self) -> Result<()> {
        if self.deletion.active {
            return Ok(());
        }
        if self.data_version != -1 && self.store.data_version()? == self.data_version {
            return Ok(());
        }
        if self.store.workspace()?.provisioning_state != ProvisioningState::Deleting {
            return Ok(());
        }
        self.deletion.active = true;
        self.store.clear()?;
        // Our own commit does not move SQLite's data_version: make the refresh read again.
        self.data_version = -1;
        Ok(())
    }

    /// After a turn: once nothing of the workspace runs, remove its files, answer, and stop.
    pub(super) fn finish_deletion(&mut self) {
        if !self.deletion.active || self.deletion.done {
            return;
        }
        let busy = !self.running.is_empty()
            || !self.nodes.is_empty()
            || !self.reaping.is_empty()
            || self.procs.values().any(|p| matches!(p, Proc::Starting | Proc::Running))
            || self.engines.any_busy();
        if busy {
            return;
        }
        let layout = self.store.layout().clone();
        workdirs::remove_workspace(&layout);
        self.deletion.done = true;
        for waiter in self.deletion.waiters.drain(..) {
            let _ = waiter.send(Reply::Deleted);
        }
        self.request_stop();
    }
}
