//! A job's run: placement, preparation, processes, stopping, and the end.
//!
//! States of one attempt: placed (committed `running`, nodes held) → preparing (job preparation
//! on every node, when there is one) → tasks (the toolkit's processes) → ended. The run ends when
//! no process of it is left and either the plan's exit rule has decided an exit code or the run
//! was stopped (terminate, wall clock, resize, deletion, a failure). Stopping sends SIGTERM to
//! every process group and marked descendant, then SIGKILL after the grace period.
//!
//! Process keys are `prep:<uid>:<attempt>:<node>` and `task:<uid>:<attempt>:<index>`, so a
//! restarted agent can tell from the supervisor's list which processes of which attempt exist.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use super::prepare::Prepared;
use super::{Action, Core};
use crate::engine::launcher::protocol::Exit;
use crate::engine::model::NodeState;
use crate::engine::model::cluster::DeallocationOption;
use crate::engine::model::{ErrorInfo, ExecutionState, Timestamp};
use crate::engine::scheduler::{JobId, QueuedJob, SchedulerInput, Time, schedule};
use crate::engine::store::{Change, ClusterRow};
use crate::engine::toolkits::{LaunchPlan, Role};

#[derive(Debug, Clone)]
pub(crate) enum StopReason {
    Requeue,
    Terminated,
    WallClock,
    Deleted,
    Failed(ErrorInfo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Preparation,
    Tasks,
}

pub(crate) struct Run {
    pub(super) attempt: u32,
    pub(super) nodes: Vec<String>,
    /// Paths and plan, computed before the run is committed (or again after a restart).
    pub(super) prepared: Option<Prepared>,
    pub(super) plan: Option<LaunchPlan>,
    pub(super) phase: Phase,
    /// Keys asked for or running, not yet exited.
    pub(super) pending: BTreeSet<String>,
    /// Every key of this run, to acknowledge at the end.
    pub(super) keys: BTreeSet<String>,
    /// The job's exit code once the plan's rule has decided it.
    pub(super) outcome: Option<i32>,
    /// Processes (indexes into the plan) that exited 0.
    pub(super) succeeded: BTreeSet<usize>,
    /// Which process failed the job, when one did.
    pub(super) failure: Option<ErrorInfo>,
    /// The last exit said nothing of the job was left (no reap needed).
    pub(super) rest_gone: bool,
    pub(super) stop: Option<StopReason>,
    /// Processes still running get SIGKILL at this moment.
    pub(super) kill_at: Option<Instant>,
    pub(super) killed: bool,
    pub(super) wall_deadline: Instant,
    /// Folders to remove when the run ends (a multi-node job's shared temp).
    pub(super) temp_dirs: Vec<PathBuf>,
}

impl Run {
    pub(super) fn new(attempt: u32, nodes: Vec<String>, wall_deadline: Instant) -> Run {
        Run {
            attempt,
            nodes,
            prepared: None,
            plan: None,
            phase: Phase::Tasks,
            pending: BTreeSet::new(),
            keys: BTreeSet::new(),
            outcome: None,
            succeeded: BTreeSet::new(),
            failure: None,
            rest_gone: false,
            stop: None,
            kill_at: None,
            killed: false,
            wall_deadline,
            temp_dirs: Vec::new(),
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match self.kill_at {
            Some(at) if !self.killed => Some(at),
            Some(_) => None,
            None if self.stop.is_none() && self.outcome.is_none() => Some(self.wall_deadline),
            None => None,
        }
    }
}

pub(super) enum KeyKind {
    Prep,
    Task,
}

/// `(kind, uid, attempt, index)` of a job process key.
pub(super) fn parse_key(key: &str) -> Option<(KeyKind, &str, u32, usize)> {
    let mut parts = key.split(':');
    let kind = match parts.next()? {
        "prep" => KeyKind::Prep,
        "task" => KeyKind::Task,
        _ => return None,
    };
    let uid = parts.next()?;
    let attempt = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    Some((kind, uid, attempt, index))
}

/// How many queued jobs of a cluster one scheduling round considers.
pub(super) const QUEUE_DEPTH: usize = 256;

/// The most nodes a cluster's scale settings allow: the manual target or the autoscale maximum.
pub(super) fn node_limit(cluster: &ClusterRow) -> u32 {
    match (&cluster.spec.scale_settings.manual, &cluster.spec.scale_settings.auto_scale) {
        (Some(m), _) => m.target_node_count,
        (None, Some(a)) => a.maximum_node_count,
        _ => 0,
    }
}

impl Core {
    /// The first `depth` jobs of a cluster's queue, as the scheduler takes them.
    pub(super) fn queue_head(&self, cluster: &str, depth: usize) -> Vec<QueuedJob> {
        let Some(queue) = self.queues.get(cluster) else { return Vec::new() };
        queue
            .iter()
            .take(depth)
            .filter_map(|(_, id)| self.jobs.get(id))
            .map(|e| QueuedJob {
                id: JobId(e.job.id),
                priority: e.job.priority,
                submitted: e.job.id as u64,
                node_count: e.job.node_count,
                max_wall_clock: e.job.max_wall_clock,
            })
            .collect()
    }

