//! The agent's reconciler core: stored state, an event and the time in; state changes and
//! actions out.
//!
//! Theory of operation:
//! - The core never reads a clock and never touches the world itself. The shell (`server`) hands
//!   it the time of each batch of events ([`Now`]), client requests, and what the engines report
//!   ([`EngineEvent`]), then asks for one `turn`.
//! - A turn: read what others committed (`refresh`: new jobs, notices of terminate requests and
//!   deletions, cluster settings), bring every cluster's nodes to what its scale settings ask
//!   (`clusters`), place queued jobs with the pure scheduler (`runs`), stop jobs past their
//!   deadline; **commit** every change in one transaction; only then carry out the actions
//!   through the cluster's [`Engine`] (create folders, start, signal, acknowledge). An engine
//!   call that fails is a change too, committed by the same turn before it returns.
//! - If a commit fails (another process held the database past the busy timeout), nothing is
//!   acted on: the changes and their actions wait, in order, and the next turn commits them
//!   before anything else. An acknowledgement never reaches an engine before the exit it
//!   acknowledges is committed.
//! - Decisions come from state, never from edges seen in memory: a terminate request is a flag
//!   on the job's row, acted on whenever the job is loaded with it (also after a restart); a job
//!   missing from the store has no right to processes or nodes (`recovery`).
//! - Memory holds what scheduling needs: compact queue entries (no spec), runs, nodes. A job's
//!   spec is loaded when it is placed.

mod clusters;
mod deletion;
mod prepare;
mod recovery;
mod refresh;
mod runs;
mod scrub;
mod start;
mod sweeps;
#[cfg(test)]
mod tests;
mod wait_reasons;
mod watchers;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::daemon::Options;
use super::protocol::{AgentStatus, Reply, Request};
use crate::engine::engines::{EngineEvent, Engines};
use crate::engine::error::Result;
use crate::engine::launcher::protocol::Exit;
use crate::engine::model::NodeState;
use crate::engine::model::job::SchedulingPriority;
use crate::engine::model::{EngineKind, ExecutionState, Timestamp};
use crate::engine::store::{ActiveJob, Change, ClusterRow, Store};

pub(crate) use runs::Run;

/// The time of the events being handled: the shell reads the clocks once per batch.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub wall: Timestamp,
}

impl Now {
    pub fn system() -> Now {
        Now { instant: Instant::now(), wall: chrono::Utc::now() }
    }
}

/// Timings the core follows.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long processes get between SIGTERM and SIGKILL (`BATCHAI_KILL_GRACE_SECONDS`).
    pub grace: Duration,
    /// How long an idle node stays before autoscale releases it, and how long a new autoscale
    /// cluster keeps its initial nodes (`BATCHAI_AUTOSCALE_DELAY_SECONDS`).
    pub autoscale_delay: Duration,
    /// How soon a failed commit is tried again.
    pub commit_retry: Duration,
}

impl Settings {
    pub fn from_environment() -> Settings {
        Settings {
            grace: seconds_from_env("BATCHAI_KILL_GRACE_SECONDS", Duration::from_secs(10)),
            autoscale_delay: seconds_from_env("BATCHAI_AUTOSCALE_DELAY_SECONDS", Duration::from_secs(60)),
            commit_retry: Duration::from_secs(1),
        }
    }
}

/// A duration in seconds from the environment, or `default`.
fn seconds_from_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        // try_: from_secs_f64 panics on 1e300 as on infinity.
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(default)
}

/// A node as the agent tracks it.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub name: String,
    /// Number within its cluster (the scheduler's node id).
    pub number: u32,
    pub cluster_id: i64,
    pub state: NodeState,
    pub cpus: Vec<u32>,
    pub gpus: Vec<u32>,
    pub memory_mb: Option<u64>,
    /// The job (row id) holding the node.
    pub job: Option<i64>,
    /// When the node entered its state (autoscale releases only nodes idle for a while).
    pub since: Timestamp,
    /// The marker (job uid) whose leftover processes must be gone before the node is free.
    pub reaping: Option<Box<str>>,
}

pub(crate) struct JobEntry {
    pub job: ActiveJob,
    /// Boxed: most entries are queued jobs without one, and a run is large.
    pub run: Option<Box<Run>>,
}

