//! What the caller hands the planner: the job, where it was placed, and what was prepared for it.
//!
//! The planner does no I/O, so everything that needs the machine is decided by the caller first:
//! folders created, output paths resolved, a block of free TCP ports reserved (several local
//! nodes share one machine, so Batch AI's fixed port 2222 would collide between jobs), the
//! `mpirun` binary found or not. Ask [`ports_needed`](super::ports_needed) how many ports to
//! reserve before calling [`plan`](fn@super::plan).

use std::fmt;

use crate::engine::model::job::JobSpec;

/// Which job this is; exported as `BATCHAI_WORKSPACE`, `BATCHAI_EXPERIMENT`, `BATCHAI_JOB_NAME`
/// and `BATCHAI_JOB_UID`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobIdentity {
    pub workspace: String,
    pub experiment: String,
    pub name: String,
    pub uid: String,
    /// `jobOutputDirectoryPathSegment`; already part of the resolved output paths.
    pub output_path_segment: String,
}

/// Folders prepared on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePaths {
    /// `AZ_BATCHAI_MOUNT_ROOT`: where cluster-level volumes are mounted.
    pub mount_root: String,
    /// `AZ_BATCHAI_JOB_MOUNT_ROOT`: where job-level volumes are mounted.
    pub job_mount_root: String,
    /// `AZ_BATCHAI_JOB_TEMP`: this job's temp folder on this node.
    pub job_temp: String,
    /// `AZ_BATCHAI_JOB_TEMP_DIR`: the folder holding every job's temp folder on this node.
    pub job_temp_root: String,
}

/// One node of the job, in placement order: the first is the master node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacedNode {
    /// The node's id or name (`BATCHAI_NODE_ID`).
    pub id: String,
    /// How processes reach this node: `127.0.0.1` for nodes on this machine. Goes into the MPI
    /// host file, TensorFlow host lists and `MASTER_ADDR`.
    pub address: String,
    /// GPU device ids for `CUDA_VISIBLE_DEVICES` (indexes or `GPU-<uuid>`); empty for none.
    pub gpus: Vec<String>,
    pub cpus: u32,
    /// The CPUs the node's processes are pinned to (its slice of the machine); empty when the
    /// engine does not pin. Ranks that `mpirun` starts are pinned to these by the rank shim.
    pub cpu_set: Vec<u32>,
    pub paths: NodePaths,
}

/// A resolved `inputDirectories` / `outputDirectories` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPath {
    pub id: String,
    pub path: String,
}

impl DirectoryPath {
    pub fn new(id: impl Into<String>, path: impl Into<String>) -> Self {
        DirectoryPath { id: id.into(), path: path.into() }
    }
}

/// Folders and files prepared for the whole job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPaths {
    /// `AZ_BATCHAI_SHARED_JOB_TEMP`: seen by every node of the job; rendezvous files go here.
    pub shared_job_temp: String,
    /// `AZ_BATCHAI_STDOUTERR_DIR`: where the file names of the plan are created.
    pub stdouterr: String,
    /// `AZ_BATCHAI_MPI_HOST_FILE`: where the caller writes `LaunchPlan::host_file`.
    pub mpi_host_file: String,
    /// One per `inputDirectories` id (`AZ_BATCHAI_INPUT_<id>`), references already expanded.
    pub inputs: Vec<DirectoryPath>,
    /// One per `outputDirectories` id (`AZ_BATCHAI_OUTPUT_<id>`), with the path segment.
    pub outputs: Vec<DirectoryPath>,
}

/// An `mpirun` the caller found (Open MPI's command-line flags are assumed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpirun {
    /// Absolute path, or a name to look up on PATH.
    pub path: String,
    /// The job runs as root: Open MPI refuses that without `--allow-run-as-root`.
    pub as_root: bool,
}

/// A secret's value. `Debug` prints a mask, so neither the request nor the plan can leak it into
/// a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }

    /// The value itself, for the process environment only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<secret>\"")
    }
}

/// Everything [`plan`](fn@super::plan) needs.
#[derive(Debug, Clone, Copy)]
pub struct LaunchRequest<'a> {
    pub spec: &'a JobSpec,
    pub identity: &'a JobIdentity,
    /// The job's nodes; as many as `spec.node_count`.
    pub nodes: &'a [PlacedNode],
    pub paths: &'a JobPaths,
    /// Free TCP ports reserved for this job, at least [`ports_needed`](super::ports_needed).
    pub ports: &'a [u16],
    /// The interpreter used when the settings give no `pythonInterpreterPath`.
    pub python: &'a str,
    /// `None` when no `mpirun` is available: MPI toolkits with several ranks then cannot run.
    pub mpirun: Option<&'a Mpirun>,
    /// Values of the job's `secrets`, by name. A secret missing here falls back to the value in
    /// the spec, if it still has one.
    pub secrets: &'a [(String, SecretValue)],
}