    /// Ask the scheduler which queued jobs start now, cluster by cluster.
    pub(super) fn place_jobs(&mut self) {
        let now = self.now.wall;
        let clusters: Vec<(i64, String, u32)> =
            self.clusters.values().map(|c| (c.id, c.name.clone(), node_limit(c))).collect();
        for (cluster_id, name, node_limit) in clusters {
            let nodes = self.cluster_nodes(cluster_id);
            if !nodes.iter().any(|n| n.state.accepts_jobs() && self.node_free(cluster_id, n.id.0)) {
                continue;
            }
            // The head of the queue, as deep as a round looks (Slurm's default_queue_depth idea):
            // jobs further back start in later rounds.
            let queued = self.queue_head(&name, QUEUE_DEPTH);
            if queued.is_empty() {
                continue;
            }
            let input = SchedulerInput { nodes, running: self.cluster_running(cluster_id), queued, node_limit };
            for placement in schedule(&input, Time::from_timestamp(now)).placements {
                let names: Vec<String> = placement
                    .nodes
                    .iter()
                    .filter_map(|n| self.nodes.values().find(|x| x.cluster_id == cluster_id && x.number == n.0))
                    .map(|n| n.name.clone())
                    .collect();
                self.begin_run(placement.job.0, names, now);
            }
        }
        self.update_wait_reasons(now);
    }

    fn node_free(&self, cluster_id: i64, number: u32) -> bool {
        self.nodes.values().any(|n| n.cluster_id == cluster_id && n.number == number && n.job.is_none())
    }

    /// Plan the job on `nodes` and commit it as running, with its output paths; folders and
    /// processes come after the commit.
    fn begin_run(&mut self, id: i64, nodes: Vec<String>, now: Timestamp) {
        let prepared = match self.load_detail(id).and_then(|()| self.plan_run(id, &nodes)) {
            Ok(prepared) => prepared,
            Err(error) => {
                // Nothing can run: the job fails without holding its nodes.
                self.changes.push(Change::JobFinished { id, succeeded: false, exit_code: None, errors: vec![error] });
                return self.job_ended(id, ExecutionState::Failed);
            }
        };
        self.dequeue(id);
        self.running.insert(id);
        let Some(entry) = self.jobs.get_mut(&id) else { return };
        entry.job.attempt += 1;
        entry.job.state = ExecutionState::Running;
        entry.job.start_time = Some(now);
        entry.job.node_names = nodes.clone().into();
        let uid = entry.job.uid.clone();
        self.by_uid.insert(uid.clone(), id);
        let entry = self.jobs.get_mut(&id).expect("present");
        let limit = entry.job.max_wall_clock;
        self.changes.push(Change::JobRunning {
            id,
            attempt: entry.job.attempt,
            nodes: nodes.clone(),
            outputs: prepared.outputs.clone(),
        });
        let mut run = Run::new(entry.job.attempt, nodes.clone(), self.now.instant + limit);
        run.prepared = Some(prepared);
        entry.run = Some(Box::new(run));
        for name in &nodes {
            if let Some(node) = self.nodes.get_mut(name) {
                node.job = Some(id);
                node.state = NodeState::Running;
                node.since = now;
                self.changes.push(Change::NodeState {
                    name: name.clone(),
                    state: NodeState::Running,
                    job: Some(uid.to_string()),
                });
            }
        }
        self.actions.push(Action::StartJob { id, fresh: true });
    }
    /// A process of a job ended.
    pub(super) fn job_process_exited(&mut self, key: &str, exit: &Exit) {
        let Some((kind, uid, attempt, index)) = parse_key(key) else { return };
        let current = self.by_uid.get(uid).copied().filter(|id| {
            self.jobs[id].run.as_ref().is_some_and(|run| run.attempt == attempt && run.pending.contains(key))
        });
        let Some(id) = current else {
            // A process of an attempt that is over (or of a deleted job): nothing to decide.
            let engine = self.key_engine(key);
            self.actions.push(Action::Ack { engine, key: key.to_string() });
            return;
        };
        let code = exit.exit_code();
        let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("checked above");
        run.pending.remove(key);
        run.rest_gone = exit.rest_gone;
        match kind {
            KeyKind::Prep => {
                if code != 0 && run.stop.is_none() {
                    run.outcome = Some(code);
                    let error =
                        ErrorInfo::new("JobPreparationFailed", format!("job preparation failed with exit code {code}"))
                            .with_detail("nodeId", run.nodes.get(index).cloned().unwrap_or_default())
                            .with_detail("exitCode", code.to_string());
                    return self.stop_run(id, StopReason::Failed(error));
                }
                let prep_done = !run.pending.iter().any(|k| k.starts_with("prep:"));
                if prep_done && run.stop.is_none() && run.phase == Phase::Preparation {
                    run.phase = Phase::Tasks;
                    let plan = run.plan.clone().expect("planned before preparing");
                    let launches = self.task_launches(id, &plan);
                    self.spawn_all(id, launches);
                }
            }
            KeyKind::Task => {
                // Also while stopping: a terminated job still reports its processes' exit code.
                if run.outcome.is_none() {
                    let decided = run.plan.as_ref().and_then(|p| p.job_exit(index, code, &run.succeeded));
                    let stopping = run.stop.is_some();
                    if code == 0 {
                        run.succeeded.insert(index);
                    } else if let Some(plan) = run.plan.as_ref().filter(|_| !stopping) {
                        run.failure = Some(process_failed(plan, &run.nodes, index, code));
                    }
                    if let Some(job_code) = decided {
                        run.outcome = Some(job_code);
                        if !run.pending.is_empty() && !stopping {
                            // The job is decided: what still runs (parameter servers, or the other
                            // ranks after one failed) is stopped.
                            self.signal_run(id, libc::SIGTERM);
                        }
                    }
                }
            }
        }
        self.maybe_finish(id);
    }

