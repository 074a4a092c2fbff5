//! Execution engines: how a cluster's nodes and a job's processes become real.
//!
//! Theory of operation:
//! - The agent's core decides *what* happens (which nodes a cluster has, which job runs where,
//!   which processes a run has, when they are signalled); an [`Engine`] decides *how*. The core
//!   holds one engine per [`EngineKind`] and dispatches on the cluster's `engine` field; it knows
//!   no engine's internals (folders, sockets, schedulers).
//! - An engine has two kinds of methods. Queries (`provide_node`, `node_site`, ...) have no side
//!   effects and are called while the core decides, before anything is committed. Effects
//!   (`prepare_node`, `start`, `signal`, ...) are called only after the turn's state changes are
//!   committed. An effect that fails synchronously returns an error the core turns into a state
//!   change; everything that happens later (a process started, failed to start, ended) comes back
//!   as an [`EngineEvent`], which the agent's shell hands to the core.
//! - Processes are named by keys the core chooses (`task:<uid>:<attempt>:<index>`,
//!   `prep:...`, `setup:<node>`). Starting a key twice starts it once; an exit stays with the
//!   engine until the core acknowledges it (after committing what it means), so an agent that
//!   dies in between hears of it again (`EngineEvent::Hello`).
//! - Node models: `local` gives long-lived nodes (slices of this machine, held like a Batch AI
//!   cluster's VMs). An engine that allocates per job (`slurm`: one Slurm job per batchai job)
//!   reports its nodes as slots that are ready at once, is told of each run before its processes
//!   (`begin_run`), and names node addresses by placeholders its node launchers replace; the
//!   core treats both alike.
//! - Engines whose processes are watched by something that outlives the agent other than the
//!   local supervisor (files on a shared file system) report what runs and what ended when the
//!   agent starts (`recovered`), merged into the supervisor's Hello.

pub mod local;
pub mod slurm;
#[cfg(test)]
pub mod testing;

use std::path::{Path, PathBuf};

use crate::engine::launcher::protocol::Exit;
use crate::engine::model::cluster::{NodeSetup, NodeShape};
use crate::engine::model::mounts::MountVolumes;
use crate::engine::model::{EngineKind, ErrorInfo};
use crate::engine::scheduler::slices::Slice;
use crate::engine::toolkits::{Mpirun, NodePaths, Program};

/// A process the core wants started.
#[derive(Debug, Clone)]
pub struct Launch {
    pub key: String,
    pub program: Program,
    /// Added to the node's base environment (later entries win).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub cpus: Vec<u32>,
    /// The value of `BATCHAI_JOB_UID`, by which the process's descendants are found later.
    pub marker: String,
    pub append: bool,
    /// Folders the engine creates before starting the process.
    pub make_dirs: Vec<PathBuf>,
    /// Which of the run's nodes runs it (0 for setup tasks).
    pub node: usize,
}

/// A run about to start its processes, for an engine that allocates nodes per job.
pub struct RunAllocation<'a> {
    pub uid: &'a str,
    pub attempt: u32,
    pub experiment: &'a str,
    pub job: &'a str,
    /// The run's nodes, in the plan's order.
    pub nodes: &'a [String],
    /// Per node, its MPI host file.
    pub host_files: Vec<PathBuf>,
    pub gpus_per_node: u32,
    /// The job's `maxWallClockTime`, and whether the job set it (else the default).
    pub wall_clock: std::time::Duration,
    pub wall_clock_set: bool,
    /// The cluster's Slurm settings.
    pub slurm: Option<&'a crate::engine::model::slurm::SlurmSettings>,
}

/// Where a node keeps its files, and how other nodes reach it.
#[derive(Debug, Clone)]
pub struct NodeSite {
    pub address: String,
    pub paths: NodePaths,
    /// The MPI host file of a one-node job on this node.
    pub host_file: PathBuf,
    /// The node's own folder: the working directory of its setup task.
    pub root: PathBuf,
}

