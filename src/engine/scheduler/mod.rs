//! The pure scheduler of the local engine: queue, capacity and time in; decisions out.
//!
//! No I/O, no clock, no store: the agent reads the state of one cluster, calls these functions
//! with an injected [`Time`], and applies what they return. That keeps every rule testable with
//! plain values (see `tests/`).
//!
//! * [`placement`]: which queued jobs start now and on which nodes (priority, FCFS, gang
//!   scheduling, EASY backfill), and why the others wait.
//! * [`node`]: node states, their counts and the cluster's allocation state.
//!
//! The agent's tick, per cluster: [`placement::schedule`], then start the placements.

mod availability;
pub mod jobs;
pub mod node;
pub mod placement;
pub mod time;

#[cfg(test)]
mod tests;

pub use jobs::{JobId, QueuedJob, RunningJob};
pub use node::{Node, NodeId, NodeState, allocation_state, state_counts};
pub use placement::{Placement, Reservation, Schedule, SchedulerInput, WaitReason, Waiting, queue_order, schedule};
pub use time::Time;