/// What an engine told us about a process key.
#[derive(Debug, Clone)]
pub(crate) enum Proc {
    Starting,
    Running,
    Exited(Exit),
}

/// Side effects decided in a turn, carried out after its commit.
#[derive(Debug)]
pub(crate) enum Action {
    StartJob { id: i64, fresh: bool },
    PrepareNode(String),
    ReleaseNode { engine: EngineKind, name: String },
    Signal { engine: EngineKind, key: String, signal: i32, marker: Option<String> },
    Ack { engine: EngineKind, key: String },
    Reap { engine: EngineKind, marker: Box<str> },
    RemoveFiles { engine: EngineKind, path: std::path::PathBuf },
}

pub struct Core {
    store: Store,
    workspace: String,
    options: Options,
    settings: Settings,
    engines: Engines,
    now: Now,
    started: Timestamp,
    /// When autoscale should look again without an event (a held node becomes releasable).
    autoscale_check: Option<Instant>,
    /// The local engine's launcher was started by this agent: nothing of an earlier one runs.
    fresh_engine: bool,
    engine_pid: i32,
    /// How the engine contains processes (`cgroup-v2`, `process-tree`), for `agent status`.
    containment: String,
    /// False until the engine's Hello has been applied: nothing is decided before that.
    ready: bool,
    data_version: i64,
    last_notice: i64,
    clusters: BTreeMap<i64, ClusterRow>,
    nodes: BTreeMap<String, NodeInfo>,
    jobs: HashMap<i64, JobEntry>,
    /// Running jobs by uid (process keys name the uid).
    by_uid: HashMap<Box<str>, i64>,
    /// Queued jobs per cluster name, in queue order (priority, then submission): kept sorted so
    /// a turn never walks the whole queue.
    queues: HashMap<std::sync::Arc<str>, BTreeSet<(Reverse<SchedulingPriority>, i64)>>,
    /// Jobs with a run (placed, preparing, running or stopping).
    running: BTreeSet<i64>,
    /// Markers whose leftovers the engine is reaping (answered by `EngineEvent::Reaped`).
    reaping: std::collections::HashSet<Box<str>>,
    /// Jobs whose row carries a terminate request not acted on yet.
    terminate_pending: BTreeSet<i64>,
    last_job_id: i64,
    procs: HashMap<String, Proc>,
    changes: Vec<Change>,
    actions: Vec<Action>,
    /// Set while a failed commit waits to be retried.
    retry_commit_at: Option<Instant>,
    /// When erased secrets are next scrubbed from the database files (`scrub`).
    scrub: scrub::Scrub,
    /// Jobs that ended in this turn (uid, final state), announced after the commit.
    ended: Vec<(Box<str>, &'static str)>,
    watchers: HashMap<Box<str>, Vec<UnboundedSender<Reply>>>,
    wakers: Vec<UnboundedSender<Reply>>,
    stop_requested: bool,
    /// The errors last written on each cluster, and what they are derived from.
    cluster_errors: HashMap<i64, Vec<crate::engine::model::ErrorInfo>>,
    capacity_errors: HashMap<i64, crate::engine::model::ErrorInfo>,
    node_errors: HashMap<String, crate::engine::model::ErrorInfo>,
    /// The wait reason last written for each queued job (see `wait_reasons`).
    wait_reasons: wait_reasons::WrittenReasons,
    /// The workspace's deletion, once a client asked for it (`deletion`).
    deletion: deletion::Deletion,
    /// The sweeps this agent drives (`sweeps`).
    sweeps: sweeps::Sweeps,
}

impl Core {
    pub fn open(store: Store, engines: Engines, options: Options, settings: Settings, now: Now) -> Result<Core> {
        let workspace = store.workspace_name().to_string();
        let mut core = Core {
            workspace,
            options,
            settings,
            engines,
            now,
            started: now.wall,
            autoscale_check: None,
            fresh_engine: false,
            engine_pid: 0,
            containment: String::new(),
            ready: false,
            data_version: -1,
            last_notice: 0,
            clusters: BTreeMap::new(),
            nodes: BTreeMap::new(),
            jobs: HashMap::new(),
            by_uid: HashMap::new(),
            queues: HashMap::new(),
            running: BTreeSet::new(),
            reaping: Default::default(),
            terminate_pending: BTreeSet::new(),
            last_job_id: 0,
            procs: HashMap::new(),
            changes: Vec::new(),
            actions: Vec::new(),
            retry_commit_at: None,
            scrub: scrub::Scrub::default(),
            ended: Vec::new(),
            watchers: HashMap::new(),
            wakers: Vec::new(),
            stop_requested: false,
            cluster_errors: HashMap::new(),
            capacity_errors: HashMap::new(),
            node_errors: HashMap::new(),
            wait_reasons: Default::default(),
            deletion: deletion::Deletion::default(),
            sweeps: sweeps::Sweeps::default(),
            store,
        };
        core.refresh(true)?;
        Ok(core)
    }