    pub(super) fn spawn_failed(&mut self, key: &str, error: &str) {
        let Some((_, uid, attempt, _)) = parse_key(key) else { return };
        let Some(&id) = self.by_uid.get(uid) else { return };
        let Some(run) = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()) else { return };
        if run.attempt != attempt {
            return;
        }
        run.pending.remove(key);
        self.procs.remove(key);
        let error = ErrorInfo::new("ProcessStartFailed", error.to_string());
        self.stop_run(id, StopReason::Failed(error));
    }

    /// The engine lost the run's nodes (a preempted Slurm job, a failed node): nothing of it
    /// runs any more. Requeued, as Batch AI requeued the jobs of nodes taken away, unless the
    /// cluster's deallocation option is `terminate`; a stop already decided (terminate, wall
    /// clock) keeps its reason.
    pub(super) fn run_lost(&mut self, uid: &str, error: &str) {
        let Some(&id) = self.by_uid.get(uid) else { return };
        let terminate = self
            .jobs
            .get(&id)
            .and_then(|e| self.cluster_by_name(&e.job.cluster))
            .and_then(|c| c.spec.scale_settings.manual.as_ref())
            .is_some_and(|m| m.node_deallocation_option == DeallocationOption::Terminate);
        let Some(run) = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()) else { return };
        let lost: Vec<String> = std::mem::take(&mut run.pending).into_iter().collect();
        run.rest_gone = true;
        for key in lost {
            self.procs.remove(&key);
        }
        let reason = if terminate {
            StopReason::Failed(
                ErrorInfo::new("NodeLost", error.to_string())
                    .with_detail("nodeDeallocationOption", "terminate".to_string()),
            )
        } else {
            StopReason::Requeue
        };
        tracing::warn!("job {uid}: {error}");
        self.stop_run(id, reason);
    }

    /// Stop a job. The first reason is kept (a terminate that arrives while the job is already
    /// stopping for its wall clock does not change why it ended), except that deletion wins.
    pub(super) fn stop_run(&mut self, id: i64, reason: StopReason) {
        let Some(entry) = self.jobs.get_mut(&id) else { return };
        let Some(run) = entry.run.as_mut() else {
            return match reason {
                StopReason::Requeue => {}
                StopReason::Deleted => self.deleted_job_ended(id),
                StopReason::Terminated => self
                    .finish_unstarted(id, ErrorInfo::new("JobTerminated", "the job was terminated before it started")),
                StopReason::WallClock => {}
                StopReason::Failed(error) => self.finish_unstarted(id, error),
            };
        };
        let first = run.stop.is_none();
        if first || matches!(reason, StopReason::Deleted) {
            if matches!(reason, StopReason::Terminated) && entry.job.state == ExecutionState::Running {
                entry.job.state = ExecutionState::Terminating;
                self.changes.push(Change::JobTerminating { id });
            }
            let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("present");
            run.stop = Some(reason);
        }
        if first {
            self.signal_run(id, libc::SIGTERM);
        }
        self.maybe_finish(id);
    }

