//! The Slurm engine behind the [`Engine`] trait (see the module docs).
//!
//! Folders and paths are the local engine's, under the workspace, which the nodes share: a
//! node's job temp, mount links and host file are made here before the run is submitted.
//! Effects become commands for the engine's thread (`driver`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use super::driver::{Command, Driver, Tracked};
use super::sbatch;
use crate::engine::engines::local::launch::Launcher;
use crate::engine::engines::local::{LocalEngine, Outbox};
use crate::engine::engines::{Engine, EngineEvent, Launch, NodePreparation, NodeSite, RunAllocation, RunFiles};
use crate::engine::launcher::node::{Manifest, RunDir, host_placeholder};
use crate::engine::launcher::protocol::Exit;
use crate::engine::model::cluster::NodeShape;
use crate::engine::model::mounts::MountVolumes;
use crate::engine::model::{EngineKind, ErrorInfo};
use crate::engine::paths::Layout;
use crate::engine::scheduler::slices::{Machine, Slice};
use crate::engine::toolkits::Mpirun;

/// How a node starts batchai's node launcher: this Python, loading the native module by its file
/// (no site, no package import), as the agent itself starts.
const NODE_CODE: &str = "import sys, importlib.util as u; \
    s = u.spec_from_file_location('batchai._core', sys.argv[1]); m = u.module_from_spec(s); \
    s.loader.exec_module(m); sys.exit(m.node_launcher_main(sys.argv[2]))";

pub struct SlurmEngine {
    /// Paths and folders, exactly as on the local engine (its supervisor is never used).
    folders: LocalEngine,
    launcher: Launcher,
    root: PathBuf,
    /// `python -S -c NODE_CODE <module>`: the run folder is appended.
    node_command: Vec<String>,
    commands: Sender<Command>,
    /// The attempt of each uid's current run (process keys name both).
    runs: HashMap<String, u32>,
    recovered: Option<(Vec<String>, Vec<Exit>)>,
    /// Runs the thread has not told goodbye yet.
    holding: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The thread's state until it is needed (`wake`).
    idle: Option<(Driver, std::sync::mpsc::Receiver<Command>)>,
}

impl SlurmEngine {
    /// The engine of the workspace at `layout`; its thread reports to `events`. `python` and
    /// `module` start node launchers (the nodes need them at the same paths).
    pub fn new(
        layout: Layout,
        python: &str,
        module: Option<&str>,
        events: UnboundedSender<EngineEvent>,
    ) -> SlurmEngine {
        let root = layout.root.join("slurm");
        let mut runs = HashMap::new();
        let mut tracked = HashMap::new();
        let mut running = Vec::new();
        let mut exited = Vec::new();
        // Runs the last agent left unfinished: tracked again, reported to the core at Hello.
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let dir = RunDir(entry.path());
            // `<uid>-<attempt>` (a uid may hold dashes itself).
            let Some(name) =
                entry.file_name().to_str().and_then(|n| n.rsplit_once('-')).map(|(u, a)| format!("{u}:{a}"))
            else {
                continue;
            };
            if dir.finished().exists() || !settle_submission(&name, &dir) {
                continue;
            }
            if let Some((run, keys, exits)) = Tracked::load(&name, dir) {
                if let Some((uid, attempt)) = name.rsplit_once(':') {
                    runs.insert(uid.to_string(), attempt.parse().unwrap_or(0));
                }
                running.extend(keys);
                exited.extend(exits);
                tracked.insert(name, run);
            }
        }
        let module = module.map(str::to_string).unwrap_or_default();
        let node_command = vec![python.to_string(), "-S".into(), "-c".into(), NODE_CODE.into(), module];
        let (commands, receiver) = std::sync::mpsc::channel();
        let active = !tracked.is_empty();
        let holding = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(tracked.len()));
        let driver = Driver { runs: tracked, events, next_squeue: Instant::now(), holding: holding.clone() };
        let machine = Machine { cpus: Vec::new(), gpus: Vec::new(), memory_mb: 0, gpu_ids: Default::default() };
        let mut engine = SlurmEngine {
            folders: LocalEngine::with_machine(layout, Outbox::default(), machine),
            launcher: Launcher::from_environment(),
            root,
            node_command,
            commands,
            runs,
            recovered: Some((running, exited)),
            holding,
            idle: None,
        };
        engine.idle = Some((driver, receiver));
        if active {
            engine.wake();
        }
        engine
    }

    /// Start the thread the first time there is work: a workspace without Slurm jobs has none (the
    /// agent forks a new supervisor if it loses its own, which needs a single thread).
    fn wake(&mut self) {
        if let Some((driver, receiver)) = self.idle.take() {
            std::thread::Builder::new()
                .name("slurm".into())
                .spawn(move || driver.run(receiver))
                .expect("starting the Slurm engine's thread");
        }
    }

    fn run_dir(&self, uid: &str, attempt: u32) -> RunDir {
        RunDir(self.root.join(format!("{uid}-{attempt}")))
    }

    fn command(&mut self, command: Command) {
        self.wake();
        // The thread ends only with the engine: a send cannot fail while it lives.
        let _ = self.commands.send(command);
    }
}