    /// The time of the next events.
    pub fn advance(&mut self, now: Now) {
        self.now = now;
    }

    pub fn stopping(&self) -> bool {
        self.stop_requested
    }

    pub fn request_stop(&mut self) {
        self.stop_requested = true;
    }

    /// The clients waiting for jobs to end, for a core that replaces this one.
    pub fn take_watchers(&mut self) -> Vec<(Box<str>, UnboundedSender<Reply>)> {
        self.watchers.drain().flat_map(|(uid, senders)| senders.into_iter().map(move |s| (uid.clone(), s))).collect()
    }

    /// The next moment something must happen without an event: a wall-clock limit, a kill, an
    /// autoscale check or a commit to retry.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running
            .iter()
            .filter_map(|id| self.jobs.get(id)?.run.as_ref()?.next_deadline())
            .chain(self.autoscale_check)
            .chain(self.retry_commit_at)
            .chain(self.scrub.due)
            .chain(self.sweeps_deadline())
            .min()
    }

    pub fn on_engine(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Hello { fresh, running, exited, containment, instance } => {
                // Whether the processes of runs recorded as running can still be watched: the
                // store says which launcher ran them. (Who started the launcher is no guide: an
                // agent that started one and died leaves it to the next agent.)
                let recorded = match self.store.launcher_instance() {
                    Ok(recorded) => recorded,
                    Err(e) => {
                        tracing::error!("{e}");
                        None
                    }
                };
                self.fresh_engine = match recorded.as_deref() {
                    Some(recorded) if !instance.is_empty() => recorded != instance,
                    _ => fresh,
                };
                if !instance.is_empty() && recorded.as_deref() != Some(instance.as_str()) {
                    self.changes.push(Change::LauncherInstance { instance });
                }
                self.containment = containment;
                for key in running {
                    self.procs.insert(key, Proc::Running);
                }
                for exit in exited {
                    self.procs.insert(exit.key.clone(), Proc::Exited(exit));
                }
                // Engines whose processes the supervisor does not watch (Slurm's, on other hosts).
                for engine in self.engines.all_mut() {
                    let (running, exited) = engine.recovered();
                    for key in running {
                        self.procs.insert(key, Proc::Running);
                    }
                    for exit in exited {
                        self.procs.insert(exit.key.clone(), Proc::Exited(exit));
                    }
                }
                self.recover();
                self.ready = true;
            }
            EngineEvent::Spawned { key } => {
                if !matches!(self.procs.get(&key), Some(Proc::Exited(_))) {
                    self.procs.insert(key, Proc::Running);
                }
            }
            EngineEvent::SpawnFailed { key, error } => self.on_spawn_failed(&key, &error),
            EngineEvent::Exited(exit) => {
                let key = exit.key.clone();
                self.procs.insert(key.clone(), Proc::Exited(exit.clone()));
                self.on_exit(&key, &exit);
            }
            EngineEvent::Reaped { marker } => self.reaped(&marker),
            EngineEvent::Lost { marker, error } => self.run_lost(&marker, &error),
            EngineEvent::Released { .. } => {}
            EngineEvent::Waiting { marker, reason } => {
                if let Some(&id) = self.by_uid.get(marker.as_str()) {
                    self.changes.push(Change::JobWaitReason { id, reason, expected_start: None });
                }
            }
        }
    }

    /// The pid of the engine's launcher, for `agent status`.
    pub fn set_engine_pid(&mut self, pid: i32) {
        self.engine_pid = pid;
    }

    pub fn on_client(&mut self, request: Request, reply: UnboundedSender<Reply>) {
        match request {
            Request::Wake => {
                self.data_version = -1; // something changed: look even if SQLite says not
                self.wakers.push(reply);
            }
            Request::Watch { jobs } => {
                for uid in jobs {
                    self.watch(uid.into_boxed_str(), reply.clone());
                }
            }
            Request::Status => {
                let _ = reply.send(Reply::Status(AgentStatus {
                    pid: std::process::id() as i32,
                    supervisor_pid: self.engine_pid,
                    started: self.started.to_rfc3339(),
                    queued_jobs: self.queues.values().map(BTreeSet::len).sum(),
                    running_jobs: self.running.len(),
                    nodes: self.nodes.len(),
                    processes: self.procs.values().filter(|p| matches!(p, Proc::Starting | Proc::Running)).count(),
                    containment: self.containment.clone(),
                    cpus: self.engines.get(EngineKind::Local).map(|e| e.cpus()).unwrap_or_default(),
                    gpus: self.engines.get(EngineKind::Local).map(|e| e.gpu_names(&e.gpus())).unwrap_or_default(),
                    watchers: self.watcher_count(),
                }));
            }
            Request::Stop => {
                let _ = reply.send(Reply::Stopping);
                self.stop_requested = true;
            }
            Request::AwaitDeletion => self.await_deletion(reply),
        }
    }

    fn on_exit(&mut self, key: &str, exit: &Exit) {
        if let Some(node) = key.strip_prefix("setup:") {
            let engine = self.node_engine(node);
            self.setup_exited(node, exit.exit_code());
            self.actions.push(Action::Ack { engine, key: key.to_string() });
        } else {
            self.job_process_exited(key, exit);
        }
    }

    fn on_spawn_failed(&mut self, key: &str, error: &str) {
        if let Some(name) = key.strip_prefix("setup:") {
            self.procs.remove(key);
            if let Some(node) = self.nodes.get(name).cloned() {
                let error = crate::engine::model::ErrorInfo::new("SetupTaskStartFailed", error.to_string());
                self.node_setup_failed(&node, error);
            }
        } else {
            self.spawn_failed(key, error);
        }
    }

    /// One reconcile turn (see the module docs).
    pub fn turn(&mut self) {
        if !self.ready {
            return;
        }
        let mut result = self.notice_deletion().and_then(|_| self.turn_inner());
        if result.as_ref().is_err_and(|e| e.is_no_space()) && self.store.release_reserve() {
            // The space the reserve held takes what could not be committed, at once: a job that
            // fills the disk would take it back before a later turn.
            self.retry_commit_at = None;
            result = self.turn_inner();
        }
        self.store.check_reserve();
        if let Err(e) = result {
            tracing::error!("{e}");
            // Whatever failed (a read or a commit) is tried again soon, before anything new.
            self.retry_commit_at.get_or_insert(self.now.instant + self.settings.commit_retry);
            for waker in self.wakers.drain(..) {
                let _ = waker.send(Reply::Error { message: e.to_string() });
            }
        }
        self.finish_deletion();
    }

    fn turn_inner(&mut self) -> Result<()> {
        if self.retry_commit_at.is_some_and(|at| at > self.now.instant) {
            return Ok(()); // the failed commit waits for its retry; nothing new is decided
        }
        self.retry_commit_at = None;
        self.refresh(false)?;
        // Decide, commit, act; acting can change nodes (a node without a setup task becomes idle
        // at once) or fail jobs, so decide again until a pass has nothing left to do.
        for _ in 0..8 {
            self.reconcile_clusters();
            self.act_on_terminate_requests();
            self.drive_sweeps()?;
            self.place_jobs();
            self.check_deadlines();
            if self.changes.is_empty() && self.actions.is_empty() {
                break;
            }
            self.commit()?;
            let actions = std::mem::take(&mut self.actions);
            for action in actions {
                self.act(action);
            }
        }
        if !self.changes.is_empty() {
            // Acting in the last pass failed something: commit it; its actions run next turn.
            self.commit()?;
        }
        self.scrub_secrets();
        for (uid, state) in std::mem::take(&mut self.ended) {
            for watcher in self.watchers.remove(&uid).unwrap_or_default() {
                let _ = watcher.send(Reply::JobEnded { job: uid.to_string(), state: state.to_string() });
            }
        }
        for waker in self.wakers.drain(..) {
            let _ = waker.send(Reply::Awake);
        }
        Ok(())
    }

    /// Commit the pending changes. On failure they stay pending (with the actions that depend on
    /// them) and the next attempt is scheduled.
    fn commit(&mut self) -> Result<()> {
        if self.changes.is_empty() {
            return Ok(());
        }
        match self.store.apply(&self.changes, self.now.wall) {
            Ok(()) => {
                self.changes.clear();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::StartJob { id, fresh } => {
                self.start_job(id, fresh);
                self.trial_launched(id);
            }
            Action::PrepareNode(name) => self.prepare_node(&name),
            Action::ReleaseNode { engine, name } => {
                self.procs.remove(&format!("setup:{name}"));
                if let Some(engine) = self.engines.get_mut(engine) {
                    engine.release_node(&name);
                }
            }
            Action::Signal { engine, key, signal, marker } => {
                if let Some(engine) = self.engines.get_mut(engine) {
                    engine.signal(&key, signal, marker.as_deref());
                }
            }
            Action::Ack { engine, key } => {
                self.procs.remove(&key);
                if let Some(engine) = self.engines.get_mut(engine) {
                    engine.acknowledge(vec![key]);
                }
            }
            Action::Reap { engine, marker } => {
                if let Some(engine) = self.engines.get_mut(engine) {
                    engine.reap(&marker);
                }
            }
            Action::RemoveFiles { engine, path } => {
                if let Some(engine) = self.engines.get_mut(engine) {
                    engine.remove_files(&path);
                }
            }
        }
    }

    fn cluster_by_name(&self, name: &str) -> Option<&ClusterRow> {
        self.clusters.values().find(|c| c.name == name)
    }

    /// The engine of a job's cluster; once the cluster row is gone (the workspace is being
    /// deleted), the engine that says it runs the job, else the local engine.
    pub(crate) fn job_engine(&self, id: i64) -> EngineKind {
        let Some(entry) = self.jobs.get(&id) else { return EngineKind::Local };
        match self.cluster_by_name(&entry.job.cluster) {
            Some(cluster) => cluster.spec.engine,
            None => self.engines.owner_of(&entry.job.uid).unwrap_or(EngineKind::Local),
        }
    }

    pub(crate) fn node_engine(&self, name: &str) -> EngineKind {
        self.nodes.get(name).and_then(|n| self.clusters.get(&n.cluster_id)).map_or(EngineKind::Local, |c| c.spec.engine)
    }

    pub(crate) fn enqueue(&mut self, id: i64) {
        if let Some(entry) = self.jobs.get(&id) {
            self.queues.entry(entry.job.cluster.clone()).or_default().insert((Reverse(entry.job.priority), id));
        }
    }

    pub(crate) fn dequeue(&mut self, id: i64) {
        if let Some(entry) = self.jobs.get(&id)
            && let Some(queue) = self.queues.get_mut(&entry.job.cluster)
        {
            queue.remove(&(Reverse(entry.job.priority), id));
        }
    }

    /// Record a job's end: its final state is in `changes`; watchers hear after the commit.
    fn job_ended(&mut self, id: i64, state: ExecutionState) {
        self.job_gone(id, state, state.as_str());
    }

    /// Record the end of a job that was deleted: a failure to its sweep, but `deleted` to its
    /// watchers, who wait on this job (by uid) and must not take the end for an outcome (nor
    /// a job created since under its name for it).
    fn deleted_job_ended(&mut self, id: i64) {
        self.job_gone(id, ExecutionState::Failed, "deleted");
    }

    fn job_gone(&mut self, id: i64, state: ExecutionState, told: &'static str) {
        self.trial_job_ended(id, state);
        self.dequeue(id);
        self.running.remove(&id);
        self.terminate_pending.remove(&id);
        if let Some(entry) = self.jobs.remove(&id) {
            self.by_uid.remove(&entry.job.uid);
            self.ended.push((entry.job.uid, told));
        }
    }
}
