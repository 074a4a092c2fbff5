//! The agent's state and its reconcile turn.
//!
//! A turn: read what changed in the store (`refresh`), bring every cluster's nodes to what its
//! scale settings ask (`clusters`), act on terminate requests and deletions, place queued jobs
//! with the scheduler and start them (`runs`), stop jobs past their deadline; commit every change
//! in one transaction; only then act (create folders, spawn, signal), and finally answer the
//! clients waiting for this turn or for jobs that ended in it. Acting can fail (a folder cannot
//! be made, a program is missing); such failures are changes too, committed by the same turn
//! before it returns.

mod clusters;
mod prepare;
mod recovery;
mod refresh;
mod runs;
mod start;
mod watchers;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::daemon::Options;
use super::protocol::{AgentStatus, Reply, Request};
use super::server::ClientEvent;
use crate::engine::engines::local::launch::Launcher;
use crate::engine::engines::local::machine::detect_machine;
use crate::engine::error::Result;
use crate::engine::launcher::protocol::{Exit, FromSupervisor, ToSupervisor, write_line};
use crate::engine::model::{ExecutionState, Timestamp};
use crate::engine::paths::Layout;
use crate::engine::scheduler::NodeState;
use crate::engine::scheduler::slices::Machine;
use crate::engine::store::{ActiveJob, Change, ClusterRow, Store};

pub(crate) use runs::Run;

/// A duration in seconds from the environment, or `default`.
fn seconds_from_env(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
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
}

pub(crate) struct JobEntry {
    pub job: ActiveJob,
    pub run: Option<Run>,
}

/// What the supervisor told us about a process key.
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
    RemoveNode(String),
    Signal { key: String, signal: i32, marker: Option<String> },
    Ack(String),
    Cleanup(std::path::PathBuf),
}

pub struct Core {
    store: Store,
    layout: Layout,
    workspace: String,
    options: Options,
    launcher: Launcher,
    /// How long processes get between SIGTERM and SIGKILL (`BATCHAI_KILL_GRACE_SECONDS`).
    grace: Duration,
    /// How long an idle node stays before autoscale releases it, and how long a new autoscale
    /// cluster keeps its initial nodes (`BATCHAI_AUTOSCALE_DELAY_SECONDS`).
    autoscale_delay: Duration,
    /// When autoscale should look again without an event (a held node becomes releasable).
    autoscale_check: Option<Instant>,
    started: Timestamp,
    machine: Machine,
    supervisor_pid: i32,
    fresh_supervisor: bool,
    /// False until the supervisor's Hello has been applied: nothing is decided before that.
    ready: bool,
    data_version: i64,
    clusters: BTreeMap<i64, ClusterRow>,
    nodes: BTreeMap<String, NodeInfo>,
    jobs: BTreeMap<i64, JobEntry>,
    by_uid: HashMap<String, i64>,
    /// Queued jobs per cluster name, in queue order (priority, then submission): kept sorted so
    /// a turn never walks the whole queue.
    queues: HashMap<String, BTreeSet<(Reverse<crate::engine::model::job::SchedulingPriority>, i64)>>,
    /// Jobs with a run (placed, preparing, running or stopping).
    running: BTreeSet<i64>,
    last_job_id: i64,
    procs: HashMap<String, Proc>,
    changes: Vec<Change>,
    actions: Vec<Action>,
    outbox: Vec<u8>,
    /// Jobs that ended in this turn (uid, final state), announced after the commit.
    ended: Vec<(String, &'static str)>,
    watchers: HashMap<String, Vec<UnboundedSender<Reply>>>,
    wakers: Vec<UnboundedSender<Reply>>,
    stop_requested: bool,
    /// The errors last written on each cluster, and what they are derived from.
    cluster_errors: HashMap<i64, Vec<crate::engine::model::ErrorInfo>>,
    capacity_errors: HashMap<i64, crate::engine::model::ErrorInfo>,
    node_errors: HashMap<String, crate::engine::model::ErrorInfo>,
    /// What each host file holds, so an unchanged one is not written again.
    host_files: HashMap<std::path::PathBuf, String>,
}

impl Core {
    pub fn open(layout: Layout, options: Options, fresh_supervisor: bool) -> Result<Core> {
        let mut store = Store::open(layout.clone())?;
        store.checkpoint_often()?;
        let workspace = store.workspace_name().to_string();
        let mut core = Core {
            workspace,
            launcher: Launcher::from_environment(),
            grace: seconds_from_env("BATCHAI_KILL_GRACE_SECONDS", Duration::from_secs(10)),
            autoscale_delay: seconds_from_env("BATCHAI_AUTOSCALE_DELAY_SECONDS", Duration::from_secs(60)),
            autoscale_check: None,
            started: chrono::Utc::now(),
            machine: detect_machine(),
            supervisor_pid: 0,
            fresh_supervisor,
            ready: false,
            data_version: -1,
            clusters: BTreeMap::new(),
            nodes: BTreeMap::new(),
            jobs: BTreeMap::new(),
            by_uid: HashMap::new(),
            queues: HashMap::new(),
            running: BTreeSet::new(),
            last_job_id: 0,
            procs: HashMap::new(),
            changes: Vec::new(),
            actions: Vec::new(),
            outbox: Vec::new(),
            ended: Vec::new(),
            watchers: HashMap::new(),
            wakers: Vec::new(),
            stop_requested: false,
            cluster_errors: HashMap::new(),
            capacity_errors: HashMap::new(),
            node_errors: HashMap::new(),
            host_files: HashMap::new(),
            layout,
            options,
            store,
        };
        core.refresh(true)?;
        Ok(core)
    }

