//! Nodes as the scheduler sees them: an id and a Batch AI node state (spec §1.5).
//!
//! Only `idle` nodes take new jobs. `preparing` nodes will become idle (or unusable) soon, so they
//! count when the scheduler plans a reservation but not when it places a job now. `unusable` and
//! `leaving` nodes never take a job again: unusable ones wait for a resize to replace them, leaving
//! ones are removed once their last job is gone.
//!
//! A cluster is `steady` when it has exactly its target node count and no node is still being
//! added (`preparing`) or taken away (`leaving`); otherwise it is `resizing`.

use std::fmt;

use crate::engine::model::cluster::{AllocationState, NodeStateCounts};
pub use crate::engine::model::node::NodeState;

/// A node's number within its cluster. Lower ids are chosen first, so placements are reproducible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node-{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub state: NodeState,
}

impl Node {
    pub fn new(id: u32, state: NodeState) -> Node {
        Node { id: NodeId(id), state }
    }
}

/// Batch AI's `nodeStateCounts`.
pub fn state_counts(nodes: &[Node]) -> NodeStateCounts {
    let mut counts = NodeStateCounts::default();
    for node in nodes {
        let slot = match node.state {
            NodeState::Idle => &mut counts.idle_node_count,
            NodeState::Running => &mut counts.running_node_count,
            NodeState::Preparing => &mut counts.preparing_node_count,
            NodeState::Unusable => &mut counts.unusable_node_count,
            NodeState::Leaving => &mut counts.leaving_node_count,
        };
        *slot += 1;
    }
    counts
}

/// `steady` when the cluster holds exactly `target` nodes and none is preparing or leaving.
/// Leaving nodes are still allocated, so they count in `nodes` until removed.
pub fn allocation_state(nodes: &[Node], target: u32) -> AllocationState {
    let moving = nodes.iter().any(|n| matches!(n.state, NodeState::Preparing | NodeState::Leaving));
    if nodes.len() == target as usize && !moving { AllocationState::Steady } else { AllocationState::Resizing }
}
