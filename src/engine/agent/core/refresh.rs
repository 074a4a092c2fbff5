//! Reading what others changed: new jobs, terminate requests, deletions, cluster settings.
//!
//! SQLite's `data_version` tells whether any other connection committed since the last look, so
//! an agent that only hears from its own processes (the common case while jobs run) never
//! re-reads the store.

use std::collections::HashSet;

use super::{Core, JobEntry, NodeInfo};
use crate::engine::error::Result;
use crate::engine::model::{ErrorInfo, ExecutionState};
use crate::engine::store::Change;

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
        let gone: Vec<i64> = self.clusters.keys().copied().filter(|id| !present.contains(id)).collect();
        if all {
            for row in &rows {
                self.cluster_errors.insert(row.id, row.errors.clone());
            }
        }
        self.clusters = rows.into_iter().map(|r| (r.id, r)).collect();
        for id in gone {
            self.cluster_deleted(id);
        }
        if all {
            for (cluster_id, node) in self.store.all_nodes()? {
                let number = node.number;
                if node.state == crate::engine::scheduler::NodeState::Unusable {
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
                    },
                );
            }
        }

        for job in self.store.active_jobs(self.last_job_id)? {
            self.last_job_id = self.last_job_id.max(job.id);
            self.by_uid.insert(job.uid.clone(), job.id);
            let id = job.id;
            // A running job's nodes are known from the store; `recover` rebuilds its run.
            for name in &job.node_names {
                if job.state != ExecutionState::Queued
                    && let Some(node) = self.nodes.get_mut(name)
                {
                    node.job = Some(id);
                }
            }
            let queued = job.state == ExecutionState::Queued;
            self.jobs.insert(id, JobEntry { job, run: None });
            if queued {
                self.enqueue(id);
            }
        }
        if all {
            return Ok(());
        }
        let flags = self.store.active_job_flags()?;
        let ids: Vec<i64> = self.jobs.keys().copied().collect();
        for id in ids {
            match flags.get(&id) {
                None => self.job_deleted(id),
                Some(true) => {
                    let entry = self.jobs.get_mut(&id).expect("listed above");
                    if !entry.job.terminate_requested {
                        entry.job.terminate_requested = true;
                        self.terminate_requested(id);
                    }
                }
                Some(false) => {}
            }
        }
        Ok(())
    }

    /// The cluster's row is gone (its node rows went with it): stop its jobs.
    fn cluster_deleted(&mut self, cluster_id: i64) {
        let names: Vec<String> =
            self.nodes.values().filter(|n| n.cluster_id == cluster_id).map(|n| n.name.clone()).collect();
        for name in names {
            self.nodes.remove(&name);
            self.actions.push(super::Action::RemoveNode(name));
        }
        let cluster_jobs: Vec<i64> = self
            .jobs
            .iter()
            .filter(|(_, e)| !self.clusters.values().any(|c| c.name == e.job.cluster))
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
