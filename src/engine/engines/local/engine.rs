//! The local engine behind the [`Engine`] trait: nodes are slices of this machine, folders under
//! the workspace, and processes run under the workspace's supervisor.
//!
//! Effects become messages to the supervisor, queued in an [`Outbox`] that the agent's shell
//! writes to the supervisor's socket after each turn; the supervisor's messages come back to the
//! core as [`EngineEvent`]s (see [`event_from_supervisor`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::launch::Launcher;
use super::machine::{detect_machine, slice_policy};
use super::workdirs::{self, MountTargets};
use crate::engine::engines::{Engine, EngineEvent, Launch, NodePreparation, NodeSite, RunFiles};
use crate::engine::launcher::protocol::{FromSupervisor, ToSupervisor, write_line};
use crate::engine::model::cluster::NodeShape;
use crate::engine::model::mounts::MountVolumes;
use crate::engine::model::{EngineKind, ErrorInfo};
use crate::engine::paths::Layout;
use crate::engine::scheduler::slices::{Machine, Slice, allocate_slice};
use crate::engine::toolkits::{Mpirun, NodePaths, Program};

/// Messages for the supervisor, written by the shell after each turn.
#[derive(Clone, Default)]
pub struct Outbox(Rc<RefCell<Vec<u8>>>);

impl Outbox {
    pub fn push(&self, message: &ToSupervisor) {
        write_line(&mut *self.0.borrow_mut(), message).expect("writing to a Vec cannot fail");
    }

    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// A supervisor message as the core hears it. `fresh`: this agent started the supervisor.
pub fn event_from_supervisor(message: FromSupervisor, fresh: bool) -> EngineEvent {
    match message {
        FromSupervisor::Hello { running, exited, containment, instance, .. } => EngineEvent::Hello {
            fresh,
            running: running.into_iter().map(|r| r.key).collect(),
            exited,
            containment,
            instance,
        },
        FromSupervisor::Spawned { key, .. } => EngineEvent::Spawned { key },
        FromSupervisor::SpawnFailed { key, error } => EngineEvent::SpawnFailed { key, error },
        FromSupervisor::Exited(exit) => EngineEvent::Exited(exit),
        FromSupervisor::Reaped { marker } => EngineEvent::Reaped { marker },
    }
}

pub struct LocalEngine {
    layout: Layout,
    launcher: Launcher,
    machine: Machine,
    outbox: Outbox,
    /// What each host file holds, so an unchanged one is not written again.
    host_files: HashMap<PathBuf, String>,
    /// Job temps whose mounts were looked for since this engine started.
    mount_table_read: std::collections::HashSet<PathBuf>,
    /// Job temps where a run mounted unmanaged file systems: unmounted before the next run.
    mounting_temps: std::collections::HashSet<PathBuf>,
}

impl LocalEngine {
    /// For the agent: this machine, this process's environment.
    pub fn new(layout: Layout, outbox: Outbox) -> LocalEngine {
        LocalEngine::with_machine(layout, outbox, detect_machine())
    }

    pub fn with_machine(layout: Layout, outbox: Outbox, machine: Machine) -> LocalEngine {
        LocalEngine {
            layout,
            launcher: Launcher::from_environment(),
            machine,
            outbox,
            host_files: HashMap::new(),
            mount_table_read: Default::default(),
            mounting_temps: Default::default(),
        }
    }