impl Engine for SlurmEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Slurm
    }

    /// A slot: the shape's CPUs and GPUs numbered from 0 (Slurm binds the real ones).
    fn provide_node(&self, shape: &NodeShape, _live: &[Slice]) -> Result<Slice, String> {
        Ok(Slice { cpus: (0..shape.cpus).collect(), gpus: (0..shape.gpus).collect(), memory_mb: shape.memory_mb })
    }

    fn cpus(&self) -> Vec<u32> {
        Vec::new()
    }

    fn gpus(&self) -> Vec<u32> {
        Vec::new()
    }

    fn gpu_names(&self, gpus: &[u32]) -> Vec<String> {
        gpus.iter().map(u32::to_string).collect()
    }

    fn node_site(&self, node: &str) -> NodeSite {
        NodeSite { address: host_placeholder(node), ..self.folders.node_site(node) }
    }

    fn node_env(&self, node: &str, gpus: &[u32]) -> Vec<(String, String)> {
        self.folders.node_env(node, gpus)
    }

    fn shared_job_temp(&self, uid: &str) -> PathBuf {
        self.folders.shared_job_temp(uid)
    }

    fn default_output_root(&self) -> PathBuf {
        self.folders.default_output_root()
    }

    fn real_path(
        &self,
        prefix: &Path,
        tail: &Path,
        mounted: &[(PathBuf, &MountVolumes)],
        file_servers: &HashMap<String, String>,
    ) -> PathBuf {
        self.folders.real_path(prefix, tail, mounted, file_servers)
    }

    fn mpirun(&self) -> Option<&Mpirun> {
        None
    }

    fn prepare_node(&mut self, request: NodePreparation<'_>) -> Result<bool, ErrorInfo> {
        if request.setup.mount_volumes.as_ref().is_some_and(|v| !v.unmanaged_file_systems.is_empty()) {
            return Err(ErrorInfo::new(
                "NodePreparationFailed",
                "unmanagedFileSystems need a mount command on each node, which a Slurm cluster does not run: \
                 mount them on the nodes outside batchai, or give the jobs mountVolumes",
            ));
        }
        if request.setup.setup_task.is_some() {
            return Err(ErrorInfo::new(
                "NodePreparationFailed",
                "a Slurm cluster runs no setup task: give the jobs a jobPreparation instead",
            ));
        }
        self.folders.prepare_node(request)
    }

    fn release_node(&mut self, node: &str) {
        self.folders.release_node(node);
    }

    fn prepare_run(&mut self, files: RunFiles<'_>, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
        self.folders.prepare_run(files, fresh)
    }

    fn begin_run(&mut self, run: RunAllocation<'_>) -> Result<(), ErrorInfo> {
        if self.runs.get(run.uid) == Some(&run.attempt) {
            return Ok(()); // submitted before (this is an agent restart or a resumed start)
        }
        if self.node_command.last().is_none_or(String::is_empty) {
            return Err(ErrorInfo::new(
                "SlurmSubmitFailed",
                "this agent does not know batchai's native module's path, which the nodes start their launcher \
                 from: start the agent from Python (any batchai call does)",
            ));
        }
        let dir = self.run_dir(run.uid, run.attempt);
        let mut launcher = self.node_command.clone();
        launcher.push(dir.0.display().to_string());
        let (args, script) = sbatch::submission(&run, &dir.0, &launcher);
        let manifest = Manifest {
            uid: run.uid.to_string(),
            attempt: run.attempt,
            nodes: run.nodes.to_vec(),
            host_files: run.host_files.clone(),
        };
        self.runs.insert(run.uid.to_string(), run.attempt);
        self.command(Command::Submit { dir, manifest, args, script });
        Ok(())
    }

    fn start(&mut self, launch: Launch) {
        // An unknown run fails the key in the driver.
        let run = super::driver::run_of(&launch.key).unwrap_or_default();
        let node = launch.node;
        let request = self.launcher.request(launch);
        self.command(Command::Spawn { run, node, request: Box::new(request) });
    }

    fn signal(&mut self, key: &str, signal: i32, marker: Option<&str>) {
        self.command(Command::Signal { key: key.to_string(), signal, marker: marker.map(str::to_string) });
    }

    fn reap(&mut self, marker: &str) {
        self.command(Command::Reap { marker: marker.to_string() });
    }

    fn acknowledge(&mut self, keys: Vec<String>) {
        if !keys.is_empty() {
            self.command(Command::Ack { keys });
        }
    }

    fn remove_files(&mut self, path: &Path) {
        self.folders.remove_files(path);
    }

    fn busy(&self) -> bool {
        self.holding.load(std::sync::atomic::Ordering::Acquire) > 0
    }

    fn owns_run(&self, uid: &str) -> bool {
        self.runs.contains_key(uid)
    }

    fn recovered(&mut self) -> (Vec<String>, Vec<Exit>) {
        self.recovered.take().unwrap_or_default()
    }
}