    fn finish_unstarted(&mut self, id: i64, error: ErrorInfo) {
        self.changes.push(Change::JobFinished { id, succeeded: false, exit_code: None, errors: vec![error] });
        self.job_ended(id, ExecutionState::Failed);
    }

    /// Signal every process of the run (their groups, and marked descendants once).
    pub(super) fn signal_run(&mut self, id: i64, signal: i32) {
        let engine = self.job_engine(id);
        let deadline = self.now.instant + self.settings.grace;
        let Some(entry) = self.jobs.get_mut(&id) else { return };
        let uid = entry.job.uid.to_string();
        let Some(run) = entry.run.as_mut() else { return };
        if signal == libc::SIGTERM && run.kill_at.is_none() {
            run.kill_at = Some(deadline);
        }
        let keys: Vec<String> = run.pending.iter().cloned().collect();
        for (i, key) in keys.into_iter().enumerate() {
            let marker = (i == 0).then(|| uid.clone());
            self.actions.push(Action::Signal { engine, key, signal, marker });
        }
    }

    /// Wall-clock limits and kill escalation.
    pub(super) fn check_deadlines(&mut self) {
        let now = self.now.instant;
        let ids: Vec<i64> = self.running.iter().copied().collect();
        for id in ids {
            let run = self.jobs[&id].run.as_ref().expect("filtered");
            if run.stop.is_none() && run.outcome.is_none() && now >= run.wall_deadline {
                self.stop_run(id, StopReason::WallClock);
                continue;
            }
            if run.kill_at.is_some_and(|at| now >= at) && !run.killed {
                self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("present").killed = true;
                self.signal_run(id, libc::SIGKILL);
            }
        }
    }

    /// End the run when nothing of it is left running and its end is decided.
    pub(super) fn maybe_finish(&mut self, id: i64) {
        let Some(run) = self.jobs.get(&id).and_then(|e| e.run.as_ref()) else { return };
        if !run.pending.is_empty() || (run.outcome.is_none() && run.stop.is_none()) {
            return;
        }
        let engine = self.job_engine(id);
        let entry = self.jobs.get_mut(&id).expect("present");
        let run = *entry.run.take().expect("present");
        self.running.remove(&id);
        self.by_uid.remove(&entry.job.uid);
        // The nodes stay busy until nothing of the job is left on them: descendants that ignore
        // SIGTERM or left the job's session are killed by the engine first (`reaped`).
        // (Unless the engine said, with the last exit, that nothing was left.)
        let marker = entry.job.uid.clone();
        let reap = !run.rest_gone;
        for name in &run.nodes {
            if let Some(node) = self.nodes.get_mut(name)
                && node.job == Some(id)
            {
                node.job = None;
                if reap {
                    node.reaping = Some(marker.clone());
                } else if node.state == NodeState::Running {
                    node.state = NodeState::Idle;
                    node.since = self.now.wall;
                    self.changes.push(Change::NodeState { name: name.clone(), state: NodeState::Idle, job: None });
                } else {
                    self.changes.push(Change::NodeState { name: name.clone(), state: node.state, job: None });
                }
            }
        }
        // Reaped even when no node waits for it (its cluster is gone): nothing may outlive a job.
        if reap {
            self.reaping.insert(marker.clone());
            self.actions.push(Action::Reap { engine, marker });
        }
        for key in &run.keys {
            self.actions.push(Action::Ack { engine, key: key.clone() });
        }
        for path in run.temp_dirs {
            self.actions.push(Action::RemoveFiles { engine, path });
        }
        let code = run.outcome;
        let (state, errors) = match run.stop {
            Some(StopReason::Requeue) => {
                let entry = self.jobs.get_mut(&id).expect("present");
                entry.job.state = ExecutionState::Queued;
                self.changes.push(Change::JobRequeued { id });
                self.enqueue(id);
                return;
            }
            Some(StopReason::Deleted) => return self.deleted_job_ended(id),
            Some(StopReason::Terminated) => (
                ExecutionState::Failed,
                vec![ErrorInfo::new("JobTerminated", "the job was terminated by a user request")],
            ),
            Some(StopReason::WallClock) => (
                ExecutionState::Failed,
                vec![ErrorInfo::new(
                    "MaxWallClockTimeExceeded",
                    "the job ran longer than its constraints.maxWallClockTime",
                )],
            ),
            Some(StopReason::Failed(error)) => (ExecutionState::Failed, vec![error]),
            None if code == Some(0) => (ExecutionState::Succeeded, Vec::new()),
            None => {
                let full = run.prepared.as_ref().and_then(|p| full_output_folder(&p.outputs));
                let failure = run.failure.unwrap_or_else(|| {
                    ErrorInfo::new("JobFailed", "Job failed with non-zero exit code")
                        .with_detail("exitCode", code.unwrap_or(-1).to_string())
                });
                (ExecutionState::Failed, std::iter::once(failure).chain(full).collect())
            }
        };
        self.changes.push(Change::JobFinished {
            id,
            succeeded: state == ExecutionState::Succeeded,
            exit_code: code,
            errors,
        });
        self.job_ended(id, state);
    }

