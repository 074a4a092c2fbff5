//! Preparing a run: its paths and launch plan are computed before the run is committed (no file
//! system changes, so the commit records where the output will go), then made on disk after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Core;
use crate::engine::engines::local::workdirs::{self, MountTargets};
use crate::engine::model::ErrorInfo;
use crate::engine::toolkits::{
    self, DirectoryPath, JobIdentity, JobPaths, LaunchPlan, LaunchRequest, NodePaths, PlacedNode, SecretValue,
};

impl Core {
    /// Paths and the plan for running the job on `node_names`. No file system changes: this runs
    /// before the run is committed.
    pub(super) fn plan_run(&mut self, id: i64, node_names: &[String]) -> Result<Prepared, ErrorInfo> {
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
                gpus: self.machine.visible_gpus(&node.gpus),
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
    pub(super) fn materialize(&mut self, id: i64, prepared: &Prepared, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
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
    use super::job_ports;

    #[test]
    fn ports_are_stable_per_job() {
        assert_eq!(job_ports("abc", 3), job_ports("abc", 3));
        assert_eq!(job_ports("abc", 3).len(), 3);
        assert!(job_ports("abc", 1)[0] >= 20_000);
        assert_ne!(job_ports("abc", 1), job_ports("abd", 1));
    }
}