/// What preparing a node needs: its identity, resources and the cluster's setup.
pub struct NodePreparation<'a> {
    pub workspace: &'a str,
    pub cluster: &'a str,
    pub cluster_uid: &'a str,
    pub node: &'a str,
    pub cpus: &'a [u32],
    pub gpus: &'a [u32],
    pub setup: &'a NodeSetup,
    /// Secret environment values of the setup task.
    pub secrets: Vec<(String, String)>,
    /// File servers by name: their folders.
    pub file_servers: &'a std::collections::HashMap<String, String>,
}

/// The files a run needs on its nodes before its first process starts.
pub struct RunFiles<'a> {
    /// Per node, the job temp folder (wiped on a fresh start).
    pub job_temps: &'a [PathBuf],
    /// Folders shared by the run's nodes (a multi-node job's shared temp).
    pub shared_dirs: &'a [PathBuf],
    /// Per node, where the job's volumes are mounted (empty when it has none).
    pub job_mount_roots: &'a [PathBuf],
    pub volumes: Option<&'a MountVolumes>,
    pub file_servers: &'a std::collections::HashMap<String, String>,
    pub host_file: &'a Path,
    pub host_file_text: &'a str,
}

/// What an engine reports after the fact.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The engine (re)connected: what runs and what ended unacknowledged. `fresh`: no process of
    /// an earlier connection can still be watched (the launcher itself restarted).
    Hello {
        fresh: bool,
        running: Vec<String>,
        exited: Vec<Exit>,
        /// How the engine contains a job's processes, in words (`cgroup-v2`, `process-tree`).
        containment: String,
        /// The launcher's identity: when it differs from the one the store recorded, the
        /// processes of runs recorded as running are lost, whatever `fresh` says.
        instance: String,
    },
    Spawned {
        key: String,
    },
    SpawnFailed {
        key: String,
        error: String,
    },
    Exited(Exit),
    /// Nothing is left of a marker's processes (answer to [`Engine::reap`]).
    Reaped {
        marker: String,
    },
    /// The run of job `marker` is over without its processes' exits: its nodes were taken away
    /// (Slurm preempted the job, or a node failed). The core requeues or fails the job as its
    /// cluster's deallocation option says.
    Lost {
        marker: String,
        error: String,
    },
    /// The engine let go of everything it held for job `marker`'s run (Slurm: the launchers were
    /// told goodbye). Nothing to decide; a deletion waiting for the engine looks again.
    Released {
        marker: String,
    },
    /// A job whose run the engine could not start yet (Slurm has it pending), and why; `None`
    /// once it started.
    Waiting {
        marker: String,
        reason: Option<String>,
    },
}

/// An execution engine (see the module docs).
pub trait Engine {
    fn kind(&self) -> EngineKind;

    /// Resources for a new node of `shape`, beside the nodes that exist (`live`).
    fn provide_node(&self, shape: &NodeShape, live: &[Slice]) -> Result<Slice, String>;

    /// The CPUs and GPUs this engine gives nodes (for `agent status`).
    fn cpus(&self) -> Vec<u32>;
    fn gpus(&self) -> Vec<u32>;

    /// How processes name these GPUs in `CUDA_VISIBLE_DEVICES`: numbers, or the UUIDs and MIG
    /// ids the machine was given.
    fn gpu_names(&self, gpus: &[u32]) -> Vec<String>;

    /// Where a node keeps its files and how it is reached.
    fn node_site(&self, node: &str) -> NodeSite;

    /// The variables every process on the node starts from (jobs, setup tasks, node exec): its
    /// GPUs, folders and id. Job processes get the toolkit's variables on top.
    fn node_env(&self, node: &str, gpus: &[u32]) -> Vec<(String, String)>;

    /// A multi-node run's shared temp folder.
    fn shared_job_temp(&self, uid: &str) -> PathBuf;

    /// Where job output goes when the job names no `stdOutErrPathPrefix`.
    fn default_output_root(&self) -> PathBuf;