    pub fn stopping(&self) -> bool {
        self.stop_requested
    }

    pub fn request_stop(&mut self) {
        self.stop_requested = true;
    }

    pub fn take_outbox(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    pub(crate) fn send(&mut self, message: &ToSupervisor) {
        write_line(&mut self.outbox, message).expect("writing to a Vec cannot fail");
    }

    /// The next moment something must happen without an event: a wall-clock limit or a kill.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.running
            .iter()
            .filter_map(|id| self.jobs.get(id)?.run.as_ref()?.next_deadline())
            .chain(self.autoscale_check)
            .min()
    }

    pub fn on_supervisor(&mut self, message: FromSupervisor) {
        match message {
            FromSupervisor::Hello { pid, running, exited } => {
                self.supervisor_pid = pid;
                for r in running {
                    self.procs.insert(r.key, Proc::Running);
                }
                for exit in exited {
                    self.procs.insert(exit.key.clone(), Proc::Exited(exit));
                }
                self.recover();
                self.ready = true;
            }
            FromSupervisor::Spawned { key, .. } => {
                if !matches!(self.procs.get(&key), Some(Proc::Exited(_))) {
                    self.procs.insert(key, Proc::Running);
                }
            }
            FromSupervisor::SpawnFailed { key, error } => self.on_spawn_failed(&key, &error),
            FromSupervisor::Exited(exit) => {
                let key = exit.key.clone();
                self.procs.insert(key.clone(), Proc::Exited(exit.clone()));
                self.on_exit(&key, &exit);
            }
        }
    }

