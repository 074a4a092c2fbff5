//! Nodes: bring each cluster to the node count its scale settings ask for.
//!
//! Every turn, per cluster: the target (manual, or autoscale from the nodes queued and running
//! jobs need), then the scheduler's resize plan (which nodes to create, take back, remove, drain;
//! which jobs to requeue or terminate). New nodes get a slice of the machine and start
//! `preparing`: their folders and cluster volumes are made and the setup task runs; they become
//! `idle` when it succeeds and `unusable` (with the error on the cluster) when it fails.

use std::collections::HashMap;

use super::prepare::engine_missing;
use super::runs::StopReason;
use super::{Action, Core, NodeInfo};
use crate::engine::engines::NodePreparation;
use crate::engine::model::ErrorInfo;
use crate::engine::model::cluster::{AllocationState, DeallocationOption};
use crate::engine::scheduler::slices::Slice;
use crate::engine::scheduler::{
    AUTO_SCALE_DEALLOCATION, JobId, Node, NodeId, NodeState, RunningJob, Time, allocation_state, auto_scale_target,
    plan_resize,
};
use crate::engine::store::{Change, ClusterRow};

impl Core {
    pub(super) fn cluster_nodes(&self, cluster_id: i64) -> Vec<Node> {
        self.nodes
            .values()
            .filter(|n| n.cluster_id == cluster_id)
            .map(|n| Node { id: NodeId(n.number), state: n.state })
            .collect()
    }

    /// The cluster's running jobs as the scheduler sees them.
    pub(super) fn cluster_running(&self, cluster_id: i64) -> Vec<RunningJob> {
        let mut by_job: HashMap<i64, Vec<NodeId>> = HashMap::new();
        for node in self.nodes.values().filter(|n| n.cluster_id == cluster_id) {
            if let Some(job) = node.job {
                by_job.entry(job).or_default().push(NodeId(node.number));
            }
        }
        by_job
            .into_iter()
            .filter_map(|(id, mut nodes)| {
                let entry = self.jobs.get(&id)?;
                nodes.sort();
                Some(RunningJob {
                    id: JobId(id),
                    nodes,
                    started: Time::from_timestamp(entry.job.start_time.unwrap_or(self.now.wall)),
                    max_wall_clock: entry.job.max_wall_clock,
                })
            })
            .collect()
    }

    fn node_by_number(&self, cluster_id: i64, number: u32) -> Option<String> {
        self.nodes.values().find(|n| n.cluster_id == cluster_id && n.number == number).map(|n| n.name.clone())
    }

    fn set_node_state(&mut self, name: &str, state: NodeState) {
        if let Some(node) = self.nodes.get_mut(name)
            && node.state != state
        {
            node.state = state;
            node.since = self.now.wall;
            let job = node.job.and_then(|id| self.jobs.get(&id)).map(|e| e.job.uid.to_string());
            self.changes.push(Change::NodeState { name: name.to_string(), state, job });
        }
    }

    pub(super) fn reconcile_clusters(&mut self) {
        // Each pass decides afresh when autoscale must look again.
        if self.autoscale_check.is_some_and(|at| at <= self.now.instant) {
            self.autoscale_check = None;
        }
        let ids: Vec<i64> = self.clusters.keys().copied().collect();
        for cluster_id in ids {
            self.reconcile_cluster(cluster_id);
        }
    }