    /// Nothing is left of a finished run's processes: its nodes are free.
    pub(super) fn reaped(&mut self, marker: &str) {
        self.reaping.remove(marker);
        let names: Vec<String> =
            self.nodes.values().filter(|n| n.reaping.as_deref() == Some(marker)).map(|n| n.name.clone()).collect();
        for name in names {
            let node = self.nodes.get_mut(&name).expect("listed");
            node.reaping = None;
            if node.job.is_some() {
                continue;
            }
            let state = if node.state == NodeState::Running { NodeState::Idle } else { node.state };
            node.state = state;
            node.since = self.now.wall;
            self.changes.push(Change::NodeState { name, state, job: None });
        }
    }

    pub(super) fn terminate_requested(&mut self, id: i64) {
        self.stop_run(id, StopReason::Terminated);
    }

    pub(super) fn job_deleted(&mut self, id: i64) {
        self.sweeps.job_deleted(id);
        self.stop_run(id, StopReason::Deleted);
    }
}

/// A failed job whose output folders (its logs first) are on a full file system: what most
/// likely failed it, said with the path, since the job's own message could not be written there.
fn full_output_folder(outputs: &std::collections::BTreeMap<String, String>) -> Option<ErrorInfo> {
    let logs = outputs.get("stdouterr").into_iter();
    let (id, path) = logs
        .map(|path| ("stdouterr", path))
        .chain(outputs.iter().map(|(id, path)| (id.as_str(), path)))
        .find(|(_, path)| crate::engine::store::reserve::is_full(std::path::Path::new(path)))?;
    Some(
        ErrorInfo::new(
            "NoSpaceLeft",
            format!(
                "no space left on device: the file system holding {path} (output directory '{id}') is full, \
                 so the job's writes there failed; free some space there and submit the job again"
            ),
        )
        .with_detail("path", path.clone()),
    )
}

/// The error of a job one of whose processes failed: which process (role, index, node) and its
/// exit code.
fn process_failed(plan: &LaunchPlan, nodes: &[String], index: usize, code: i32) -> ErrorInfo {
    let Some(process) = plan.processes.get(index) else {
        return ErrorInfo::new("JobFailed", format!("Job failed with exit code {code}"))
            .with_detail("exitCode", code.to_string());
    };
    let role = match process.role {
        Role::JobPreparation => "job preparation",
        Role::Master => "master",
        Role::Worker => "worker",
        Role::ParameterServer => "parameter server",
        Role::Rank => "rank",
        Role::Mpirun => "mpirun",
    };
    let node = nodes.get(process.node).cloned().unwrap_or_default();
    // A one-process job keeps Batch AI's message; in a distributed job, say which process.
    let message = if plan.processes.len() == 1 {
        "Job failed with non-zero exit code".to_string()
    } else {
        format!("Job failed: {role} {} on node {node} exited with code {code}", process.index)
    };
    ErrorInfo::new("JobFailed", message)
        .with_detail("exitCode", code.to_string())
        .with_detail("role", role.to_string())
        .with_detail("taskIndex", process.index.to_string())
        .with_detail("nodeId", node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_kind_job_attempt_and_index() {
        let (kind, uid, attempt, index) = parse_key("task:abc:2:7").unwrap();
        assert!(matches!(kind, KeyKind::Task));
        assert_eq!((uid, attempt, index), ("abc", 2, 7));
        assert!(parse_key("setup:node-1").is_none());
        assert!(parse_key("task:abc:x:1").is_none());
    }
}