    /// Where the files of `prefix/tail`, as a job's master node names them, really are: a query
    /// made before the run is committed, so the path recorded with the job stays valid after the
    /// node's links or mounts go (its next job, its cluster's deletion). `tail` is what batchai
    /// appends (the job's path segment and suffix); `mounted`: the node's mount roots with the
    /// volumes under each. By default the path itself (an engine whose volumes are real mounts
    /// has nothing to resolve).
    fn real_path(
        &self,
        prefix: &Path,
        tail: &Path,
        mounted: &[(PathBuf, &MountVolumes)],
        file_servers: &std::collections::HashMap<String, String>,
    ) -> PathBuf {
        let _ = (mounted, file_servers);
        prefix.join(tail)
    }

    /// The `mpirun` the toolkits launch through, if the nodes have one.
    fn mpirun(&self) -> Option<&Mpirun>;

    /// Make the node usable: folders, cluster volumes, then its setup task (key `setup:<node>`).
    /// `Ok(true)`: the setup task started and its exit decides; `Ok(false)`: the node is ready.
    fn prepare_node(&mut self, request: NodePreparation<'_>) -> Result<bool, ErrorInfo>;

    /// The node leaves: stop what runs on it for itself and remove its files.
    fn release_node(&mut self, node: &str);

    /// Make a run's files; returns, per node, the unmanaged mount commands to run first.
    fn prepare_run(&mut self, files: RunFiles<'_>, fresh: bool) -> Result<Vec<String>, ErrorInfo>;

    /// Start a process (idempotent per key).
    fn start(&mut self, launch: Launch);

    /// Signal the process group of `key` (if any), and every process marked with `marker`.
    fn signal(&mut self, key: &str, signal: i32, marker: Option<&str>);

    /// Kill whatever is left of a marker's processes (descendants that outlived the job's own),
    /// and report [`EngineEvent::Reaped`] once nothing is.
    fn reap(&mut self, marker: &str);

    /// The core has committed these exits: forget them.
    fn acknowledge(&mut self, keys: Vec<String>);

    /// Remove a folder the core no longer needs (a finished run's shared temp).
    fn remove_files(&mut self, path: &Path);

    /// A run's processes are about to be started (also again after an agent restart): an engine
    /// that allocates per job submits it here, once per uid and attempt.
    fn begin_run(&mut self, run: RunAllocation<'_>) -> Result<(), ErrorInfo> {
        let _ = run;
        Ok(())
    }

    /// Whether the engine still holds runs the core has finished with (Slurm: launchers not yet
    /// told goodbye): a workspace is not deleted under them.
    fn busy(&self) -> bool {
        false
    }

    /// Whether this engine runs (or ran) the job `uid`: how the engine of a job whose cluster
    /// row is gone (deleted with the workspace) is found. The local engine answers by default.
    fn owns_run(&self, uid: &str) -> bool {
        let _ = uid;
        false
    }

    /// When the agent starts: the keys this engine's processes run under and the exits not
    /// acknowledged yet, for engines not watched by the local supervisor.
    fn recovered(&mut self) -> (Vec<String>, Vec<Exit>) {
        (Vec::new(), Vec::new())
    }
}

/// The engines an agent has, one per kind.
#[derive(Default)]
pub struct Engines {
    engines: Vec<Box<dyn Engine>>,
}

impl Engines {
    pub fn with(mut self, engine: Box<dyn Engine>) -> Engines {
        self.engines.retain(|e| e.kind() != engine.kind());
        self.engines.push(engine);
        self
    }

    pub fn any_busy(&self) -> bool {
        self.engines.iter().any(|e| e.busy())
    }

    /// The engine that says it runs job `uid`, if any does.
    pub fn owner_of(&self, uid: &str) -> Option<EngineKind> {
        self.engines.iter().find(|e| e.owns_run(uid)).map(|e| e.kind())
    }

    pub fn get(&self, kind: EngineKind) -> Option<&dyn Engine> {
        self.engines.iter().find(|e| e.kind() == kind).map(|e| e.as_ref())
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Engine>> {
        self.engines.iter_mut()
    }

    pub fn get_mut(&mut self, kind: EngineKind) -> Option<&mut (dyn Engine + 'static)> {
        self.engines.iter_mut().find(|e| e.kind() == kind).map(|e| e.as_mut())
    }
}
