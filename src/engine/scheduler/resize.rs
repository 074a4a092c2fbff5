//! Resizing a cluster to a target node count (spec §1.5 scale settings).
//!
//! Leaving nodes no longer count: the cluster's size is its *live* nodes. Growing first takes
//! leaving nodes back (lowest ids first), because they already hold a slice of the machine and a
//! new node might not fit beside them; then it creates nodes with the lowest unused ids.
//!
//! Shrinking first removes nodes no job holds, the least useful first: unusable, then preparing
//! (setup not finished), then idle; highest ids first within each. If that is not enough it takes
//! nodes from running jobs, as the deallocation option says:
//! * `requeue` / `terminate`: the most recently started job first (least work lost). A job losing
//!   any node is stopped as a whole (its other nodes simply become idle again) and requeued or
//!   terminated. Its taken nodes become `leaving` and go once the job is stopped.
//! * `waitforjobcompletion`: the jobs that will end soonest first (nodes leave soonest). Nodes
//!   become `leaving`, take no new job, and go when their job ends.
//!
//! Either way a leaving node is removed once no running job holds it, so the agent can run
//! [`plan_resize`] on every tick: with the target reached it only reports those removals.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::jobs::{JobId, RunningJob};
use super::node::{Node, NodeId, NodeState};
use crate::engine::model::cluster::DeallocationOption;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResizePlan {
    /// New nodes to allocate (they start `preparing`).
    pub create: Vec<NodeId>,
    /// Leaving nodes that stay after all: back to `running` if a job holds them, else `idle`.
    pub reclaim: Vec<NodeId>,
    /// Nodes no job holds: release their slices now.
    pub remove: Vec<NodeId>,
    /// Nodes to mark `leaving`; removed once no running job holds them.
    pub mark_leaving: Vec<NodeId>,
    /// Jobs to stop and put back in the queue.
    pub requeue: Vec<JobId>,
    /// Jobs to stop for good.
    pub terminate: Vec<JobId>,
}

pub fn plan_resize(nodes: &[Node], running: &[RunningJob], target: u32, option: DeallocationOption) -> ResizePlan {
    let held: BTreeSet<NodeId> = running.iter().flat_map(|j| j.nodes.iter().copied()).collect();
    let mut plan = ResizePlan::default();
    let live = nodes.iter().filter(|n| n.state != NodeState::Leaving).count() as u32;
    if target > live {
        grow(nodes, target - live, &mut plan);
    } else if target < live {
        shrink(nodes, running, &held, live - target, option, &mut plan);
    }
    let gone = nodes
        .iter()
        .filter(|n| n.state == NodeState::Leaving && !held.contains(&n.id) && !plan.reclaim.contains(&n.id));
    plan.remove.extend(gone.map(|n| n.id));
    plan
}

fn grow(nodes: &[Node], mut missing: u32, plan: &mut ResizePlan) {
    let mut leaving: Vec<NodeId> = nodes.iter().filter(|n| n.state == NodeState::Leaving).map(|n| n.id).collect();
    leaving.sort();
    for id in leaving.into_iter().take(missing as usize) {
        plan.reclaim.push(id);
        missing -= 1;
    }
    // Ids of leaving nodes removed in this plan are skipped too, so one plan never removes and
    // creates the same id.
    let used: BTreeSet<u32> = nodes.iter().map(|n| n.id.0).collect();
    plan.create = (0u32..).filter(|id| !used.contains(id)).take(missing as usize).map(NodeId).collect();
}

fn shrink(
    nodes: &[Node],
    running: &[RunningJob],
    held: &BTreeSet<NodeId>,
    mut excess: u32,
    option: DeallocationOption,
    plan: &mut ResizePlan,
) {
    let mut free: Vec<&Node> =
        nodes.iter().filter(|n| n.state != NodeState::Leaving && !held.contains(&n.id)).collect();
    free.sort_by_key(|n| (removal_class(n.state), Reverse(n.id)));
    for node in free.into_iter().take(excess as usize) {
        plan.remove.push(node.id);
        excess -= 1;
    }
    if excess == 0 {
        return;
    }
    let live: BTreeSet<NodeId> = nodes.iter().filter(|n| n.state != NodeState::Leaving).map(|n| n.id).collect();
    let mut victims: Vec<&RunningJob> = running.iter().filter(|j| j.nodes.iter().any(|n| live.contains(n))).collect();
    match option {
        DeallocationOption::Requeue | DeallocationOption::Terminate => {
            victims.sort_by_key(|j| (Reverse(j.started), Reverse(j.id)))
        }
        DeallocationOption::Waitforjobcompletion => victims.sort_by_key(|j| (j.latest_end(), Reverse(j.id))),
    }
    let mut taken: BTreeSet<NodeId> = BTreeSet::new();
    for job in victims {
        if excess == 0 {
            break;
        }
        let mut its: Vec<NodeId> =
            job.nodes.iter().copied().filter(|n| live.contains(n) && !taken.contains(n)).collect();
        its.sort_by_key(|n| Reverse(*n));
        if its.is_empty() {
            continue;
        }
        for node in its.into_iter().take(excess as usize) {
            taken.insert(node);
            plan.mark_leaving.push(node);
            excess -= 1;
        }
        match option {
            DeallocationOption::Requeue => plan.requeue.push(job.id),
            DeallocationOption::Terminate => plan.terminate.push(job.id),
            DeallocationOption::Waitforjobcompletion => {}
        }
    }
}

/// The order in which free nodes go: the least useful first.
fn removal_class(state: NodeState) -> u8 {
    match state {
        NodeState::Unusable => 0,
        NodeState::Preparing => 1,
        NodeState::Idle => 2,
        NodeState::Running | NodeState::Leaving => 3,
    }
}
