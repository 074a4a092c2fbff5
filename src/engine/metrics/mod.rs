//! Metrics a job logs: the channel from a training script to the sweep driver and to readers.
//!
//! Theory of operation:
//! - A job's processes append metric points to files in the job's metrics folder (its path is
//!   in `BATCHAI_METRICS_DIR`), one file per process so concurrent ranks never interleave: a
//!   file is never shared, and a line is complete once it ends in `\n`. Files work wherever the
//!   job runs, also on a node that cannot reach the agent (a Slurm node sharing the workspace's
//!   file system); nothing in the job needs a socket.
//! - Readers tail the folder: [`MetricsTail`] remembers how many bytes of each file it consumed
//!   ([`Offsets`], plain serde data so the agent commits them with the points it stored) and
//!   reads only complete lines past them, so a crash between reading and committing reads the
//!   same lines again and nothing is stored twice or lost.
//! - Two more sources are read the same way, by offsets in the same map: MLflow's file store
//!   under the folder (`mlruns/`, see [`mlflow`]: every job's `MLFLOW_TRACKING_URI` points
//!   there) and, for a sweep with a `metric_regex`, the job's primary standard output (see
//!   [`stdout_regex`]).
//! - A point's `step` is what the script gave (if anything). Policies count intervals instead
//!   (each logged value of the objective is one, as in Azure ML), so steps may repeat or be
//!   missing without breaking early termination.

mod jsonl;
pub mod mlflow;
pub mod stdout_regex;
mod tail;

pub use jsonl::parse_line;
pub use stdout_regex::{StdoutRegex, check_metric_regex};
pub use tail::{MetricsTail, Offsets, read_all};

/// The environment variable naming a job's metrics folder.
pub const METRICS_DIR_ENV: &str = "BATCHAI_METRICS_DIR";

/// One logged value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricPoint {
    pub name: String,
    /// The step the script gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    pub value: f64,
    /// When it was logged, in Unix seconds.
    pub time: f64,
}

/// A job's metrics folder: beside its `stdouterr` folder, so it lives (and is deleted) with the
/// job's other outputs.
pub fn metrics_dir(stdouterr: &std::path::Path) -> std::path::PathBuf {
    stdouterr.parent().unwrap_or(stdouterr).join("metrics")
}
