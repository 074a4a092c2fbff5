//! Execution engines: how a cluster's nodes and a job's processes become real.
//!
//! `local` (the embedded default): nodes are slices of this machine, folders under the
//! workspace, and processes run under the workspace's supervisor. A Slurm engine, where nodes
//! come from Slurm allocations, comes in a later issue; the agent's decisions (which job, which
//! nodes, which processes) do not depend on the engine.

pub mod local;