    fn reconcile_cluster(&mut self, cluster_id: i64) {
        let cluster = self.clusters[&cluster_id].clone();
        let nodes = self.cluster_nodes(cluster_id);
        let running = self.cluster_running(cluster_id);
        let settings = &cluster.spec.scale_settings;
        let (target, option) = match (&settings.manual, &settings.auto_scale) {
            (Some(manual), _) => (manual.target_node_count, manual.node_deallocation_option),
            (None, Some(auto)) => {
                let running_nodes: u32 = running.iter().map(|j| j.nodes.len() as u32).sum();
                // Demand past the maximum changes nothing: stop counting there.
                let mut demand = running_nodes;
                let queued: Vec<u32> = self
                    .queues
                    .get(cluster.name.as_str())
                    .into_iter()
                    .flatten()
                    .filter_map(|(_, id)| self.jobs.get(id))
                    .map(|e| e.job.node_count)
                    .filter(|n| *n <= auto.maximum_node_count)
                    .take_while(|n| {
                        let more = demand < auto.maximum_node_count;
                        demand = demand.saturating_add(*n);
                        more
                    })
                    .collect();
                let target = auto_scale_target(auto.minimum_node_count, auto.maximum_node_count, running_nodes, queued);
                (self.delayed_scale_down(&cluster, &nodes, target), AUTO_SCALE_DEALLOCATION)
            }
            (None, None) => (0, DeallocationOption::Requeue),
        };
        let plan = plan_resize(&nodes, &running, target, option);
        let mut errors: Vec<ErrorInfo> = Vec::new();
        for number in plan.remove {
            if let Some(name) = self.node_by_number(cluster_id, number.0) {
                self.nodes.remove(&name);
                self.node_errors.remove(&name);
                self.changes.push(Change::NodeRemoved { name: name.clone() });
                self.actions.push(Action::ReleaseNode { engine: cluster.spec.engine, name });
            }
        }
        for number in plan.reclaim {
            if let Some(name) = self.node_by_number(cluster_id, number.0) {
                let busy = self.nodes[&name].job.is_some();
                self.set_node_state(&name, if busy { NodeState::Running } else { NodeState::Idle });
            }
        }
        for number in plan.mark_leaving {
            if let Some(name) = self.node_by_number(cluster_id, number.0) {
                self.set_node_state(&name, NodeState::Leaving);
            }
        }
        for JobId(id) in plan.requeue {
            self.stop_run(id, StopReason::Requeue);
        }
        for JobId(id) in plan.terminate {
            let error =
                ErrorInfo::new("JobTerminatedByResize", "the cluster shrank with nodeDeallocationOption 'terminate'");
            self.stop_run(id, StopReason::Failed(error));
        }
        for number in plan.create {
            let live: Vec<Slice> = self
                .nodes
                .values()
                .map(|n| Slice { cpus: n.cpus.clone(), gpus: n.gpus.clone(), memory_mb: n.memory_mb })
                .collect();
            let provided = match self.engines.get(cluster.spec.engine) {
                Some(engine) => engine.provide_node(&cluster.spec.node_shape, &live),
                None => Err(engine_missing(cluster.spec.engine).message),
            };
            match provided {
                Ok(slice) => {
                    let name = format!("{}-{}", cluster.name, number.0);
                    self.changes.push(Change::NodeAdded {
                        cluster_id,
                        name: name.clone(),
                        state: NodeState::Preparing,
                        cpus: slice.cpus.clone(),
                        gpus: slice.gpus.clone(),
                        memory_mb: slice.memory_mb,
                    });
                    self.nodes.insert(
                        name.clone(),
                        NodeInfo {
                            name: name.clone(),
                            number: number.0,
                            cluster_id,
                            state: NodeState::Preparing,
                            cpus: slice.cpus,
                            gpus: slice.gpus,
                            memory_mb: slice.memory_mb,
                            job: None,
                            since: self.now.wall,
                            reaping: None,
                        },
                    );
                    self.actions.push(Action::PrepareNode(name));
                }
                Err(no_fit) => {
                    errors.push(ErrorInfo::new(
                        "InsufficientResources",
                        format!("a node of cluster '{}' {no_fit}", cluster.name),
                    ));
                    break;
                }
            }
        }
        let after = self.cluster_nodes(cluster_id);
        let resizing = allocation_state(&after, target) == AllocationState::Resizing;
        if resizing != self.clusters[&cluster_id].allocation_resizing {
            self.clusters.get_mut(&cluster_id).expect("present").allocation_resizing = resizing;
            self.changes.push(Change::ClusterAllocation { id: cluster_id, resizing });
        }
        match errors.pop() {
            Some(error) => self.capacity_errors.insert(cluster_id, error),
            None => self.capacity_errors.remove(&cluster_id),
        };
        self.sync_cluster_errors(cluster_id);
    }

    /// Autoscale as Batch AI's periodic evaluation behaved: a new cluster keeps its initial nodes
    /// for a while, and a node is released only after being idle for a while, so a wave of jobs
    /// does not tear down and rebuild nodes (and rerun their setup tasks) between jobs.
    fn delayed_scale_down(&mut self, cluster: &ClusterRow, nodes: &[Node], target: u32) -> u32 {
        let now = self.now.wall;
        let delay = chrono::Duration::from_std(self.settings.autoscale_delay).unwrap_or_default();
        let mut target = target;
        let mut next_check: Option<chrono::DateTime<chrono::Utc>> = None;
        if let Some(auto) = &cluster.spec.scale_settings.auto_scale {
            let initial = auto.initial_node_count.unwrap_or(auto.minimum_node_count);
            if now < cluster.created + delay {
                target = target.max(initial);
                next_check = Some(cluster.created + delay);
            }
        }
        let live = nodes.iter().filter(|n| n.state != NodeState::Leaving).count() as u32;
        if target < live {
            // Only nodes no job holds can go, and idle ones only once idle long enough.
            let mut releasable = 0;
            for node in self.nodes.values().filter(|n| n.cluster_id == cluster.id && n.job.is_none()) {
                match node.state {
                    NodeState::Idle if now < node.since + delay => {
                        next_check = Some(next_check.map_or(node.since + delay, |c| c.min(node.since + delay)));
                    }
                    NodeState::Idle | NodeState::Unusable | NodeState::Preparing => releasable += 1,
                    _ => {}
                }
            }
            target = target.max(live.saturating_sub(releasable));
        }
        if let Some(at) = next_check {
            let wait = (at - now).to_std().unwrap_or_default();
            let check = self.now.instant + wait;
            self.autoscale_check = Some(self.autoscale_check.map_or(check, |c| c.min(check)));
        }
        target
    }

