//! Preparing a run: its paths and launch plan are computed before the run is committed (no file
//! system changes, so the commit records where the output will go), then made on disk after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Core;
use crate::engine::engines::RunFiles;
use crate::engine::engines::local::workdirs;
use crate::engine::model::ErrorInfo;
use crate::engine::model::JobSpec;
use crate::engine::model::mounts::MountVolumes;
use crate::engine::toolkits::{
    self, DirectoryPath, JobIdentity, JobPaths, LaunchPlan, LaunchRequest, PlacedNode, SecretValue,
};

impl Core {
    /// Load the spec of a job that is about to run (queue entries are kept without it).
    pub(super) fn load_detail(&mut self, id: i64) -> Result<(), ErrorInfo> {
        let Some(entry) = self.jobs.get(&id) else { return Err(ErrorInfo::new("JobNotFound", "the job was deleted")) };
        if entry.job.detail.is_some() {
            return Ok(());
        }
        let detail = self
            .store
            .job_detail(id)
            .map_err(|e| ErrorInfo::new("JobUnreadable", e.to_string()))?
            .ok_or_else(|| ErrorInfo::new("JobNotFound", "the job was deleted"))?;
        self.jobs.get_mut(&id).expect("checked").job.detail = Some(Box::new(detail));
        Ok(())
    }

