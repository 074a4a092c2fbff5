//! Why each queued job waits: the scheduler's reasons, in words, written to the store.
//!
//! Theory of operation: after a placement round, every cluster with queued jobs is scheduled
//! again on the state that round left (pure and cheap: the first `REASON_DEPTH` jobs of the
//! queue only), and each job that still waits gets the scheduler's reason explained
//! ([`crate::engine::scheduler::explain`]) with its expected start. A
//! [`Change::JobWaitReason`] is pushed only when a job's reason or expected start differs from
//! the one last written, kept here in memory: an unchanged queue writes nothing, and a turn never
//! writes more rows than the jobs it explained. Jobs past that depth get no reason
//! (the client says they wait behind other jobs); a job that falls past the depth, or leaves the
//! queue, is forgotten (and its reason cleared if it is still queued). After an agent restart the
//! memory is empty, so the reasons of the head of each queue are written once again.

use std::collections::{HashMap, HashSet};

use super::Core;
use crate::engine::model::{ExecutionState, Timestamp};
use crate::engine::scheduler::{ClusterView, JobId, SchedulerInput, Time, explain, schedule};
use crate::engine::store::Change;

/// How many jobs at the head of each queue get a reason of their own. A reason names the job
/// ahead, so every start changes those of all the jobs explained: explaining the whole
/// scheduling depth (256) cost about 1.2 ms of agent time per job started in a flood of jobs,
/// about as much as everything else the agent does for a job. Jobs further back read "queued behind
/// other jobs" (the client says so).
const REASON_DEPTH: usize = 8;

/// The reason and expected start last written for each job that has one, and the labels
/// (`experiment/job`) of the jobs reasons name: queue entries keep no names, so those of the
/// head of each queue are read once and kept while it waits.
#[derive(Debug, Default)]
pub(crate) struct WrittenReasons(HashMap<i64, (Option<String>, Option<Timestamp>)>, HashMap<i64, String>);

/// A reservation time as stored: whole seconds (steadier to compare and to read), and none once
/// it has passed (an overdue job is being stopped; "now" is not a promise worth writing).
fn expected_start(at: Option<Time>, now: Time) -> Option<Timestamp> {
    let at = at.filter(|at| *at > now)?;
    Timestamp::from_timestamp(at.micros().div_euclid(1_000_000), 0)
}

impl Core {
    /// Explain why the head of each cluster's queue waits; push the reasons that changed.
    pub(super) fn update_wait_reasons(&mut self, now: Timestamp) {
        self.load_labels();
        let now_t = Time::from_timestamp(now);
        let mut fresh: Vec<(i64, Option<String>, Option<Timestamp>)> = Vec::new();
        for (&cluster_id, cluster) in &self.clusters {
            let queued = self.queue_head(&cluster.name, REASON_DEPTH);
            if queued.is_empty() {
                continue;
            }
            let settings = &cluster.spec.scale_settings;
            let input = SchedulerInput {
                nodes: self.cluster_nodes(cluster_id),
                running: self.cluster_running(cluster_id),
                queued,
                node_limit: super::runs::node_limit(cluster),
            };
            let result = schedule(&input, now_t);
            let view = ClusterView {
                name: &cluster.name,
                nodes: &input.nodes,
                running: &input.running,
                autoscale: settings.manual.is_none() && settings.auto_scale.is_some(),
                resizing: cluster.allocation_resizing,
                shortfall: self.capacity_errors.get(&cluster_id).map(|e| e.message.as_str()),
            };
            let labels = &self.wait_reasons.1;
            let name = |id: JobId| labels.get(&id.0).cloned().unwrap_or_default();
            for waiting in &result.waiting {
                let explained = explain(waiting, &result, &view, &name);
                fresh.push((waiting.job.0, Some(explained.reason), expected_start(explained.expected_start, now_t)));
            }
        }
        let seen: HashSet<i64> = fresh.iter().map(|(id, _, _)| *id).collect();
        for (id, reason, expected_start) in fresh {
            let entry = (reason, expected_start);
            if self.wait_reasons.0.get(&id) != Some(&entry) {
                self.changes.push(Change::JobWaitReason { id, reason: entry.0.clone(), expected_start: entry.1 });
                self.wait_reasons.0.insert(id, entry);
            }
        }
        self.wait_reasons.1.retain(|id, _| self.jobs.contains_key(id));
        let gone: Vec<i64> = self.wait_reasons.0.keys().filter(|id| !seen.contains(id)).copied().collect();
        for id in gone {
            self.wait_reasons.0.remove(&id);
            // Running or ended jobs had their reason cleared with their state change.
            if self.jobs.get(&id).is_some_and(|e| e.job.state == ExecutionState::Queued) {
                self.changes.push(Change::JobWaitReason { id, reason: None, expected_start: None });
            }
        }
    }

    /// Labels of the jobs a reason may name (running jobs, the head of each queue) not read yet.
    fn load_labels(&mut self) {
        let mut missing: Vec<i64> = Vec::new();
        for queue in self.queues.values() {
            missing.extend(queue.iter().take(REASON_DEPTH).map(|(_, id)| *id));
        }
        missing.extend(self.running.iter().copied());
        missing.retain(|id| !self.wait_reasons.1.contains_key(id));
        if missing.is_empty() {
            return;
        }
        // A label is only for messages: a failed read leaves it empty rather than failing a turn.
        if let Ok(labels) = self.store.job_labels(&missing) {
            self.wait_reasons.1.extend(labels);
        }
    }
}
