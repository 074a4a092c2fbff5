//! The Slurm engine: each batchai job is one Slurm job.
//!
//! Theory of operation:
//! - A Slurm cluster's nodes are slots: the most nodes its jobs use at once (its scale settings).
//!   They are ready at once; Slurm chooses the hosts when it starts a job.
//! - When the core begins a run, the engine writes the run's folder on the shared file system
//!   (`launcher::node::RunDir`: manifest, one inbox per node) and submits one `sbatch` with
//!   `--nodes` = the job's node count; its script `srun`s batchai's node launcher once per node.
//!   Process requests, signals and acknowledgements are appended to the nodes' inboxes; the
//!   launchers' answers (started, exited, reaped) are read from their outboxes. The core plans
//!   and decides exactly as on the local engine; addresses are placeholders the launchers fill.
//! - Everything slow (sbatch, squeue, scancel, reading outboxes) happens on the engine's own
//!   thread (`driver`), which reports to the agent's loop as [`EngineEvent`]s. One `squeue` per
//!   poll interval covers every Slurm job of the workspace; a job Slurm holds pending is reported
//!   with Slurm's reason, and one that ended without its processes' exit records (cancelled
//!   outside batchai, node failure, time limit) fails its processes with what Slurm said.
//! - The partition's hosts, as Slurm reports them, are a read-only view for people (`sinfo`):
//!   the scheduler never reads them.
//! - A restarted agent reads the run folders again (`recovered`): what was asked, what ran,
//!   what ended; nothing is submitted twice (a run folder with a Slurm id is never resubmitted).
//!
//! [`EngineEvent`]: crate::engine::engines::EngineEvent

mod driver;
mod engine;
pub mod sbatch;
pub mod sinfo;

pub use engine::SlurmEngine;
