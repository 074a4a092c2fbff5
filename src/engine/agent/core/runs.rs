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

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Action, Core, Proc};
use crate::engine::engines::local::launch::Launch;
use crate::engine::engines::local::workdirs::{self, MountTargets};
use crate::engine::launcher::protocol::{Exit, ToSupervisor};
use crate::engine::model::{ErrorInfo, ExecutionState, Timestamp};
use crate::engine::scheduler::{JobId, NodeState, QueuedJob, SchedulerInput, Time, schedule};
use crate::engine::store::Change;
use crate::engine::toolkits::{
    self, DirectoryPath, JobIdentity, JobPaths, LaunchPlan, LaunchRequest, NodePaths, PlacedNode, Program, SecretValue,
};

#[derive(Debug, Clone)]
pub(crate) enum StopReason {
    Requeue,
    Terminated,
    WallClock,
    Deleted,
    Failed(ErrorInfo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Preparation,
    Tasks,
}

pub(crate) struct Run {
    attempt: u32,
    nodes: Vec<String>,
    /// Paths and plan, computed before the run is committed (or again after a restart).
    prepared: Option<Prepared>,
    plan: Option<LaunchPlan>,
    phase: Phase,
    /// Keys asked for or running, not yet exited.
    pending: BTreeSet<String>,
    /// Every key of this run, to acknowledge at the end.
    keys: BTreeSet<String>,
    /// The job's exit code once the plan's rule has decided it.
    outcome: Option<i32>,
    stop: Option<StopReason>,
    /// Processes still running get SIGKILL at this moment.
    kill_at: Option<Instant>,
    killed: bool,
    wall_deadline: Instant,
    /// Folders to remove when the run ends (a multi-node job's shared temp).
    temp_dirs: Vec<PathBuf>,
}

impl Run {
    fn new(attempt: u32, nodes: Vec<String>, wall_deadline: Instant) -> Run {
        Run {
            attempt,
            nodes,
            prepared: None,
            plan: None,
            phase: Phase::Tasks,
            pending: BTreeSet::new(),
            keys: BTreeSet::new(),
            outcome: None,
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

enum KeyKind {
    Prep,
    Task,
}

/// `(kind, uid, attempt, index)` of a job process key.
fn parse_key(key: &str) -> Option<(KeyKind, &str, u32, usize)> {
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
const QUEUE_DEPTH: usize = 256;

/// TCP ports for a job: derived from its uid, so a restarted agent plans the same ones.
fn job_ports(uid: &str, count: usize) -> Vec<u16> {
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let base = 20_000 + (hash % 10_000) as u16 * 4;
    (0..count as u16).map(|i| base + i).collect()
}

impl Core {
    /// Ask the scheduler which queued jobs start now, cluster by cluster.
    pub(super) fn place_jobs(&mut self, now: Timestamp) {
        let clusters: Vec<(i64, String, u32)> = self
            .clusters
            .values()
            .map(|c| {
                let limit = match (&c.spec.scale_settings.manual, &c.spec.scale_settings.auto_scale) {
                    (Some(m), _) => m.target_node_count,
                    (None, Some(a)) => a.maximum_node_count,
                    _ => 0,
                };
                (c.id, c.name.clone(), limit)
            })
            .collect();
        for (cluster_id, name, node_limit) in clusters {
            let nodes = self.cluster_nodes(cluster_id);
            if !nodes.iter().any(|n| n.state.accepts_jobs() && self.node_free(cluster_id, n.id.0)) {
                continue;
            }
            // The head of the queue, as deep as a round looks (Slurm's default_queue_depth idea):
            // jobs further back start in later rounds.
            let Some(queue) = self.queues.get(&name) else { continue };
            let queued: Vec<QueuedJob> = queue
                .iter()
                .take(QUEUE_DEPTH)
                .filter_map(|(_, id)| self.jobs.get(id))
                .map(|e| QueuedJob {
                    id: JobId(e.job.id),
                    priority: e.job.priority,
                    submitted: e.job.id as u64,
                    node_count: e.job.spec.node_count,
                    max_wall_clock: e.job.spec.constraints.max_wall_clock_time.0,
                })
                .collect();
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
    }

    fn node_free(&self, cluster_id: i64, number: u32) -> bool {
        self.nodes.values().any(|n| n.cluster_id == cluster_id && n.number == number && n.job.is_none())
    }

    /// Plan the job on `nodes` and commit it as running, with its output paths; folders and
    /// processes come after the commit.
    fn begin_run(&mut self, id: i64, nodes: Vec<String>, now: Timestamp) {
        let prepared = match self.plan_run(id, &nodes) {
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
        entry.job.node_names = nodes.clone();
        let uid = entry.job.uid.clone();
        let limit = entry.job.spec.constraints.max_wall_clock_time.0;
        self.changes.push(Change::JobRunning {
            id,
            attempt: entry.job.attempt,
            nodes: nodes.clone(),
            outputs: prepared.outputs.clone(),
        });
        let mut run = Run::new(entry.job.attempt, nodes.clone(), Instant::now() + limit);
        run.prepared = Some(prepared);
        entry.run = Some(run);
        for name in &nodes {
            if let Some(node) = self.nodes.get_mut(name) {
                node.job = Some(id);
                node.state = NodeState::Running;
                node.since = now;
                self.changes.push(Change::NodeState {
                    name: name.clone(),
                    state: NodeState::Running,
                    job: Some(uid.clone()),
                });
            }
        }
        self.actions.push(Action::StartJob { id, fresh: true });
    }

    /// After the run is committed (or after a restart, `fresh` false): folders, then the
    /// processes of the current phase that the supervisor does not know yet. Idempotent, except
    /// that a fresh start first wipes the nodes' job temp folders, as Batch AI did.
    pub(super) fn start_job(&mut self, id: i64, fresh: bool) {
        let Some(entry) = self.jobs.get(&id) else { return };
        let Some(run) = &entry.run else { return };
        if run.stop.is_some() {
            return self.maybe_finish(id);
        }
        let attempt = run.attempt;
        let uid = entry.job.uid.clone();
        let nodes = run.nodes.clone();
        let mut prepared = match run.prepared.clone() {
            Some(prepared) => prepared,
            None => match self.plan_run(id, &nodes) {
                Ok(prepared) => prepared,
                Err(error) => return self.stop_run(id, StopReason::Failed(error)),
            },
        };
        match self.materialize(id, &prepared, fresh) {
            Ok(commands) => prepared.mount_commands = commands,
            Err(error) => return self.stop_run(id, StopReason::Failed(error)),
        }
        let known_task = self.procs.keys().any(|k| k.starts_with(&format!("task:{uid}:{attempt}:")));
        let needs_prep =
            !prepared.plan.job_preparation.is_empty() || prepared.mount_commands.iter().any(|c| !c.is_empty());
        let prefixes = [format!("prep:{uid}:{attempt}:"), format!("task:{uid}:{attempt}:")];
        let earlier: Vec<String> =
            self.procs.keys().filter(|k| prefixes.iter().any(|p| k.starts_with(p))).cloned().collect();
        let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("checked above");
        // Keys a previous agent started belong to this run too: acknowledged at its end.
        run.keys.extend(earlier);
        run.temp_dirs = prepared.temp_dirs.clone();
        run.phase = if needs_prep && !known_task { Phase::Preparation } else { Phase::Tasks };
        let phase = run.phase;
        run.plan = Some(prepared.plan.clone());
        run.prepared = Some(prepared.clone());
        let launches = match phase {
            Phase::Preparation => self.prep_launches(id, &prepared),
            Phase::Tasks => self.task_launches(id, &prepared.plan),
        };
        self.spawn_all(id, launches);
        self.replay_exits(id);
    }

    /// Feed exits the supervisor reported before this run was rebuilt (after a restart).
    fn replay_exits(&mut self, id: i64) {
        let Some(run) = self.jobs.get(&id).and_then(|e| e.run.as_ref()) else { return };
        let exited: Vec<(String, Exit)> = run
            .pending
            .iter()
            .filter_map(|k| match self.procs.get(k) {
                Some(Proc::Exited(exit)) => Some((k.clone(), exit.clone())),
                _ => None,
            })
            .collect();
        for (key, exit) in exited {
            self.on_exit(&key, &exit);
        }
    }

    fn spawn_all(&mut self, id: i64, launches: Vec<Launch>) {
        for launch in launches {
            let key = launch.key.clone();
            if let Some(run) = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()) {
                run.keys.insert(key.clone());
                run.pending.insert(key.clone());
            }
            // A key the supervisor already has (running or exited) is not started again.
            if self.procs.contains_key(&key) {
                continue;
            }
            let request = self.launcher.request(launch);
            self.procs.insert(key, Proc::Starting);
            self.send(&ToSupervisor::Spawn(request));
        }
    }

    fn task_launches(&self, id: i64, plan: &LaunchPlan) -> Vec<Launch> {
        let entry = &self.jobs[&id];
        let run = entry.run.as_ref().expect("running");
        plan.processes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.launch(
                    entry.job.uid.as_str(),
                    run,
                    plan,
                    p,
                    format!("task:{}:{}:{i}", entry.job.uid, run.attempt),
                    None,
                )
            })
            .collect()
    }

    fn prep_launches(&self, id: i64, prepared: &Prepared) -> Vec<Launch> {
        let entry = &self.jobs[&id];
        let run = entry.run.as_ref().expect("running");
        let plan = &prepared.plan;
        (0..run.nodes.len())
            .map(|node| {
                let key = format!("prep:{}:{}:{node}", entry.job.uid, run.attempt);
                let mounts = prepared.mount_commands.get(node).filter(|c| !c.is_empty()).cloned();
                match plan.job_preparation.iter().find(|p| p.node == node) {
                    Some(p) => self.launch(&entry.job.uid, run, plan, p, key, mounts),
                    None => {
                        // Only mount commands to run: on the node, with its first process's view.
                        let base = plan.processes.iter().find(|p| p.node == node).unwrap_or(plan.primary());
                        let mut launch = self.launch(&entry.job.uid, run, plan, base, key, mounts);
                        launch.stdout = launch.stdout.with_file_name(format!("stdout-job_prep{}.txt", suffix(node)));
                        launch.stderr = launch.stderr.with_file_name(format!("stderr-job_prep{}.txt", suffix(node)));
                        launch.program = Program::Shell("true".into());
                        if let Some(commands) = prepared.mount_commands.get(node) {
                            launch.program = Program::Shell(commands.clone());
                        }
                        launch
                    }
                }
            })
            .collect()
    }

    /// One process of the plan as a launch; `mounts` (shell lines) run first when given.
    fn launch(
        &self,
        uid: &str,
        run: &Run,
        plan: &LaunchPlan,
        process: &toolkits::ProcessPlan,
        key: String,
        mounts: Option<String>,
    ) -> Launch {
        let node = &self.nodes.get(&run.nodes[process.node]);
        let stdouterr = plan.processes[0].env.get("AZ_BATCHAI_STDOUTERR_DIR").map(PathBuf::from).unwrap_or_default();
        let program = match mounts {
            Some(commands) => Program::Shell(format!("{commands}\n{}", process.program.shell_line())),
            None => process.program.clone(),
        };
        Launch {
            key,
            program,
            env: plan.environment(process).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            cwd: workdirs::job_temp(&self.layout, &run.nodes[process.node]),
            stdout: stdouterr.join(&process.stdout),
            stderr: stdouterr.join(&process.stderr),
            cpus: node.map(|n| n.cpus.clone()).unwrap_or_default(),
            marker: uid.to_string(),
            append: false,
            // stdouterr and the output directories: made by the supervisor, beside the agent.
            make_dirs: run.prepared.as_ref().map(|p| p.dirs.clone()).unwrap_or_default(),
        }
    }

    /// Paths and the plan for running the job on `node_names`. No file system changes: this runs
    /// before the run is committed.
    fn plan_run(&mut self, id: i64, node_names: &[String]) -> Result<Prepared, ErrorInfo> {
        let job = self.jobs[&id].job.clone();
        let spec = &job.spec;
        let single = node_names.len() == 1;
        let mut placed = Vec::new();
        for name in node_names {
            let node =
                self.nodes.get(name).ok_or_else(|| ErrorInfo::new("NodeNotFound", format!("node {name} is gone")))?;
            let temp = workdirs::job_temp(&self.layout, name);
            placed.push(PlacedNode {
                id: name.clone(),
                address: "127.0.0.1".into(),
                gpus: node.gpus.iter().map(u32::to_string).collect(),
                cpus: node.cpus.len() as u32,
                paths: NodePaths {
                    mount_root: workdirs::node_mount_root(&self.layout, name).display().to_string(),
                    job_mount_root: temp.join("mounts").display().to_string(),
                    job_temp: temp.display().to_string(),
                    job_temp_root: workdirs::job_temp_root(&self.layout, name).display().to_string(),
                },
            });
        }
        // A one-node job's only node is all of its nodes: its job temp is shared by all of them.
        let (shared, host_file) = if single {
            (PathBuf::from(&placed[0].paths.job_temp), workdirs::node_host_file(&self.layout, &node_names[0]))
        } else {
            let shared = workdirs::shared_job_temp(&self.layout, &job.uid);
            (shared.clone(), shared.join("hostfile"))
        };
        // Paths may name the job's own variables (`$AZ_BATCHAI_JOB_MOUNT_ROOT/afs`): expand them
        // as the master node sees them, with the user's variables too.
        let master = &placed[0].paths;
        let mut vars: HashMap<String, String> = HashMap::new();
        for (suffix, value) in [
            ("MOUNT_ROOT", &master.mount_root),
            ("JOB_MOUNT_ROOT", &master.job_mount_root),
            ("JOB_TEMP", &master.job_temp),
            ("JOB_TEMP_DIR", &master.job_temp_root),
            ("SHARED_JOB_TEMP", &shared.display().to_string()),
        ] {
            vars.insert(format!("AZ_BATCHAI_{suffix}"), value.clone());
            vars.insert(format!("BATCHAI_{suffix}"), value.clone());
        }
        for var in &spec.environment_variables {
            vars.entry(var.name.clone()).or_insert_with(|| var.value.clone());
        }
        let inputs: Vec<DirectoryPath> = spec
            .input_directories
            .iter()
            .map(|d| DirectoryPath::new(&d.id, workdirs::expand(&d.path, &vars)))
            .collect();
        let prefix =
            spec.std_out_err_path_prefix.clone().unwrap_or_else(|| self.layout.outputs().display().to_string());
        let stdouterr = PathBuf::from(workdirs::expand(&prefix, &vars)).join(&job.output_segment).join("stdouterr");
        let mut outputs = Vec::new();
        for dir in &spec.output_directories {
            let mut path = PathBuf::from(workdirs::expand(&dir.path_prefix, &vars)).join(&job.output_segment);
            if let Some(suffix) = &dir.path_suffix {
                path.push(suffix);
            }
            outputs.push(DirectoryPath::new(&dir.id, path.display().to_string()));
        }
        let paths = JobPaths {
            shared_job_temp: shared.display().to_string(),
            stdouterr: stdouterr.display().to_string(),
            mpi_host_file: host_file.display().to_string(),
            inputs,
            outputs,
        };
        let secrets: Vec<(String, SecretValue)> = if spec.secrets.is_empty() {
            Vec::new()
        } else {
            self.store
                .job_secrets(id)
                .map_err(|e| ErrorInfo::new("SecretsUnavailable", e.to_string()))?
                .into_iter()
                .filter(|(kind, _, _)| kind == "env")
                .map(|(_, name, value)| (name, SecretValue::new(value)))
                .collect()
        };
        let identity = JobIdentity {
            workspace: self.workspace.clone(),
            experiment: job.experiment.clone(),
            name: job.name.clone(),
            uid: job.uid.clone(),
            output_path_segment: job.output_segment.clone(),
        };
        let ports = job_ports(&job.uid, toolkits::ports_needed(spec).unwrap_or(0));
        let request = LaunchRequest {
            spec,
            identity: &identity,
            nodes: &placed,
            paths: &paths,
            ports: &ports,
            python: &self.options.python,
            mpirun: self.launcher.mpirun(),
            secrets: &secrets,
        };
        let plan = toolkits::plan(&request).map_err(|e| ErrorInfo::new("LaunchPlanFailed", e.to_string()))?;
        let mut recorded: std::collections::BTreeMap<String, String> =
            paths.outputs.iter().map(|d| (d.id.clone(), d.path.clone())).collect();
        recorded.insert(crate::engine::model::job::STDOUTERR_ID.to_string(), paths.stdouterr.clone());
        let mut dirs = vec![stdouterr];
        dirs.extend(paths.outputs.iter().map(|d| PathBuf::from(&d.path)));
        let job_mount_roots = match &spec.mount_volumes {
            Some(volumes) if !volumes.is_empty() => {
                placed.iter().map(|n| PathBuf::from(&n.paths.job_mount_root)).collect()
            }
            _ => Vec::new(),
        };
        Ok(Prepared {
            plan,
            mount_commands: Vec::new(),
            outputs: recorded,
            dirs,
            job_temps: placed.iter().map(|n| PathBuf::from(&n.paths.job_temp)).collect(),
            job_mount_roots,
            host_file,
            temp_dirs: if single { Vec::new() } else { vec![shared] },
        })
    }

    /// Make what the plan needs on disk: wiped job temps (fresh starts only), volumes, output
    /// folders, the host file. Fills in the unmanaged mount commands to run first.
    fn materialize(&mut self, id: i64, prepared: &Prepared, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
        let failed =
            |code: &str, what: &Path, e: std::io::Error| ErrorInfo::new(code, format!("{}: {e}", what.display()));
        for temp in &prepared.job_temps {
            if fresh {
                workdirs::empty_dir(temp);
            }
            std::fs::create_dir_all(temp).map_err(|e| failed("JobPreparationFailed", temp, e))?;
        }
        for dir in &prepared.temp_dirs {
            std::fs::create_dir_all(dir).map_err(|e| failed("JobPreparationFailed", dir, e))?;
        }
        // Volumes before outputs: output paths often go through them.
        let mut mount_commands = Vec::new();
        if !prepared.job_mount_roots.is_empty() {
            let volumes = self.jobs[&id].job.spec.mount_volumes.clone().unwrap_or_default();
            let servers = self.file_server_folders();
            let targets = MountTargets { layout: &self.layout, file_servers: &servers };
            for root in &prepared.job_mount_roots {
                let commands = targets.mount(&volumes, root).map_err(|e| ErrorInfo::new(e.code, e.message))?;
                mount_commands.push(commands.iter().map(|c| format!("{c} || exit $?")).collect::<Vec<_>>().join("\n"));
            }
        }
        // A node's host file often stays the same from job to job: write it only when it changes.
        if self.host_files.get(&prepared.host_file) != Some(&prepared.plan.host_file) {
            std::fs::write(&prepared.host_file, &prepared.plan.host_file)
                .map_err(|e| failed("JobPreparationFailed", &prepared.host_file, e))?;
            self.host_files.insert(prepared.host_file.clone(), prepared.plan.host_file.clone());
        }
        Ok(mount_commands)
    }

    /// A process of a job ended.
    pub(super) fn job_process_exited(&mut self, key: &str, exit: &Exit) {
        let Some((kind, uid, attempt, index)) = parse_key(key) else { return };
        let current = self.by_uid.get(uid).copied().filter(|id| {
            self.jobs[id].run.as_ref().is_some_and(|run| run.attempt == attempt && run.pending.contains(key))
        });
        let Some(id) = current else {
            // A process of an attempt that is over (or of a deleted job): nothing to decide.
            self.actions.push(Action::Ack(key.to_string()));
            return;
        };
        let code = exit.exit_code();
        let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("checked above");
        run.pending.remove(key);
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
                if run.outcome.is_none()
                    && let Some(job_code) = run.plan.as_ref().and_then(|p| p.job_exit(index, code))
                {
                    run.outcome = Some(job_code);
                    if !run.pending.is_empty() {
                        // The job is decided; what still runs (parameter servers) is stopped.
                        self.signal_run(id, libc::SIGTERM);
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

    /// Stop a job. The first reason is kept (a terminate that arrives while the job is already
    /// stopping for its wall clock does not change why it ended), except that deletion wins.
    pub(super) fn stop_run(&mut self, id: i64, reason: StopReason) {
        let Some(entry) = self.jobs.get_mut(&id) else { return };
        let Some(run) = entry.run.as_mut() else {
            return match reason {
                StopReason::Requeue => {}
                StopReason::Deleted => self.job_ended(id, ExecutionState::Failed),
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
    fn signal_run(&mut self, id: i64, signal: i32) {
        let Some(entry) = self.jobs.get_mut(&id) else { return };
        let uid = entry.job.uid.clone();
        let Some(run) = entry.run.as_mut() else { return };
        if signal == libc::SIGTERM && run.kill_at.is_none() {
            run.kill_at = Some(Instant::now() + self.grace);
        }
        let keys: Vec<String> = run.pending.iter().cloned().collect();
        for (i, key) in keys.into_iter().enumerate() {
            let marker = (i == 0).then(|| uid.clone());
            self.actions.push(Action::Signal { key, signal, marker });
        }
    }

    /// Wall-clock limits and kill escalation.
    pub(super) fn check_deadlines(&mut self, now: Instant) {
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
    fn maybe_finish(&mut self, id: i64) {
        let Some(run) = self.jobs.get(&id).and_then(|e| e.run.as_ref()) else { return };
        if !run.pending.is_empty() || (run.outcome.is_none() && run.stop.is_none()) {
            return;
        }
        let entry = self.jobs.get_mut(&id).expect("present");
        let run = entry.run.take().expect("present");
        self.running.remove(&id);
        for name in &run.nodes {
            if let Some(node) = self.nodes.get_mut(name)
                && node.job == Some(id)
            {
                node.job = None;
                if node.state == NodeState::Running {
                    node.state = NodeState::Idle;
                    self.changes.push(Change::NodeState { name: name.clone(), state: NodeState::Idle, job: None });
                } else {
                    self.changes.push(Change::NodeState { name: name.clone(), state: node.state, job: None });
                }
            }
        }
        for key in &run.keys {
            self.actions.push(Action::Ack(key.clone()));
        }
        for dir in run.temp_dirs {
            self.actions.push(Action::Cleanup(dir));
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
            Some(StopReason::Deleted) => return self.job_ended(id, ExecutionState::Failed),
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
            None => (
                ExecutionState::Failed,
                vec![
                    ErrorInfo::new("JobFailed", "Job failed with non-zero exit code")
                        .with_detail("exitCode", code.unwrap_or(-1).to_string()),
                ],
            ),
        };
        self.changes.push(Change::JobFinished {
            id,
            succeeded: state == ExecutionState::Succeeded,
            exit_code: code,
            errors,
        });
        self.job_ended(id, state);
    }

    pub(super) fn terminate_requested(&mut self, id: i64) {
        self.stop_run(id, StopReason::Terminated);
    }

    pub(super) fn job_deleted(&mut self, id: i64) {
        self.stop_run(id, StopReason::Deleted);
    }

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
            if job.state == ExecutionState::Terminating {
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
    }

    fn key_in_use(&self, key: &str) -> bool {
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

fn suffix(node: usize) -> String {
    if node == 0 { String::new() } else { format!("-{node}") }
}

#[derive(Clone)]
pub(crate) struct Prepared {
    plan: LaunchPlan,
    /// Per node: the unmanaged mount commands to run before anything else (may be empty).
    mount_commands: Vec<String>,
    /// Output folders by id, `stdouterr` included: recorded with the run.
    outputs: std::collections::BTreeMap<String, String>,
    /// Folders every process needs: stdouterr and the output directories. The supervisor makes
    /// them before it starts a process (see `SpawnRequest::make_dirs`).
    dirs: Vec<PathBuf>,
    job_temps: Vec<PathBuf>,
    job_mount_roots: Vec<PathBuf>,
    host_file: PathBuf,
    temp_dirs: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ports_are_stable() {
        let (kind, uid, attempt, index) = parse_key("task:abc:2:7").unwrap();
        assert!(matches!(kind, KeyKind::Task));
        assert_eq!((uid, attempt, index), ("abc", 2, 7));
        assert!(parse_key("setup:node-1").is_none());
        assert!(parse_key("task:abc:x:1").is_none());
        assert_eq!(job_ports("abc", 3), job_ports("abc", 3));
        assert_eq!(job_ports("abc", 3).len(), 3);
        assert!(job_ports("abc", 1)[0] >= 20_000);
    }
}