    /// Paths and the plan for running the job on `node_names`. No file system changes: this runs
    /// before the run is committed.
    pub(super) fn plan_run(&mut self, id: i64, node_names: &[String]) -> Result<Prepared, ErrorInfo> {
        let entry = &self.jobs[&id];
        let uid = entry.job.uid.to_string();
        let detail = entry.job.detail.clone().ok_or_else(|| ErrorInfo::new("JobNotFound", "the job was deleted"))?;
        let spec = &detail.spec;
        let kind = self.job_engine(id);
        let (cluster_volumes, file_servers) = self.volumes_for_paths(id, spec);
        let engine = self.engines.get(kind).ok_or_else(|| engine_missing(kind))?;
        let single = node_names.len() == 1;
        let mut placed = Vec::new();
        let mut sites = Vec::new();
        for name in node_names {
            let node =
                self.nodes.get(name).ok_or_else(|| ErrorInfo::new("NodeNotFound", format!("node {name} is gone")))?;
            let site = engine.node_site(name);
            placed.push(PlacedNode {
                id: name.clone(),
                address: site.address.clone(),
                gpus: engine.gpu_names(&node.gpus),
                cpus: node.cpus.len() as u32,
                cpu_set: node.cpus.clone(),
                paths: site.paths.clone(),
            });
            sites.push(site);
        }
        // A one-node job's only node is all of its nodes: its job temp is shared by all of them.
        let (shared, host_file) = if single {
            (PathBuf::from(&placed[0].paths.job_temp), sites[0].host_file.clone())
        } else {
            let shared = engine.shared_job_temp(&uid);
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
        // Output paths are recorded with the run and read long after it: resolve them to where
        // the files really are (see `output_root`).
        let mut mounted: Vec<(PathBuf, &MountVolumes)> = Vec::new();
        if let Some(volumes) = spec.mount_volumes.as_ref() {
            mounted.push((PathBuf::from(&master.job_mount_root), volumes));
        }
        if let Some(volumes) = cluster_volumes.as_ref() {
            mounted.push((PathBuf::from(&master.mount_root), volumes));
        }
        let root = |prefix: &str, tail: &Path| {
            let prefix = output_root(&workdirs::expand(prefix, &vars), &engine.default_output_root());
            engine.real_path(&prefix, tail, &mounted, &file_servers)
        };
        let prefix =
            spec.std_out_err_path_prefix.clone().unwrap_or_else(|| engine.default_output_root().display().to_string());
        let stdouterr = root(&prefix, &Path::new(&detail.output_segment).join("stdouterr"));
        let mut outputs = Vec::new();
        for dir in &spec.output_directories {
            let mut tail = PathBuf::from(&detail.output_segment);
            if let Some(suffix) = &dir.path_suffix {
                tail.push(suffix);
            }
            outputs.push(DirectoryPath::new(&dir.id, root(&dir.path_prefix, &tail).display().to_string()));
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
            experiment: detail.experiment.clone(),
            name: detail.name.clone(),
            uid: uid.clone(),
            output_path_segment: detail.output_segment.clone(),
        };
        let ports = job_ports(&uid, toolkits::ports_needed(spec).unwrap_or(0));
        let request = LaunchRequest {
            spec,
            identity: &identity,
            nodes: &placed,
            paths: &paths,
            ports: &ports,
            // The submitter's interpreter, recorded at create; the agent's for older jobs.
            python: spec.python_interpreter_path.as_deref().unwrap_or(&self.options.python),
            mpirun: engine.mpirun(),
            secrets: &secrets,
        };
        let plan = toolkits::plan(&request).map_err(|e| match e {
            // On Slurm the question is not this machine's PATH: ranks across an allocation would
            // need mpirun to start through Slurm, which this version does not do.
            toolkits::PlanError::MpirunNotFound { settings, ranks }
                if kind == crate::engine::model::EngineKind::Slurm =>
            {
                ErrorInfo::new(
                    e.code(),
                    format!(
                        "{settings} runs its {ranks} ranks under mpirun, which jobs on Slurm clusters do not run yet: \
                         use a local cluster, set processCount to 1, or rendezvous without MPI (PyTorch's gloo or \
                         nccl backend over MASTER_ADDR/MASTER_PORT, TensorFlow's TF_CONFIG)"
                    ),
                )
            }
            e => ErrorInfo::new(e.code(), e.to_string()),
        })?;
        let mut recorded: std::collections::BTreeMap<String, String> =
            paths.outputs.iter().map(|d| (d.id.clone(), d.path.clone())).collect();
        recorded.insert(crate::engine::model::job::STDOUTERR_ID.to_string(), paths.stdouterr.clone());
        let mut dirs = vec![crate::engine::metrics::metrics_dir(&stdouterr), stdouterr];
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

    /// Make what the plan needs on the nodes (through the job's engine): wiped job temps (fresh
    /// starts only), volumes, output folders, the host file. Returns the unmanaged mount
    /// commands to run first.
    pub(super) fn materialize(&mut self, id: i64, prepared: &Prepared, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
        let volumes = if prepared.job_mount_roots.is_empty() {
            None
        } else {
            self.jobs[&id].job.detail.as_ref().and_then(|d| d.spec.mount_volumes.clone())
        };
        let servers = if volumes.is_some() { self.file_server_folders() } else { HashMap::new() };
        let kind = self.job_engine(id);
        let engine = self.engines.get_mut(kind).ok_or_else(|| engine_missing(kind))?;
        engine.prepare_run(
            RunFiles {
                job_temps: &prepared.job_temps,
                shared_dirs: &prepared.temp_dirs,
                job_mount_roots: &prepared.job_mount_roots,
                volumes: volumes.as_ref(),
                file_servers: &servers,
                host_file: &prepared.host_file,
                host_file_text: &prepared.plan.host_file,
            },
            fresh,
        )
    }
}

impl Core {
    /// What output paths may go through: the volumes of the job's cluster (mounted on every
    /// node) and the file servers' folders. Read only when a job or its cluster has volumes.
    fn volumes_for_paths(&mut self, id: i64, spec: &JobSpec) -> (Option<MountVolumes>, HashMap<String, String>) {
        let cluster = self.jobs.get(&id).and_then(|e| self.cluster_by_name(&e.job.cluster));
        let volumes = cluster.and_then(|c| c.spec.node_setup.as_ref()).and_then(|s| s.mount_volumes.clone());
        let servers =
            if volumes.is_some() || spec.mount_volumes.is_some() { self.file_server_folders() } else { HashMap::new() };
        (volumes, servers)
    }
}

/// The folder an expanded output prefix names. A relative prefix is taken under the workspace's
/// outputs folder (`default`): a job's working directory is its node's job temp, which the
/// node's next job wipes, so output kept there would vanish.
fn output_root(expanded: &str, default: &Path) -> PathBuf {
    let path = PathBuf::from(expanded);
    if path.is_relative() { default.join(path) } else { path }
}

/// A cluster names an engine this agent does not have.
pub(super) fn engine_missing(kind: crate::engine::model::EngineKind) -> ErrorInfo {
    let name = serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    ErrorInfo::new("EngineUnavailable", format!("the '{name}' engine is not available to this agent"))
}

/// TCP ports for a job: derived from its uid, so a restarted agent plans the same ones.
fn job_ports(uid: &str, count: usize) -> Vec<u16> {
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let base = 20_000 + (hash % 10_000) as u16 * 4;
    (0..count as u16).map(|i| base + i).collect()
}

#[derive(Clone)]
pub(crate) struct Prepared {
    pub(super) plan: LaunchPlan,
    /// Per node: the unmanaged mount commands to run before anything else (may be empty).
    pub(super) mount_commands: Vec<String>,
    /// Output folders by id, `stdouterr` included: recorded with the run.
    pub(super) outputs: std::collections::BTreeMap<String, String>,
    /// Folders every process needs: stdouterr and the output directories. The supervisor makes
    /// them before it starts a process (see `SpawnRequest::make_dirs`).
    pub(super) dirs: Vec<PathBuf>,
    pub(super) job_temps: Vec<PathBuf>,
    pub(super) job_mount_roots: Vec<PathBuf>,
    pub(super) host_file: PathBuf,
    pub(super) temp_dirs: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{job_ports, output_root};

    #[test]
    fn relative_prefixes_go_under_the_outputs_folder() {
        let outputs = Path::new("/ws/outputs");
        assert_eq!(output_root("outs/run", outputs), PathBuf::from("/ws/outputs/outs/run"));
        assert_eq!(output_root("/data/logs", outputs), PathBuf::from("/data/logs"));
    }

    #[test]
    fn ports_are_stable_per_job() {
        assert_eq!(job_ports("abc", 3), job_ports("abc", 3));
        assert_eq!(job_ports("abc", 3).len(), 3);
        assert!(job_ports("abc", 1)[0] >= 20_000);
        assert_ne!(job_ports("abc", 1), job_ports("abd", 1));
    }
}