    /// The cluster's errors are derived, not accumulated: the current capacity shortfall plus one
    /// entry per unusable node. Written only when they change.
    pub(super) fn sync_cluster_errors(&mut self, cluster_id: i64) {
        let mut errors: Vec<ErrorInfo> = self.capacity_errors.get(&cluster_id).cloned().into_iter().collect();
        for node in self.nodes.values().filter(|n| n.cluster_id == cluster_id) {
            if let Some(error) = self.node_errors.get(&node.name) {
                errors.push(error.clone());
            }
        }
        let current = self.cluster_errors.entry(cluster_id).or_default();
        if *current != errors {
            *current = errors.clone();
            self.changes.push(Change::ClusterErrors { id: cluster_id, errors });
        }
    }

    /// After the node is committed: the engine makes it usable (folders, cluster volumes, the
    /// setup task); it is idle at once when there is nothing to run.
    pub(super) fn prepare_node(&mut self, name: &str) {
        let Some(node) = self.nodes.get(name).cloned() else { return };
        let Some(cluster) = self.clusters.get(&node.cluster_id).cloned() else { return };
        let setup = cluster.spec.node_setup.clone().unwrap_or_default();
        let servers = if setup.mount_volumes.is_some() { self.file_server_folders() } else { HashMap::new() };
        // A setup task never runs without its secrets: an unreadable store fails the node.
        let secrets = match setup.setup_task.as_ref().map(|_| self.store.cluster_secrets(&cluster.name)) {
            None => Vec::new(),
            Some(Ok(secrets)) => secrets,
            Some(Err(e)) => {
                return self.node_setup_failed(&node, ErrorInfo::new("SecretsUnavailable", e.to_string()));
            }
        };
        let Some(engine) = self.engines.get_mut(cluster.spec.engine) else {
            return self.node_setup_failed(&node, engine_missing(cluster.spec.engine));
        };
        let request = NodePreparation {
            workspace: &self.workspace,
            cluster: &cluster.name,
            cluster_uid: &cluster.uid,
            node: name,
            cpus: &node.cpus,
            gpus: &node.gpus,
            setup: &setup,
            secrets,
            file_servers: &servers,
        };
        match engine.prepare_node(request) {
            Ok(true) => {
                self.procs.insert(format!("setup:{name}"), super::Proc::Starting);
            }
            Ok(false) => self.set_node_state(name, NodeState::Idle),
            Err(error) => self.node_setup_failed(&node, error),
        }
    }

    pub(super) fn node_setup_failed(&mut self, node: &NodeInfo, error: ErrorInfo) {
        self.set_node_state(&node.name, NodeState::Unusable);
        self.node_errors.insert(node.name.clone(), error.with_detail("nodeId", node.name.clone()));
        self.sync_cluster_errors(node.cluster_id);
    }

    /// The setup process of a node ended.
    pub(super) fn setup_exited(&mut self, name: &str, exit_code: i32) {
        let Some(node) = self.nodes.get(name).cloned() else { return };
        if node.state != NodeState::Preparing {
            return;
        }
        if exit_code == 0 {
            self.set_node_state(name, NodeState::Idle);
        } else {
            let error = ErrorInfo::new("SetupTaskFailed", format!("the setup task exited with code {exit_code}"))
                .with_detail("exitCode", exit_code.to_string());
            self.node_setup_failed(&node, error);
        }
    }

    pub(super) fn file_server_folders(&mut self) -> HashMap<String, String> {
        self.store
            .file_servers()
            .map(|servers| servers.into_iter().map(|s| (s.name, s.mount_settings.mount_point)).collect())
            .unwrap_or_default()
    }
}
