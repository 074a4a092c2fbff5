//! Jobs as the scheduler sees them: how many nodes, how urgent, how long at most.
//!
//! A running job's `latest_end` (start + max wall clock) is the only end time the scheduler
//! trusts: the agent kills a job at its limit, so a node held by it is certainly free by then.
//! That is what makes a reservation a promise rather than a guess.

use std::time::Duration;

use super::node::NodeId;
use super::time::Time;
use crate::engine::model::job::SchedulingPriority;

/// The job's row id in the store; also the last tie-breaker of the queue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedJob {
    pub id: JobId,
    pub priority: SchedulingPriority,
    /// Submission order (e.g. the store's row id). A requeued job keeps its original number, so it
    /// goes back to where it waited before rather than to the end of the queue.
    pub submitted: u64,
    /// Whole nodes, gang-scheduled. A job always occupies at least one node, so 0 counts as 1.
    pub node_count: u32,
    pub max_wall_clock: Duration,
}

impl QueuedJob {
    pub fn nodes_needed(&self) -> u32 {
        self.node_count.max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    pub id: JobId,
    pub nodes: Vec<NodeId>,
    pub started: Time,
    pub max_wall_clock: Duration,
}

impl RunningJob {
    /// When the job will have been stopped at the latest.
    pub fn latest_end(&self) -> Time {
        self.started.after(self.max_wall_clock)
    }
}