    pub fn machine(&self) -> &Machine {
        &self.machine
    }
}

impl Engine for LocalEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Local
    }

    fn provide_node(&self, shape: &NodeShape, live: &[Slice]) -> Result<Slice, String> {
        allocate_slice(&self.machine, live, shape, slice_policy()).map_err(|no_fit| no_fit.to_string())
    }

    fn cpus(&self) -> Vec<u32> {
        self.machine.cpus.clone()
    }

    fn gpus(&self) -> Vec<u32> {
        self.machine.gpus.clone()
    }

    fn gpu_names(&self, gpus: &[u32]) -> Vec<String> {
        self.machine.visible_gpus(gpus)
    }

    fn node_site(&self, node: &str) -> NodeSite {
        let temp = workdirs::job_temp(&self.layout, node);
        NodeSite {
            address: "127.0.0.1".into(),
            paths: NodePaths {
                mount_root: workdirs::node_mount_root(&self.layout, node).display().to_string(),
                job_mount_root: temp.join("mounts").display().to_string(),
                job_temp: temp.display().to_string(),
                job_temp_root: workdirs::job_temp_root(&self.layout, node).display().to_string(),
            },
            host_file: workdirs::node_host_file(&self.layout, node),
            root: workdirs::node_root(&self.layout, node),
        }
    }

    fn node_env(&self, node: &str, gpus: &[u32]) -> Vec<(String, String)> {
        super::node_env::node_env(&self.layout, node, &self.machine.visible_gpus(gpus))
    }

    fn shared_job_temp(&self, uid: &str) -> PathBuf {
        workdirs::shared_job_temp(&self.layout, uid)
    }

    fn default_output_root(&self) -> PathBuf {
        self.layout.outputs()
    }

    fn real_path(
        &self,
        prefix: &Path,
        tail: &Path,
        mounted: &[(PathBuf, &MountVolumes)],
        file_servers: &HashMap<String, String>,
    ) -> PathBuf {
        super::real_paths::real_path(&self.layout, prefix, tail, mounted, file_servers)
    }

    fn mpirun(&self) -> Option<&Mpirun> {
        self.launcher.mpirun()
    }

    fn prepare_node(&mut self, request: NodePreparation<'_>) -> Result<bool, ErrorInfo> {
        let name = request.node;
        let mount_root = workdirs::node_mount_root(&self.layout, name);
        let failed = |path: &Path, e: std::io::Error| {
            ErrorInfo::new("NodePreparationFailed", format!("{}: {e}", path.display()))
        };
        std::fs::create_dir_all(&mount_root).map_err(|e| failed(&mount_root, e))?;
        let temp = workdirs::job_temp(&self.layout, name);
        std::fs::create_dir_all(&temp).map_err(|e| failed(&temp, e))?;
        let mut commands = Vec::new();
        if let Some(volumes) = &request.setup.mount_volumes {
            let targets = MountTargets { layout: &self.layout, file_servers: request.file_servers };
            commands = targets.mount(volumes, &mount_root).map_err(|e| ErrorInfo::new(e.code, e.message))?;
        }
        let task = request.setup.setup_task.as_ref();
        if commands.is_empty() && task.is_none() {
            return Ok(false);
        }
        // Mount commands first, then the setup task: one script, so the node is ready when it ends.
        let mut script: Vec<String> = commands.iter().map(|c| format!("{c} || exit $?")).collect();
        if let Some(task) = task {
            script.push(task.command_line.clone());
        }
        let prefix = task
            .and_then(|t| t.std_out_err_path_prefix.clone())
            .unwrap_or_else(|| self.layout.outputs().display().to_string());
        let mut vars: HashMap<String, String> = self.node_env(name, request.gpus).into_iter().collect();
        let output = PathBuf::from(workdirs::expand(&prefix, &vars))
            .join(format!("{}/clusters/{}/{}", request.workspace, request.cluster, request.cluster_uid));
        std::fs::create_dir_all(&output).map_err(|e| failed(&output, e))?;
        vars.insert("AZ_BATCHAI_STDOUTERR_DIR".into(), output.display().to_string());
        vars.insert("BATCHAI_STDOUTERR_DIR".into(), output.display().to_string());
        let mut env: Vec<(String, String)> = vars.into_iter().collect();
        env.sort();
        if let Some(task) = task {
            env.extend(task.environment_variables.iter().map(|v| (v.name.clone(), v.value.clone())));
        }
        env.extend(request.secrets);
        self.start(Launch {
            key: format!("setup:{name}"),
            program: Program::Shell(script.join("\n")),
            env,
            cwd: workdirs::node_root(&self.layout, name),
            stdout: output.join(format!("stdout-{name}.txt")),
            stderr: output.join(format!("stderr-{name}.txt")),
            cpus: request.cpus.to_vec(),
            marker: format!("setup-{name}"),
            append: true,
            make_dirs: Vec::new(),
            node: 0,
        });
        Ok(true)
    }

    fn release_node(&mut self, node: &str) {
        // A node leaves with whatever runs on it for itself: its setup task, and all it started.
        self.signal(&format!("setup:{node}"), libc::SIGKILL, Some(&format!("setup-{node}")));
        self.reap(&format!("setup-{node}"));
        let root = workdirs::node_root(&self.layout, node);
        // Unmanaged file systems were mounted under the node's folder by their own commands.
        for (path, error) in super::unmount::unmount_under(&root) {
            tracing::warn!("node {node}: cannot unmount {}: {error}; its files are kept", path.display());
        }
        workdirs::remove_tree(&root);
    }

    fn prepare_run(&mut self, files: RunFiles<'_>, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
        let failed =
            |what: &Path, e: std::io::Error| ErrorInfo::new("JobPreparationFailed", format!("{}: {e}", what.display()));
        for temp in files.job_temps {
            if fresh {
                // The last job's unmanaged file systems, so this job neither sees nor stacks on
                // them. Reading the mount table costs more than the rest of a job's start, so it
                // is read for a job temp once after the agent starts, then only after a job that
                // mounted something there.
                if self.mount_table_read.insert(temp.clone()) || self.mounting_temps.remove(temp) {
                    for (path, error) in super::unmount::unmount_under(temp) {
                        tracing::warn!("cannot unmount {}: {error}; its files are kept", path.display());
                    }
                }
                workdirs::empty_dir(temp);
            }
            std::fs::create_dir_all(temp).map_err(|e| failed(temp, e))?;
        }
        for dir in files.shared_dirs {
            std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
        }
        // Volumes before outputs: output paths often go through them.
        if files.volumes.is_some_and(|v| !v.unmanaged_file_systems.is_empty()) {
            self.mounting_temps.extend(files.job_temps.iter().cloned());
        }
        let mut mount_commands = Vec::new();
        if let Some(volumes) = files.volumes {
            let targets = MountTargets { layout: &self.layout, file_servers: files.file_servers };
            for root in files.job_mount_roots {
                let commands = targets.mount(volumes, root).map_err(|e| ErrorInfo::new(e.code, e.message))?;
                mount_commands.push(commands.iter().map(|c| format!("{c} || exit $?")).collect::<Vec<_>>().join("\n"));
            }
        }
        // A node's host file often stays the same from job to job: write it only when it changes.
        if self.host_files.get(files.host_file).map(String::as_str) != Some(files.host_file_text) {
            std::fs::write(files.host_file, files.host_file_text).map_err(|e| failed(files.host_file, e))?;
            self.host_files.insert(files.host_file.to_path_buf(), files.host_file_text.to_string());
        }
        Ok(mount_commands)
    }

    fn start(&mut self, launch: Launch) {
        let request = self.launcher.request(launch);
        self.outbox.push(&ToSupervisor::Spawn(request));
    }

    fn signal(&mut self, key: &str, signal: i32, marker: Option<&str>) {
        self.outbox.push(&ToSupervisor::Signal { key: key.to_string(), signal, marker: marker.map(str::to_string) });
    }

    fn reap(&mut self, marker: &str) {
        self.outbox.push(&ToSupervisor::Reap { marker: marker.to_string() });
    }

    fn acknowledge(&mut self, keys: Vec<String>) {
        if !keys.is_empty() {
            self.outbox.push(&ToSupervisor::Ack { keys });
        }
    }

    fn remove_files(&mut self, path: &Path) {
        workdirs::remove_tree(path);
    }
}
