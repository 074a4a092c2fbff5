//! After a (re)start: rebuild runs from the store and the engine's Hello (what runs, what ended
//! unacknowledged), so nothing runs twice, nothing stays running forever, and nothing runs that
//! the store no longer has (a job, experiment or cluster deleted while the agent was down).

use super::runs::{Run, StopReason, parse_key};
use super::{Action, Core, Proc};
use crate::engine::model::NodeState;
use crate::engine::model::{EngineKind, ErrorInfo, ExecutionState};
use crate::engine::store::Change;

impl Core {
    /// Rebuild runs after the engine's Hello (see the agent's theory of operation).
    pub(super) fn recover(&mut self) {
        let running: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, e)| matches!(e.job.state, ExecutionState::Running | ExecutionState::Terminating))
            .map(|(id, _)| *id)
            .collect();
        for id in running {
            let engine = self.job_engine(id);
            let entry = self.jobs.get_mut(&id).expect("listed");
            let job = entry.job.clone();
            let elapsed = job.start_time.map(|s| (self.now.wall - s).to_std().unwrap_or_default()).unwrap_or_default();
            let deadline = self.now.instant + job.max_wall_clock.saturating_sub(elapsed);
            entry.run = Some(Box::new(Run::new(job.attempt, job.node_names.to_vec(), deadline)));
            self.running.insert(id);
            let prefix = |kind: &str| format!("{kind}:{}:{}:", job.uid, job.attempt);
            // Only the local supervisor's processes die with it: another engine's (a Slurm job's
            // node launchers) are watched through their own records.
            if self.fresh_engine && engine == EngineKind::Local {
                // The launcher that ran this job is gone: its processes (if any survived) are
                // orphans without an exit status. Stop them and fail the job; never rerun it.
                self.actions.push(Action::Signal {
                    engine,
                    key: String::new(),
                    signal: libc::SIGKILL,
                    marker: Some(job.uid.to_string()),
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
            // A terminate the last agent began, or one recorded while no agent ran: stop what
            // the launcher still runs of this attempt (SIGTERM again is harmless).
            let terminate = job.state == ExecutionState::Terminating || self.terminate_pending.remove(&id);
            if terminate && job.state == ExecutionState::Running {
                self.changes.push(Change::JobTerminating { id });
                self.jobs.get_mut(&id).expect("listed").job.state = ExecutionState::Terminating;
            }
            // Known keys: rebuild from them (`start_job` starts only what the engine does not
            // know). None: the agent died between commit and start, so nothing ran; start now.
            self.actions.push(Action::StartJob { id, fresh: false });
            if terminate {
                let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("just set");
                run.stop = Some(StopReason::Terminated);
                for key in
                    self.procs.keys().filter(|k| k.starts_with(&prefix("prep")) || k.starts_with(&prefix("task")))
                {
                    run.keys.insert(key.clone());
                    if !matches!(self.procs.get(key), Some(Proc::Exited(_))) {
                        run.pending.insert(key.clone());
                    }
                }
                self.signal_run(id, libc::SIGTERM);
            }
        }
        // Nodes: a fresh launcher means the machine (or the launcher) restarted: setup tasks run
        // again, as Batch AI ran them on reboot. Otherwise only unfinished setups resume. A node
        // recorded as running a job the store no longer has is free again.
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let engine = self.node_engine(&name);
            let node = self.nodes.get_mut(&name).expect("listed");
            if node.job.is_some() {
                node.reaping = None;
            } else if let Some(marker) = node.reaping.clone() {
                // The job ended (or was deleted) but the node was never freed: reap, then free.
                self.actions.push(Action::Reap { engine, marker });
            } else if node.state == NodeState::Running {
                node.state = NodeState::Idle;
                node.since = self.now.wall;
                self.changes.push(Change::NodeState { name: name.clone(), state: NodeState::Idle, job: None });
            }
            let node = self.nodes[&name].clone();
            let key = format!("setup:{name}");
            let rerun = if self.fresh_engine {
                node.job.is_none() && node.state != NodeState::Leaving
            } else {
                node.state == NodeState::Preparing && !self.procs.contains_key(&key)
            };
            if rerun {
                if node.state != NodeState::Preparing {
                    let node = self.nodes.get_mut(&name).expect("listed");
                    node.state = NodeState::Preparing;
                    node.since = self.now.wall;
                    self.changes.push(Change::NodeState { name: name.clone(), state: NodeState::Preparing, job: None });
                }
                self.actions.push(Action::PrepareNode(name));
            } else if let Some(Proc::Exited(exit)) = self.procs.get(&key).cloned() {
                self.on_exit(&key, &exit);
            }
        }
        // Processes nobody will ask about again: exits of ended jobs and removed nodes are
        // acknowledged; processes still running for a job or node the store no longer has are
        // killed (their exits are acknowledged when they come).
        let stale: Vec<(String, bool)> = self
            .procs
            .iter()
            .filter(|(k, _)| !self.key_in_use(k))
            .map(|(k, p)| (k.clone(), matches!(p, Proc::Exited(_))))
            .collect();
        for (key, exited) in stale {
            let engine = self.key_engine(&key);
            if exited {
                self.actions.push(Action::Ack { engine, key });
            } else {
                let marker = match key.strip_prefix("setup:") {
                    Some(node) => Some(format!("setup-{node}")),
                    None => parse_key(&key).map(|(_, uid, _, _)| uid.to_string()),
                };
                self.actions.push(Action::Signal { engine, key, signal: libc::SIGKILL, marker });
            }
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

    /// The engine that runs a process key.
    pub(super) fn key_engine(&self, key: &str) -> EngineKind {
        if let Some(node) = key.strip_prefix("setup:") {
            return self.node_engine(node);
        }
        let Some((_, uid, _, _)) = parse_key(key) else { return EngineKind::Local };
        match self.by_uid.get(uid) {
            Some(&id) => self.job_engine(id),
            // A job the store no longer has: whichever engine says it ran it.
            None => self.engines.owner_of(uid).unwrap_or(EngineKind::Local),
        }
    }
}
