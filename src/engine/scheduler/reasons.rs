//! Why a queued job waits, in plain words, and when it starts at the latest.
//!
//! [`placement::schedule`](super::placement::schedule) decides a [`WaitReason`] for every job it
//! considered and did not place; [`explain`] turns one into a sentence a user can act on, naming
//! the cluster, its nodes by state, the jobs holding them, and the job ahead in line. Only the
//! reservation holder has an expected start (EASY backfill promises a time to one job only), and
//! that time is "at the latest": running jobs may end before their wall clock.
//!
//! The sentence must not change from one round to the next unless the situation did, since the
//! agent writes it to the store only when it changes: no clock times, no durations in it.

use std::collections::BTreeSet;

use super::jobs::{JobId, RunningJob};
use super::node::{Node, NodeState};
use super::placement::{Schedule, WaitReason, Waiting};
use super::time::Time;

/// The cluster a schedule was made for, as the explanation names it.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView<'a> {
    pub name: &'a str,
    pub nodes: &'a [Node],
    pub running: &'a [RunningJob],
    /// Whether the node limit is an autoscale maximum (else a manual target).
    pub autoscale: bool,
    /// Whether nodes are being added or taken away.
    pub resizing: bool,
    /// Why the cluster cannot grow, when it cannot (e.g. "a node of cluster 'gpu' needs 8 GPUs,
    /// 0 free on this machine").
    pub shortfall: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub reason: String,
    pub expected_start: Option<Time>,
}

fn nodes(n: u32) -> String {
    if n == 1 { "1 node".to_string() } else { format!("{n} nodes") }
}

/// `'a'`, `'a', 'b'`, or `'a', 'b', 'c' and 2 more`.
fn quoted(names: &[String]) -> String {
    let mut text = names.iter().take(3).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    if names.len() > 3 {
        text.push_str(&format!(" and {} more", names.len() - 3));
    }
    text
}

/// "1 idle, 2 running (held by job 'e/a')", or "no nodes".
fn node_summary(cluster: &ClusterView<'_>, name: &dyn Fn(JobId) -> String) -> String {
    if cluster.nodes.is_empty() {
        return "it has no nodes".to_string();
    }
    let count = |state: NodeState| cluster.nodes.iter().filter(|n| n.state == state).count();
    let mut parts = Vec::new();
    for state in [NodeState::Idle, NodeState::Running, NodeState::Preparing, NodeState::Unusable, NodeState::Leaving] {
        let n = count(state);
        if n == 0 {
            continue;
        }
        let mut part = format!("{n} {state}");
        if state == NodeState::Running {
            let holders: BTreeSet<JobId> = cluster.running.iter().map(|j| j.id).collect();
            let names: Vec<String> = holders.into_iter().map(name).collect();
            if !names.is_empty() {
                let noun = if names.len() == 1 { "job" } else { "jobs" };
                part.push_str(&format!(" (held by {noun} {})", quoted(&names)));
            }
        }
        parts.push(part);
    }
    parts.join(", ")
}

/// Explain why `waiting` did not start in `schedule`. `name` gives a job's display name
/// (`experiment/job`).
pub fn explain(
    waiting: &Waiting,
    schedule: &Schedule,
    cluster: &ClusterView<'_>,
    name: &dyn Fn(JobId) -> String,
) -> Explanation {
    let c = cluster.name;
    let summary = || node_summary(cluster, name);
    let holder = || schedule.reservation.as_ref().map(|r| name(r.job));
    let mut expected_start = None;
    let reason = match waiting.reason {
        WaitReason::TooLarge { needed, max } if cluster.autoscale => format!(
            "needs {} but cluster '{c}' autoscales to at most {}: raise its maximum node count to {needed} or more",
            nodes(needed),
            nodes(max)
        ),
        WaitReason::TooLarge { needed, max } => {
            format!("needs {} but cluster '{c}' is set to {}: resize it to {needed} or more", nodes(needed), nodes(max))
        }
        WaitReason::NotEnoughNodes { needed, .. } => {
            let mut text = format!("needs {} of cluster '{c}'; {}", nodes(needed), summary());
            match cluster.shortfall {
                Some(why) => text.push_str(&format!("; it cannot grow: {why}")),
                None if cluster.resizing => text.push_str("; the cluster is resizing"),
                None => {}
            }
            text
        }
        WaitReason::Reserved { at } => {
            expected_start = at;
            let mut text = format!("needs {} of cluster '{c}'; {}; next in line", nodes(waiting.needed), summary());
            if at.is_none() {
                text.push_str(", waiting for a preparing node");
            }
            text
        }
        WaitReason::WouldDelay { holder } => {
            format!("waiting behind job '{}', next in line on cluster '{c}': starting now could delay it", name(holder))
        }
        WaitReason::Busy { needed, .. } => {
            let mut text = format!("needs {} of cluster '{c}'; {}", nodes(needed), summary());
            if let Some(holder) = holder() {
                text.push_str(&format!("; waiting behind job '{holder}'"));
            }
            text
        }
    };
    Explanation { reason, expected_start }
}
