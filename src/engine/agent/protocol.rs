//! Messages between clients and the agent: one JSON object per line on the agent's socket.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Something changed in the store: look. Answered once the agent has acted on it.
    Wake,
    /// Answer `JobEnded` for each job (by uid) once it has ended or was deleted.
    Watch {
        jobs: Vec<String>,
    },
    Status,
    /// Carry out the deletion the store records (the workspace is `deleting`): answered with
    /// `Deleted` once no process of the workspace runs and its files are gone; the agent then
    /// exits, closing the connection.
    AwaitDeletion,
    /// Stop the agent; running jobs stay with the supervisor and are picked up by the next agent.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub pid: i32,
    pub supervisor_pid: i32,
    pub started: String,
    pub queued_jobs: usize,
    pub running_jobs: usize,
    pub nodes: usize,
    /// Processes started and not yet ended (jobs' and nodes' setup tasks).
    pub processes: usize,
    /// How a job's processes are kept together so that a kill reaches all of them:
    /// `cgroup-v2` (every descendant, whatever it does) or `process-tree` (process groups,
    /// sessions and the `BATCHAI_JOB_UID` marker; a descendant that leaves its session and
    /// clears its environment escapes it).
    #[serde(default)]
    pub containment: String,
    /// The CPUs the agent may give nodes (its affinity mask).
    #[serde(default)]
    pub cpus: Vec<u32>,
    /// The GPUs it may give nodes, as jobs see them in `CUDA_VISIBLE_DEVICES`: numbers, UUIDs
    /// (`GPU-...`) or MIG instances (`MIG-...`).
    #[serde(default)]
    pub gpus: Vec<String>,
    /// Reply channels held for `watch` requests (one per waiting connection and job).
    #[serde(default)]
    pub watchers: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Reply {
    Awake,
    /// `state` is the final execution state, or `deleted`.
    JobEnded {
        job: String,
        state: String,
    },
    Status(AgentStatus),
    Stopping,
    /// The workspace is deleted (see `Request::AwaitDeletion`).
    Deleted,
    Error {
        message: String,
    },
}