    pub fn on_client(&mut self, event: ClientEvent) {
        let ClientEvent::Request(request, reply) = event;
        match request {
            Request::Wake => {
                self.data_version = -1; // something changed: look even if SQLite says not
                self.wakers.push(reply);
            }
            Request::Watch { jobs } => {
                for uid in jobs {
                    if self.by_uid.contains_key(&uid) {
                        self.add_watcher(uid, reply.clone());
                    } else {
                        let state = self.store.job_state_by_uid(&uid).ok().flatten();
                        let state = match state {
                            Some(s) if !s.is_terminal() => {
                                // Not known yet (created after our last look): watch it.
                                self.data_version = -1;
                                self.add_watcher(uid, reply.clone());
                                continue;
                            }
                            Some(s) => s.as_str(),
                            None => "deleted",
                        };
                        let _ = reply.send(Reply::JobEnded { job: uid, state: state.to_string() });
                    }
                }
            }
            Request::Status => {
                let _ = reply.send(Reply::Status(AgentStatus {
                    pid: std::process::id() as i32,
                    supervisor_pid: self.supervisor_pid,
                    started: self.started.to_rfc3339(),
                    queued_jobs: self.queues.values().map(BTreeSet::len).sum(),
                    running_jobs: self.running.len(),
                    nodes: self.nodes.len(),
                    processes: self.procs.values().filter(|p| matches!(p, Proc::Starting | Proc::Running)).count(),
                    watchers: self.watcher_count(),
                }));
            }
            Request::Stop => {
                let _ = reply.send(Reply::Stopping);
                self.stop_requested = true;
            }
        }
    }

    fn on_exit(&mut self, key: &str, exit: &Exit) {
        if let Some(node) = key.strip_prefix("setup:") {
            self.setup_exited(node, exit.exit_code());
            self.actions.push(Action::Ack(key.to_string()));
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
        if let Err(e) = self.turn_inner() {
            eprintln!("agent: {e}");
            for waker in self.wakers.drain(..) {
                let _ = waker.send(Reply::Error { message: e.to_string() });
            }
        }
    }

    fn turn_inner(&mut self) -> Result<()> {
        self.refresh(false)?;
        // Decide, commit, act; acting can change nodes (a node without a setup task becomes idle
        // at once) or fail jobs, so decide again until a pass has nothing left to do.
        for _ in 0..8 {
            self.reconcile_clusters();
            self.place_jobs(chrono::Utc::now());
            self.check_deadlines(Instant::now());
            if self.changes.is_empty() && self.actions.is_empty() {
                break;
            }
            let changes = std::mem::take(&mut self.changes);
            self.store.apply(&changes, chrono::Utc::now())?;
            let actions = std::mem::take(&mut self.actions);
            for action in actions {
                self.act(action);
            }
        }
        if !self.changes.is_empty() {
            let changes = std::mem::take(&mut self.changes);
            self.store.apply(&changes, chrono::Utc::now())?;
        }
        for (uid, state) in std::mem::take(&mut self.ended) {
            for watcher in self.watchers.remove(&uid).unwrap_or_default() {
                let _ = watcher.send(Reply::JobEnded { job: uid.clone(), state: state.to_string() });
            }
        }
        for waker in self.wakers.drain(..) {
            let _ = waker.send(Reply::Awake);
        }
        Ok(())
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::StartJob { id, fresh } => self.start_job(id, fresh),
            Action::PrepareNode(name) => self.prepare_node(&name),
            Action::RemoveNode(name) => {
                // A node leaves with whatever runs on it for itself: its setup task.
                let key = format!("setup:{name}");
                if matches!(self.procs.get(&key), Some(Proc::Starting | Proc::Running)) {
                    self.send(&ToSupervisor::Signal {
                        key,
                        signal: libc::SIGKILL,
                        marker: Some(format!("setup-{name}")),
                    });
                }
                crate::engine::engines::local::workdirs::remove_tree(
                    &crate::engine::engines::local::workdirs::node_root(&self.layout, &name),
                )
            }
            Action::Signal { key, signal, marker } => self.send(&ToSupervisor::Signal { key, signal, marker }),
            Action::Ack(key) => {
                self.procs.remove(&key);
                self.send(&ToSupervisor::Ack { keys: vec![key] });
            }
            Action::Cleanup(path) => crate::engine::engines::local::workdirs::remove_tree(&path),
        }
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
        self.dequeue(id);
        self.running.remove(&id);
        if let Some(entry) = self.jobs.remove(&id) {
            self.by_uid.remove(&entry.job.uid);
            self.ended.push((entry.job.uid, state.as_str()));
        }
    }
}