/// A run folder without a Slurm id: the last agent died before or inside `sbatch`. Returns false
/// when the run was never handed to Slurm (it is submitted again when the core resumes it), true
/// when it was (its id, found again by the job's comment, is recorded) or when that cannot be
/// known and a launcher of it already ran.
fn settle_submission(name: &str, dir: &RunDir) -> bool {
    if dir.slurm_id().exists() {
        return true;
    }
    if !dir.submitting().exists() {
        return false; // died before sbatch: nothing reached Slurm
    }
    let (uid, attempt) = name.rsplit_once(':').unwrap_or((name, "0"));
    let comment = sbatch::comment(uid, attempt.parse().unwrap_or(0));
    match super::driver::find_by_comment(&comment) {
        Ok(Some(id)) => {
            tracing::info!("run {name}: found its Slurm job {id} again by its comment");
            let _ = crate::engine::launcher::node::write_atomic(&dir.slurm_id(), id.to_string().as_bytes());
            true
        }
        // Slurm lists no such job: it never took it, or it ended and was purged. A launcher that
        // ran wrote to an outbox; without one, nothing ran and submitting again is safe.
        Ok(None) => {
            let ran = std::fs::read_dir(&dir.0)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| std::fs::metadata(e.path().join("out.jsonl")).is_ok_and(|m| m.len() > 0));
            if !ran {
                let _ = std::fs::remove_file(dir.submitting());
            }
            ran
        }
        Err(e) => {
            tracing::warn!("run {name}: cannot ask Slurm whether it took the job ({e})");
            true
        }
    }
}
