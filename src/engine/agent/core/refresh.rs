//! Reading what others changed: new jobs, terminate requests, deletions, cluster settings.
//!
//! SQLite's `data_version` tells whether any other connection committed since the last look, so
//! an agent that only hears from its own processes (the common case while jobs run) never
//! re-reads the store. When something was committed, a look costs what changed, not what
//! exists: new jobs are those above the last id seen, and terminate requests and deletions of
//! active jobs arrive as notices (rows a trigger appends in the client's own transaction).

use std::collections::HashSet;

use super::{Core, JobEntry, NodeInfo};
use crate::engine::error::Result;
use crate::engine::model::NodeState;
use crate::engine::model::{EngineKind, ErrorInfo, ExecutionState};
use crate::engine::store::{ActiveJob, Change, Notice};

/// New jobs read per query.
const PAGE: i64 = 4096;

impl Core {
    /// `all`: the first look, at start, which also loads the nodes.
    pub(super) fn refresh(&mut self, all: bool) -> Result<()> {
        let version = self.store.data_version()?;
        if !all && version == self.data_version {
            return Ok(());
        }
        self.data_version = version;

        let rows = self.store.cluster_rows()?;
        let present: HashSet<i64> = rows.iter().map(|r| r.id).collect();
        let gone: Vec<(i64, EngineKind)> =
            self.clusters.values().filter(|c| !present.contains(&c.id)).map(|c| (c.id, c.spec.engine)).collect();
        if all {
            for row in &rows {
                self.cluster_errors.insert(row.id, row.errors.clone());
            }
            // Everything is loaded from the rows as they are now: older notices are moot.
            self.last_notice = self.store.last_notice()?;
        }
        self.clusters = rows.into_iter().map(|r| (r.id, r)).collect();
        for (id, engine) in gone {
            self.cluster_deleted(id, engine);
        }
        if all {
            self.load_nodes()?;
        }

        self.load_new_jobs()?;
        self.refresh_sweeps(all)?;
        if !all {
            let (notices, last) = self.store.notices(self.last_notice)?;
            if last > self.last_notice {
                self.last_notice = last;
                self.changes.push(Change::NoticesSeen { upto: last });
            }
            for (id, notice) in notices {
                match notice {
                    Notice::Terminate => {
                        if let Some(entry) = self.jobs.get_mut(&id) {
                            entry.job.terminate_requested = true;
                            self.terminate_pending.insert(id);
                        }
                    }
                    Notice::Deleted => self.job_deleted(id),
                }
            }
        }
        Ok(())
    }

    /// Jobs above the last id seen (also the trials a sweep just created).
    pub(super) fn load_new_jobs(&mut self) -> Result<()> {
        loop {
            let page = self.store.active_jobs_page(self.last_job_id, PAGE)?;
            let full = page.len() as i64 == PAGE;
            for job in page {
                self.last_job_id = self.last_job_id.max(job.id);
                self.load_job(job);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn load_nodes(&mut self) -> Result<()> {
        for (cluster_id, node) in self.store.all_nodes()? {
            let number = node.number;
            if node.state == NodeState::Unusable {
                let recorded = self.cluster_errors.get(&cluster_id).and_then(|errors| {
                    errors
                        .iter()
                        .find(|e| e.details.iter().any(|d| d.name == "nodeId" && d.value == node.name))
                        .cloned()
                });
                if let Some(error) = recorded {
                    self.node_errors.insert(node.name.clone(), error);
                }
            }
            self.nodes.insert(
                node.name.clone(),
                NodeInfo {
                    name: node.name,
                    number,
                    cluster_id,
                    state: node.state,
                    cpus: node.cpus,
                    gpus: node.gpus,
                    memory_mb: node.memory_mb,
                    job: None,
                    since: node.state_transition_time,
                    // A node recorded as running a job: if that job is over (the agent died
                    // before the node was freed), what it left must be reaped first.
                    reaping: node.job.filter(|_| node.state == NodeState::Running).map(Into::into),
                },
            );
        }
        Ok(())
    }

    /// A job row the agent has not seen: queue it, or note the nodes a running one holds
    /// (`recover` rebuilds its run). A terminate request already on the row is acted on like
    /// one that arrives later.
    fn load_job(&mut self, mut job: ActiveJob) {
        let id = job.id;
        // One copy of each cluster name, shared by its queue and every job of it.
        if let Some((name, _)) = self.queues.get_key_value(&*job.cluster) {
            job.cluster = name.clone();
        }
        if job.state != ExecutionState::Queued {
            for name in &job.node_names {
                if let Some(node) = self.nodes.get_mut(name) {
                    node.job = Some(id);
                }
            }
            self.by_uid.insert(job.uid.clone(), id);
        }
        if job.terminate_requested {
            self.terminate_pending.insert(id);
        }
        let queued = job.state == ExecutionState::Queued;
        self.jobs.insert(id, JobEntry { job, run: None });
        if queued {
            self.enqueue(id);
        }
    }

    /// Terminate requests read from the rows, acted on once the job is known (after a restart,
    /// once its run is rebuilt).
    pub(super) fn act_on_terminate_requests(&mut self) {
        for id in std::mem::take(&mut self.terminate_pending) {
            self.terminate_requested(id);
        }
    }

    /// The cluster's row is gone (its node rows went with it): stop its jobs.
    fn cluster_deleted(&mut self, cluster_id: i64, engine: EngineKind) {
        let names: Vec<String> =
            self.nodes.values().filter(|n| n.cluster_id == cluster_id).map(|n| n.name.clone()).collect();
        for name in names {
            self.nodes.remove(&name);
            self.actions.push(super::Action::ReleaseNode { engine, name });
        }
        let cluster_jobs: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, e)| !self.clusters.values().any(|c| *c.name == *e.job.cluster))
            .map(|(id, _)| *id)
            .collect();
        for id in cluster_jobs {
            let error = ErrorInfo::new("ClusterNotFound", "the job's cluster was deleted");
            self.fail_job(id, error);
        }
    }

    /// A queued job fails at once; a running one is stopped and fails when its processes are gone.
    pub(super) fn fail_job(&mut self, id: i64, error: ErrorInfo) {
        let Some(entry) = self.jobs.get(&id) else { return };
        if entry.run.is_some() {
            self.stop_run(id, super::runs::StopReason::Failed(error));
        } else {
            self.changes.push(Change::JobFinished { id, succeeded: false, exit_code: None, errors: vec![error] });
            self.job_ended(id, ExecutionState::Failed);
        }
    }
}
