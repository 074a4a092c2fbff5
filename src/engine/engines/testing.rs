//! An engine for the core's unit tests: no processes, no folders. Every effect is recorded in a
//! journal the test reads; what the engine would report later (a process exited) the test feeds
//! back as [`EngineEvent`]s. Queries answer from a fixed machine, so tests are deterministic.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{Engine, Launch, NodePreparation, NodeSite, RunFiles};
use crate::engine::model::cluster::NodeShape;
use crate::engine::model::{EngineKind, ErrorInfo};
use crate::engine::scheduler::slices::{Machine, Slice, SlicePolicy, allocate_slice};
use crate::engine::toolkits::{Mpirun, NodePaths};

/// One recorded effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    PrepareNode(String),
    ReleaseNode(String),
    PrepareRun { job_temps: usize, fresh: bool },
    Start(String),
    Signal { key: String, signal: i32, marker: Option<String> },
    Ack(String),
    Reap(String),
    RemoveFiles(PathBuf),
}

/// What the test sees and steers; shared with the engine inside the core.
#[derive(Default)]
pub struct Journal {
    pub effects: Vec<Effect>,
    /// Nodes whose preparation runs a setup task (`setup:<node>`); others are ready at once.
    pub setup_nodes: BTreeSet<String>,
    /// `prepare_run` fails with this error while set.
    pub fail_prepare_run: Option<ErrorInfo>,
}

impl Journal {
    pub fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}

pub struct TestEngine {
    machine: Machine,
    pub journal: Rc<RefCell<Journal>>,
}

impl TestEngine {
    pub fn new(cpus: u32, gpus: u32) -> TestEngine {
        TestEngine {
            machine: Machine {
                cpus: (0..cpus).collect(),
                gpus: (0..gpus).collect(),
                memory_mb: 64 * 1024,
                ..Default::default()
            },
            journal: Rc::default(),
        }
    }

    fn record(&self, effect: Effect) {
        self.journal.borrow_mut().effects.push(effect);
    }
}

impl Engine for TestEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Local
    }

    fn provide_node(&self, shape: &NodeShape, live: &[Slice]) -> Result<Slice, String> {
        allocate_slice(&self.machine, live, shape, SlicePolicy { share_cpus: true }).map_err(|e| e.to_string())
    }

    fn cpus(&self) -> Vec<u32> {
        self.machine.cpus.clone()
    }

    fn gpus(&self) -> Vec<u32> {
        self.machine.gpus.clone()
    }

    fn gpu_names(&self, gpus: &[u32]) -> Vec<String> {
        gpus.iter().map(u32::to_string).collect()
    }

    fn node_site(&self, node: &str) -> NodeSite {
        let root = PathBuf::from("/test/nodes").join(node);
        NodeSite {
            address: "127.0.0.1".into(),
            paths: NodePaths {
                mount_root: root.join("mounts").display().to_string(),
                job_mount_root: root.join("temp/mounts").display().to_string(),
                job_temp: root.join("temp").display().to_string(),
                job_temp_root: root.join("jobs").display().to_string(),
            },
            host_file: root.join("hostfile"),
            root,
        }
    }

    fn node_env(&self, node: &str, gpus: &[u32]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = crate::engine::scheduler::gpu_env(&self.gpu_names(gpus))
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        env.push(("BATCHAI_NODE_ID".into(), node.to_string()));
        env
    }

    fn shared_job_temp(&self, uid: &str) -> PathBuf {
        PathBuf::from("/test/shared").join(uid)
    }

    fn default_output_root(&self) -> PathBuf {
        PathBuf::from("/test/outputs")
    }

    fn mpirun(&self) -> Option<&Mpirun> {
        None
    }

    fn prepare_node(&mut self, request: NodePreparation<'_>) -> Result<bool, ErrorInfo> {
        self.record(Effect::PrepareNode(request.node.to_string()));
        Ok(self.journal.borrow().setup_nodes.contains(request.node))
    }

    fn release_node(&mut self, node: &str) {
        self.record(Effect::ReleaseNode(node.to_string()));
    }

    fn prepare_run(&mut self, files: RunFiles<'_>, fresh: bool) -> Result<Vec<String>, ErrorInfo> {
        self.record(Effect::PrepareRun { job_temps: files.job_temps.len(), fresh });
        match self.journal.borrow().fail_prepare_run.clone() {
            Some(error) => Err(error),
            None => Ok(Vec::new()),
        }
    }

    fn start(&mut self, launch: Launch) {
        self.record(Effect::Start(launch.key));
    }

    fn signal(&mut self, key: &str, signal: i32, marker: Option<&str>) {
        self.record(Effect::Signal { key: key.to_string(), signal, marker: marker.map(str::to_string) });
    }

    fn reap(&mut self, marker: &str) {
        self.record(Effect::Reap(marker.to_string()));
    }

    fn acknowledge(&mut self, keys: Vec<String>) {
        for key in keys {
            self.record(Effect::Ack(key));
        }
    }

    fn remove_files(&mut self, path: &Path) {
        self.record(Effect::RemoveFiles(path.to_path_buf()));
    }
}
