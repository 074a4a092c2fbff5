//! TensorFlow jobs: parameter servers and workers, the original distributed TensorFlow.
//!
//! Counts (spec §1.8): `workerCount` defaults to nodeCount; `parameterServerCount` to 1 when the
//! job is distributed (several nodes or workers), else 0. A job left with one process runs only
//! the master with `masterCommandLineArgs`, as Batch AI did, without host lists or `TF_CONFIG`.
//!
//! Otherwise worker 0 is the master (`masterCommandLineArgs`, task type `master` in
//! `TF_CONFIG`), the other workers use `workerCommandLineArgs`, parameter servers
//! `parameterServerCommandLineArgs`. Parameter server `i` runs on node `i` (validation allows at
//! most one per node); workers are spread in blocks. Each process listens on its own port from
//! the reserved block, parameter servers first (`ports[i]`), then workers (`ports[P + j]`):
//! Batch AI used 2222 and up on each VM, which would collide between local nodes.
//!
//! Every process gets `AZ_BATCHAI_PS_HOSTS` and `AZ_BATCHAI_WORKER_HOSTS` (`address:port`,
//! comma-separated, worker 0 first), its `AZ_BATCHAI_TASK_INDEX` (index within its role), and
//! `TF_CONFIG` in Batch AI's shape:
//! `{"cluster":{"ps":[...],"worker":[...]},"task":{"type":"master","index":0},"environment":"cloud"}`
//! (`ps` left out when there is none).

use serde_json::json;

use crate::engine::model::toolkits::TensorFlowSettings;

use super::distribution::block_slots;
use super::env::Env;
use super::plan::{self, ProcessPlan, Program, Role};
use super::{Ctx, Planned};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub workers: u32,
    pub parameter_servers: u32,
}

impl Counts {
    pub fn of(s: &TensorFlowSettings, node_count: u32) -> Counts {
        let workers = s.worker_count.unwrap_or(node_count).max(1);
        let distributed = node_count > 1 || workers > 1;
        Counts { workers, parameter_servers: s.parameter_server_count.unwrap_or(u32::from(distributed)) }
    }

    pub fn processes(&self) -> u32 {
        self.workers + self.parameter_servers
    }

    /// One per process when distributed; none for a master alone.
    pub fn ports(&self) -> usize {
        if self.processes() > 1 { self.processes() as usize } else { 0 }
    }
}

pub(super) fn plan(ctx: &Ctx<'_>, s: &TensorFlowSettings) -> Planned {
    let req = ctx.req;
    let nodes = ctx.node_count();
    let counts = Counts::of(s, req.spec.node_count);
    let line = |args: &Option<String>| ctx.script_line(&s.python_interpreter_path, &s.python_script_file_path, args);
    let mut slots = vec![0u32; nodes];

    if counts.processes() == 1 {
        let mut extra = Env::new();
        extra.set_twin("TASK_INDEX", "0");
        let (stdout, stderr) = plan::task_files(1, 0);
        let master = ProcessPlan {
            node: 0,
            index: 0,
            role: Role::Master,
            program: Program::from_line(&line(&s.master_command_line_args)),
            env: ctx.process_env(0, &extra),
            stdout,
            stderr,
        };
        slots[0] = 1;
        return Planned { processes: vec![master], slots };
    }

    let ps_count = counts.parameter_servers as usize;
    let ps_nodes: Vec<usize> = (0..ps_count).map(|i| i % nodes).collect();
    let worker_slots = block_slots(counts.workers, nodes);
    let host = |node: usize, port: usize| format!("{}:{}", req.nodes[node].address, req.ports[port]);
    let ps_hosts: Vec<String> = ps_nodes.iter().enumerate().map(|(i, &node)| host(node, i)).collect();
    let worker_hosts: Vec<String> = worker_slots.iter().map(|w| host(w.node, ps_count + w.rank as usize)).collect();

    let mut job_env = Env::new();
    job_env.set_twin("PS_HOSTS", ps_hosts.join(","));
    job_env.set_twin("WORKER_HOSTS", worker_hosts.join(","));

    let mut process = |node: usize, index: u32, role: Role, args: &Option<String>| {
        let (task_type, stem) = match role {
            Role::Master => ("master", "wk"),
            Role::Worker => ("worker", "wk"),
            _ => ("ps", "ps"),
        };
        let mut extra = job_env.clone();
        extra.set_twin("TASK_INDEX", index.to_string());
        extra.set("TF_CONFIG", tf_config(&ps_hosts, &worker_hosts, task_type, index));
        let (stdout, stderr) = plan::files(&format!("-{stem}-{index}"));
        slots[node] += 1;
        ProcessPlan {
            node,
            index,
            role,
            program: Program::from_line(&line(args)),
            env: ctx.process_env(node, &extra),
            stdout,
            stderr,
        }
    };

    let mut processes = Vec::with_capacity(counts.processes() as usize);
    for w in &worker_slots {
        let (role, args) = if w.rank == 0 {
            (Role::Master, &s.master_command_line_args)
        } else {
            (Role::Worker, &s.worker_command_line_args)
        };
        processes.push(process(w.node, w.rank, role, args));
    }
    for (i, &node) in ps_nodes.iter().enumerate() {
        processes.push(process(node, i as u32, Role::ParameterServer, &s.parameter_server_command_line_args));
    }
    Planned { processes, slots }
}

fn tf_config(ps: &[String], workers: &[String], task_type: &str, index: u32) -> String {
    let mut cluster = serde_json::Map::new();
    if !ps.is_empty() {
        cluster.insert("ps".into(), json!(ps));
    }
    cluster.insert("worker".into(), json!(workers));
    json!({"cluster": cluster, "task": {"type": task_type, "index": index}, "environment": "cloud"}).to_string()
}
