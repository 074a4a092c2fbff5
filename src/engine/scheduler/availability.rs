//! When each node of a cluster is free: now, at a known time, at an unknown time, or never.
//!
//! Idle nodes are free now. A node held by a running job is free at that job's latest end (start +
//! max wall clock), or now if the job is overdue and about to be killed. A preparing node will be
//! free at a time nobody knows yet. Unusable and leaving nodes never serve again, so they are left
//! out. Placing a job in this round moves its nodes from "now" to "now + its wall clock", which is
//! how later jobs in the same round see it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::jobs::RunningJob;
use super::node::{Node, NodeId, NodeState};
use super::time::Time;

/// When a serving node is free: `Some(t)` at the latest by `t`, `None` unknown (still preparing).
type FreeAt = Option<Time>;

pub(super) struct Availability {
    now: Time,
    idle: BTreeSet<NodeId>,
    serving: BTreeMap<NodeId, FreeAt>,
}

impl Availability {
    pub(super) fn new(nodes: &[Node], running: &[RunningJob], now: Time) -> Availability {
        let mut held: BTreeMap<NodeId, Time> = BTreeMap::new();
        for job in running {
            let end = job.latest_end().max(now);
            for node in &job.nodes {
                let slot = held.entry(*node).or_insert(end);
                *slot = (*slot).max(end);
            }
        }
        let mut idle = BTreeSet::new();
        let mut serving = BTreeMap::new();
        for node in nodes.iter().filter(|n| n.state.will_serve()) {
            let free_at = match (held.get(&node.id), node.state) {
                (Some(end), _) => Some(*end),
                (None, NodeState::Idle) => {
                    idle.insert(node.id);
                    Some(now)
                }
                // Preparing, or marked running with no job given: free at some unknown time.
                (None, _) => None,
            };
            serving.insert(node.id, free_at);
        }
        Availability { now, idle, serving }
    }

    pub(super) fn idle(&self) -> &BTreeSet<NodeId> {
        &self.idle
    }

    /// Nodes that can run jobs now or later without a resize.
    pub(super) fn serving_count(&self) -> u32 {
        self.serving.len() as u32
    }

    /// Give `nodes` to a job that starts now and runs at most `wall_clock`.
    pub(super) fn take(&mut self, nodes: &[NodeId], wall_clock: Duration) {
        let end = self.now.after(wall_clock);
        for node in nodes {
            self.idle.remove(node);
            self.serving.insert(*node, Some(end));
        }
    }

    /// The reservation for a job of `needed` nodes: the time `at` by which `needed` nodes are
    /// free, and how many more than `needed` are free by then (the spare nodes). `at` is `None`
    /// when that count includes a node still preparing; there are no spare nodes then. Returns
    /// `None` if fewer than `needed` nodes serve at all.
    pub(super) fn shadow(&self, needed: u32) -> Option<(Option<Time>, u32)> {
        if self.serving_count() < needed {
            return None;
        }
        let mut known: Vec<Time> = self.serving.values().filter_map(|at| *at).collect();
        known.sort();
        let Some(at) = known.get(needed as usize - 1).copied() else {
            return Some((None, 0));
        };
        let free_by_then = known.iter().filter(|t| **t <= at).count() as u32;
        Some((Some(at), free_by_then - needed))
    }
}
