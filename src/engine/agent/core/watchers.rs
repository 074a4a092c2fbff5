//! Clients waiting for jobs to end (`watch`): who hears about which job.
//!
//! A watcher is the reply channel of one client connection. A client that waits with a timeout
//! closes its connection when the timeout runs out and often watches the same job again at once
//! (`job wait` polling, `wait(timeout=...)` in a loop), so watchers of a long job pile up unless
//! the dead ones go. A connection's task ends when its client closes, which closes its channel;
//! adding a watcher to a job drops that job's closed ones first, so a job has at most as many
//! watchers as live waits on it, plus those that closed since the last watch of it.

use tokio::sync::mpsc::UnboundedSender;

use super::Core;
use crate::engine::agent::protocol::Reply;

impl Core {
    /// `reply` hears when job `uid` ends.
    fn add_watcher(&mut self, uid: Box<str>, reply: UnboundedSender<Reply>) {
        let watchers = self.watchers.entry(uid).or_default();
        watchers.retain(|w| !w.is_closed());
        watchers.push(reply);
    }

    /// Answer when the job ends; at once if it has ended (or never existed).
    pub(super) fn watch(&mut self, uid: Box<str>, reply: UnboundedSender<Reply>) {
        if self.by_uid.contains_key(&uid) {
            self.add_watcher(uid, reply);
            return;
        }
        let state = match self.store.job_state_by_uid(&uid) {
            Ok(state) => state,
            Err(e) => {
                let _ = reply.send(Reply::Error { message: e.to_string() });
                return;
            }
        };
        match state {
            Some(s) if !s.is_terminal() => {
                // Queued, or created after our last look: watch it.
                self.data_version = -1;
                self.add_watcher(uid, reply);
            }
            other => {
                let state = other.map_or("deleted", |s| s.as_str());
                let _ = reply.send(Reply::JobEnded { job: uid.into(), state: state.to_string() });
            }
        }
    }

    /// Watchers held (some may have closed since their job was last watched).
    pub(super) fn watcher_count(&self) -> usize {
        self.watchers.values().map(Vec::len).sum()
    }
}
