//! The pure scheduler of the local engine: queue, capacity and time in; decisions out.
//!
//! No I/O, no clock, no store: the agent reads the state of one cluster, calls these functions
//! with an injected [`Time`], and applies what they return. That keeps every rule testable with
//! plain values (see `tests/`).
//!
//! * [`placement`]: which queued jobs start now and on which nodes (priority, FCFS, gang
//!   scheduling, EASY backfill), and why the others wait.
//! * [`capacity`]: requests the machine can never meet, rejected at creation.
//! * [`autoscale`]: the node count an autoscaled cluster should have.
//! * [`resize`]: which nodes to add, remove or drain for a new target, and which jobs that stops.
//! * [`slices`]: which CPUs, GPUs and memory of this machine each node gets; [`env`] turns a
//!   slice into `CUDA_VISIBLE_DEVICES` and the GPU count.
//! * [`reasons`]: a waiting job's reason in plain words, and its expected start.
//! * [`node`]: node states, their counts and the cluster's allocation state.
//!
//! The agent's tick, per cluster: [`resize::plan_resize`] toward the target (manual, or from
//! [`autoscale::auto_scale_target`]) and apply it, giving new nodes a slice from
//! [`slices::allocate_slices`]; then [`placement::schedule`] and start the placements.

pub mod autoscale;
mod availability;
pub mod capacity;
pub mod env;
pub mod jobs;
pub mod node;
pub mod placement;
pub mod reasons;
pub mod resize;
pub mod slices;
pub mod time;

#[cfg(test)]
mod tests;

pub use autoscale::{AUTO_SCALE_DEALLOCATION, auto_scale_target};
pub use env::{gpu_env, id_list};
pub use jobs::{JobId, QueuedJob, RunningJob};
pub use node::{Node, NodeId, NodeState, allocation_state, state_counts};
pub use placement::{Placement, Reservation, Schedule, SchedulerInput, WaitReason, Waiting, queue_order, schedule};
pub use reasons::{ClusterView, Explanation, explain};
pub use resize::{ResizePlan, plan_resize};
pub use slices::{Machine, NoFit, Slice, SlicePolicy, allocate_slice, allocate_slices};
pub use time::Time;
