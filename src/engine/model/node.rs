//! A node's state, Batch AI's five (spec §1.5), and the transitions between them.
//!
//! Only `idle` nodes take new jobs. `preparing` nodes will become idle (or unusable) soon;
//! `unusable` and `leaving` nodes never take a job again: unusable ones wait for a resize to
//! replace them, leaving ones are removed once their last job is gone.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Ready for a job.
    Idle,
    /// Running a job.
    Running,
    /// Newly allocated: slice, mounts and setup task still in progress.
    Preparing,
    /// Preparation or the setup task failed.
    Unusable,
    /// Being removed by a scale-down; gone once it holds no job.
    Leaving,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Idle => "idle",
            NodeState::Running => "running",
            NodeState::Preparing => "preparing",
            NodeState::Unusable => "unusable",
            NodeState::Leaving => "leaving",
        }
    }

    pub fn parse(text: &str) -> Option<NodeState> {
        Some(match text {
            "idle" => NodeState::Idle,
            "running" => NodeState::Running,
            "preparing" => NodeState::Preparing,
            "unusable" => NodeState::Unusable,
            "leaving" => NodeState::Leaving,
            _ => return None,
        })
    }

    /// Whether a job may be placed on a node in this state (and holding no job).
    pub fn accepts_jobs(self) -> bool {
        self == NodeState::Idle
    }

    /// Whether the node will be able to run jobs later without a resize: what a reservation may
    /// count on.
    pub fn will_serve(self) -> bool {
        matches!(self, NodeState::Idle | NodeState::Running | NodeState::Preparing)
    }

    /// The transitions the local engine makes. `leaving → idle | running` is a scale-up that takes
    /// a leaving node back instead of allocating a new one; `unusable → preparing` is a retry of the
    /// setup task.
    pub fn can_become(self, next: NodeState) -> bool {
        use NodeState::*;
        matches!(
            (self, next),
            (Preparing, Idle | Unusable | Leaving)
                | (Idle, Running | Leaving)
                | (Running, Idle | Leaving)
                | (Unusable, Preparing | Leaving)
                | (Leaving, Idle | Running)
        )
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
