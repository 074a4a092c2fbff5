//! Which queued jobs of one cluster start now, and on which nodes (spec §1.8).
//!
//! Order: priority high > normal > low, then submission order (first come, first served), then
//! job id. Gang scheduling: a job starts only when `node_count` idle nodes are free at once; it
//! never holds some nodes while waiting for the rest, which is what would deadlock two large jobs.
//!
//! Gang scheduling alone starves large jobs: a 3-node job waits for three nodes to be free at the
//! same moment, and a stream of 1-node jobs keeps grabbing each node as it frees up. So the first
//! job in order that cannot start gets a *reservation* (EASY backfill): the time `at` by which
//! enough nodes are certainly free (idle ones now, busy ones at their running job's latest end,
//! which the agent enforces), and the *spare* count: nodes free by `at` beyond what it needs.
//! A job behind it may start now (*backfill*) if either
//! * it ends by `at` (now + max wall clock ≤ `at`): its nodes are free again in time; or
//! * it fits in the spare nodes, which it then uses up.
//!
//! Either way at least the reserved count of nodes is free at `at`, so backfill never delays the
//! reservation. The reservation is a count, not a node set: all nodes of a cluster are alike, and
//! a count lets a long job take an idle node now when a running job's node will stand in for it.
//! While the count can only be reached with a node still preparing, `at` is unknown: nothing is
//! known to end in time and nothing is spare, so nothing backfills until the node is ready.
//!
//! Only one job holds a reservation (EASY, not conservative backfill): jobs behind it wait for
//! their turn, which keeps each round linear in queue length and the rule easy to explain. The
//! reservation is recomputed every round; it only moves earlier, as jobs end before their limit,
//! unless a job of higher priority arrives ahead of it.
//!
//! A job needing more nodes than the cluster may ever have (`node_limit`) is reported `TooLarge`
//! and skipped: it must not hold the reservation and block everyone forever. A job needing more
//! nodes than can currently serve (the cluster is still growing, or nodes are unusable or
//! leaving) gets no reservation either, since no time can be promised; the next job may take it.
//!
//! Node choice is deterministic: lowest idle ids first.

use std::cmp::Reverse;

use super::availability::Availability;
use super::jobs::{JobId, QueuedJob, RunningJob};
use super::node::{Node, NodeId};
use super::time::Time;

/// The state of one cluster, as the agent reads it before a scheduling round.
#[derive(Debug, Clone, Default)]
pub struct SchedulerInput {
    pub nodes: Vec<Node>,
    pub running: Vec<RunningJob>,
    /// In any order; [`schedule`] sorts them.
    pub queued: Vec<QueuedJob>,
    /// The most nodes the cluster may have under its scale settings: the manual target, or the
    /// autoscale maximum.
    pub node_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub job: JobId,
    /// Ascending; the first is the job's master node.
    pub nodes: Vec<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub job: JobId,
    /// When enough nodes are free at the latest; `None` while that needs a node still preparing.
    pub at: Option<Time>,
    /// Nodes free by `at` beyond what the job needs and that backfill has not used.
    pub spare: u32,
}

/// Why a queued job did not start in this round, for the user to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Needs more nodes than the cluster may ever have (its target or autoscale maximum).
    TooLarge { needed: u32, max: u32 },
    /// Fewer nodes can serve than it needs: the cluster is still growing, or nodes are unusable
    /// or leaving.
    NotEnoughNodes { needed: u32, usable: u32 },
    /// First in line; holds the reservation.
    Reserved { at: Option<Time> },
    /// Enough idle nodes, but using them would delay the reservation of `holder`.
    WouldDelay { holder: JobId },
    /// Not enough idle nodes now.
    Busy { needed: u32, idle: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub job: JobId,
    /// The nodes it needs (its node count, at least 1), for explaining the reason.
    pub needed: u32,
    pub reason: WaitReason,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Jobs to start now, in queue order.
    pub placements: Vec<Placement>,
    /// Jobs left queued, in queue order.
    pub waiting: Vec<Waiting>,
    pub reservation: Option<Reservation>,
}

/// The queue order: priority, then submission, then id.
pub fn queue_order(queued: &[QueuedJob]) -> Vec<&QueuedJob> {
    let mut order: Vec<&QueuedJob> = queued.iter().collect();
    order.sort_by_key(|j| (Reverse(j.priority), j.submitted, j.id));
    order
}

/// One scheduling round for one cluster at time `now`.
pub fn schedule(input: &SchedulerInput, now: Time) -> Schedule {
    let mut free = Availability::new(&input.nodes, &input.running, now);
    let mut out = Schedule::default();
    for job in queue_order(&input.queued) {
        let needed = job.nodes_needed();
        let reason = if needed > input.node_limit {
            WaitReason::TooLarge { needed, max: input.node_limit }
        } else if needed > free.serving_count() {
            WaitReason::NotEnoughNodes { needed, usable: free.serving_count() }
        } else {
            let chosen = match &mut out.reservation {
                None => lowest(free.idle().iter().copied(), needed),
                Some(reservation) => backfill(&free, reservation, job, now),
            };
            match chosen {
                Some(nodes) => {
                    free.take(&nodes, job.max_wall_clock);
                    out.placements.push(Placement { job: job.id, nodes });
                    continue;
                }
                None => blocked_reason(&mut out.reservation, &free, job),
            }
        };
        out.waiting.push(Waiting { job: job.id, needed, reason });
    }
    out
}

/// Why `job` cannot start now; makes it the reservation holder if there is none yet.
fn blocked_reason(reservation: &mut Option<Reservation>, free: &Availability, job: &QueuedJob) -> WaitReason {
    let needed = job.nodes_needed();
    let idle = free.idle().len() as u32;
    match reservation {
        Some(holder) if idle >= needed => WaitReason::WouldDelay { holder: holder.job },
        Some(_) => WaitReason::Busy { needed, idle },
        None => {
            let (at, spare) = free.shadow(needed).expect("callers check that enough nodes serve");
            *reservation = Some(Reservation { job: job.id, at, spare });
            WaitReason::Reserved { at }
        }
    }
}

/// Nodes for a job behind the reservation, or `None` if it would delay it.
fn backfill(free: &Availability, reservation: &mut Reservation, job: &QueuedJob, now: Time) -> Option<Vec<NodeId>> {
    let needed = job.nodes_needed();
    let ends_in_time = reservation.at.is_some_and(|at| now.after(job.max_wall_clock) <= at);
    if !ends_in_time && needed > reservation.spare {
        return None;
    }
    let nodes = lowest(free.idle().iter().copied(), needed)?;
    if !ends_in_time {
        reservation.spare -= needed;
    }
    Some(nodes)
}

/// The first `needed` of `candidates`, or `None` if there are fewer.
fn lowest(candidates: impl Iterator<Item = NodeId>, needed: u32) -> Option<Vec<NodeId>> {
    let nodes: Vec<NodeId> = candidates.take(needed as usize).collect();
    (nodes.len() == needed as usize).then_some(nodes)
}
