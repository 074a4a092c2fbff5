//! The Batch AI resource model (2018-05-01 API), local edition: workspaces, clusters, file
//! servers, experiments and jobs, their validation and the job state machine. Pure data: no I/O.
//!
//! JSON uses Batch AI's camelCase names, so a resource's `to_resource()` reads like the output of
//! `az batchai ... show` and create parameters load from the files `az batchai ... create -f` took.

pub mod azure_json;
pub mod cluster;
pub mod common;
pub mod duration;
pub mod experiment;
pub mod file_server;
pub mod job;
pub mod mounts;
pub mod node;
pub mod parse;
pub mod slurm;
pub mod stored_job;
pub mod sweep;
pub mod toolkits;
pub mod validate;
pub mod workspace;

pub use cluster::{Cluster, ClusterSpec, EngineKind};
pub use common::{ErrorInfo, ProvisioningState, ResourceId, Timestamp};
pub use experiment::Experiment;
pub use file_server::{FileServer, FileServerSpec};
pub use job::{ExecutionState, Job, JobSpec};
pub use node::NodeState;
pub use workspace::Workspace;
