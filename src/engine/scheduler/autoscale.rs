//! Autoscale (spec §1.5): the node count a cluster should have, between its minimum and maximum.
//!
//! Batch AI scaled "based on the number of queued and running jobs": the nodes they need. So the
//! target is the nodes held by running jobs plus the nodes every queued job asks for, clamped to
//! [min, max]; an idle cluster with an empty queue falls back to min. There is no formula, idle
//! timeout or scale interval, as in Batch AI. A queued job larger than max is left out: growing
//! for it could never let it run.
//!
//! Counting every queued job (not just the first) is what lets backfill work on an autoscaled
//! cluster: a reservation holds its nodes, and the small jobs behind it need nodes of their own.
//!
//! Starting a job moves its nodes from the queued sum to the running one, so the target is the same
//! before and after a scheduling round: the agent may call it at either point. Since the target
//! covers every running job, shrinking takes only free nodes unless the user lowers the maximum
//! below what runs; then [`AUTO_SCALE_DEALLOCATION`] applies.

use crate::engine::model::cluster::DeallocationOption;

/// What autoscale does to running jobs when it shrinks. Batch AI's choice is unconfirmed; since
/// the target never falls below the nodes running jobs hold, only idle nodes go in practice, and
/// waiting for jobs is the choice that can never lose work when `max` is lowered under them.
pub const AUTO_SCALE_DEALLOCATION: DeallocationOption = DeallocationOption::Waitforjobcompletion;

/// `running_nodes`: nodes held by running jobs. `queued_node_counts`: each queued job's node count.
pub fn auto_scale_target(
    minimum: u32,
    maximum: u32,
    running_nodes: u32,
    queued_node_counts: impl IntoIterator<Item = u32>,
) -> u32 {
    let maximum = maximum.max(minimum);
    let queued =
        queued_node_counts.into_iter().map(|n| n.max(1)).filter(|n| *n <= maximum).fold(0u32, u32::saturating_add);
    running_nodes.saturating_add(queued).clamp(minimum, maximum)
}
