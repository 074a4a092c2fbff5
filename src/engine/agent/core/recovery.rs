//! After a restart: rebuild runs from the store and the supervisor's Hello (what runs, what
//! ended unacknowledged), so nothing runs twice and nothing stays running forever.

use std::time::Instant;

use super::runs::{Run, StopReason, parse_key};
use super::{Action, Core, Proc};
use crate::engine::launcher::protocol::ToSupervisor;
use crate::engine::model::{ErrorInfo, ExecutionState};
use crate::engine::scheduler::NodeState;
use crate::engine::store::Change;

impl Core {
    /// Rebuild runs after the supervisor's Hello (see the agent's theory of operation).
    pub(super) fn recover(&mut self) {
        let running: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, e)| matches!(e.job.state, ExecutionState::Running | ExecutionState::Terminating))
            .map(|(id, _)| *id)
            .collect();
        for id in running {
            let entry = self.jobs.get_mut(&id).expect("listed");
            let job = entry.job.clone();
            let elapsed =
                job.start_time.map(|s| (chrono::Utc::now() - s).to_std().unwrap_or_default()).unwrap_or_default();
            let limit = job.spec.constraints.max_wall_clock_time.0;
            entry.run =
                Some(Run::new(job.attempt, job.node_names.clone(), Instant::now() + limit.saturating_sub(elapsed)));
            let prefix = |kind: &str| format!("{kind}:{}:{}:", job.uid, job.attempt);
            if self.fresh_supervisor {
                // The supervisor that ran this job is gone: its processes (if any survived) are
                // orphans without an exit status. Stop them and fail the job; never rerun it.
                self.send(&ToSupervisor::Signal {
                    key: String::new(),
                    signal: libc::SIGKILL,
                    marker: Some(job.uid.clone()),
                });
                let error = ErrorInfo::new(
                    "NodeLauncherLost",
                    "the node launcher stopped while the job ran (machine restart or killed supervisor); its exit code is unknown",
                );
                let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("just set");
                run.stop = Some(StopReason::Failed(error));
                self.maybe_finish(id);
                continue;
            }
            // A terminate request that came while no agent ran: the job starts terminating now.
            let unanswered_terminate = job.terminate_requested && job.state == ExecutionState::Running;
            if unanswered_terminate {
                self.jobs.get_mut(&id).expect("listed").job.state = ExecutionState::Terminating;
                self.changes.push(Change::JobTerminating { id });
            }
            if job.state == ExecutionState::Terminating || unanswered_terminate {
                let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("just set");
                run.stop = Some(StopReason::Terminated);
            }
            // Known keys: rebuild from them (`start_job` starts only what the supervisor does not
            // know). None: the agent died between commit and spawn, so nothing ran; start now.
            self.actions.push(Action::StartJob { id, fresh: false });
            let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("just set");
            if run.stop.is_some() {
                for key in
                    self.procs.keys().filter(|k| k.starts_with(&prefix("prep")) || k.starts_with(&prefix("task")))
                {
                    run.keys.insert(key.clone());
                    if !matches!(self.procs.get(key), Some(Proc::Exited(_))) {
                        run.pending.insert(key.clone());
                    }
                }
                run.kill_at = Some(Instant::now() + self.grace);
                if unanswered_terminate {
                    self.signal_run(id, libc::SIGTERM);
                }
            }
        }
        // Nodes: a fresh supervisor means the machine (or the launcher) restarted: setup tasks
        // run again, as Batch AI ran them on reboot. Otherwise only unfinished setups resume.
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let node = self.nodes[&name].clone();
            let key = format!("setup:{name}");
            let rerun = if self.fresh_supervisor {
                node.job.is_none() && node.state != NodeState::Leaving
            } else {
                node.state == NodeState::Preparing && !self.procs.contains_key(&key)
            };
            if rerun {
                if node.state != NodeState::Preparing {
                    let node = self.nodes.get_mut(&name).expect("listed");
                    node.state = NodeState::Preparing;
                    node.since = chrono::Utc::now();
                    self.changes.push(Change::NodeState { name: name.clone(), state: NodeState::Preparing, job: None });
                }
                self.actions.push(Action::PrepareNode(name));
            } else if let Some(Proc::Exited(exit)) = self.procs.get(&key).cloned() {
                self.on_exit(&key, &exit);
            }
        }
        // Exits of processes nobody will ask about again (ended jobs, removed nodes).
        let stale: Vec<String> = self
            .procs
            .iter()
            .filter(|(k, p)| matches!(p, Proc::Exited(_)) && !self.key_in_use(k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            self.actions.push(Action::Ack(key));
        }
        self.kill_orphans();
    }

    /// Processes still running for something deleted while no agent ran (a job, a cluster's
    /// node): nothing is left to record their end, or to time a grace period for, so they are
    /// killed at once, with their descendants (found by their marker). Their exits are then
    /// acknowledged like those of any process of an attempt that is over.
    fn kill_orphans(&mut self) {
        let orphans: Vec<String> = self
            .procs
            .iter()
            .filter(|(k, p)| matches!(p, Proc::Running | Proc::Starting) && !self.key_in_use(k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in orphans {
            let marker = match key.strip_prefix("setup:") {
                Some(node) => Some(format!("setup-{node}")),
                None => parse_key(&key).map(|(_, uid, _, _)| uid.to_string()),
            };
            self.send(&ToSupervisor::Signal { key, signal: libc::SIGKILL, marker });
        }
    }

    pub(super) fn key_in_use(&self, key: &str) -> bool {
        if let Some(node) = key.strip_prefix("setup:") {
            return self.nodes.contains_key(node);
        }
        match parse_key(key) {
            Some((_, uid, attempt, _)) => self
                .by_uid
                .get(uid)
                .and_then(|id| self.jobs.get(id))
                .is_some_and(|e| e.job.attempt == attempt && e.run.is_some()),
            None => false,
        }
    }
}
