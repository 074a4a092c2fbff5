//! The reconciler core driven by events and an injected clock, against a real SQLite file and
//! the recording [`TestEngine`]: no processes, deterministic. A [`Harness`] plays the agent's
//! shell (time, engine events, turns) and the clients (a second store connection that commits
//! jobs, terminate requests and deletions, as other processes would).

mod failures;
mod lifecycle;
mod secrets;
mod sweeps;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Core, Now, Settings};
use crate::engine::agent::daemon::Options;
use crate::engine::engines::testing::{Effect, Journal, TestEngine};
use crate::engine::engines::{EngineEvent, Engines};
use crate::engine::launcher::protocol::Exit;
use crate::engine::model::cluster::{AutoScaleSettings, DeallocationOption, ManualScaleSettings, ScaleSettings};
use crate::engine::model::{ClusterSpec, ExecutionState, Job, JobSpec, Timestamp};
use crate::engine::paths::Layout;
use crate::engine::store::Store;

pub(super) struct Harness {
    pub dir: tempfile::TempDir,
    /// The clients' connection.
    pub client: Store,
    pub core: Core,
    pub journal: Rc<RefCell<Journal>>,
    origin: Instant,
    wall_origin: Timestamp,
    pub elapsed: Duration,
    /// Leave reaps unanswered (to see what waits for them).
    pub hold_reaps: bool,
    answered: Vec<String>,
}

pub(super) fn settings() -> Settings {
    Settings {
        grace: Duration::from_secs(10),
        autoscale_delay: Duration::from_secs(60),
        commit_retry: Duration::from_secs(1),
    }
}

impl Harness {
    /// A workspace with experiment `e`, and an agent that has heard its engine's Hello.
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("ws"));
        let wall_origin = crate::engine::store::testing::at(0);
        let mut client = Store::create(layout, "ws", &Default::default(), wall_origin).unwrap();
        client.create_experiment("e", wall_origin).unwrap();
        let journal = Rc::new(RefCell::new(Journal::default()));
        let origin = Instant::now();
        let core = open_core(&dir, &journal, Now { instant: origin, wall: wall_origin });
        let mut harness = Harness {
            dir,
            client,
            core,
            journal,
            origin,
            wall_origin,
            elapsed: Duration::ZERO,
            hold_reaps: false,
            answered: Vec::new(),
        };
        harness.hello(false, &[], Vec::new());
        harness
    }

    pub fn now(&self) -> Now {
        Now { instant: self.origin + self.elapsed, wall: self.wall_origin + self.elapsed }
    }

    /// Let time pass, then take a turn.
    pub fn after(&mut self, seconds: f64) {
        self.elapsed += Duration::from_secs_f64(seconds);
        self.turn();
    }

    /// A turn; then, unless `hold_reaps`, the engine answers every reap at once (nothing was
    /// left of the job) and the core takes that turn too.
    pub fn turn(&mut self) {
        let now = self.now();
        self.core.advance(now);
        self.core.turn();
        while !self.hold_reaps {
            let reaps: Vec<String> = self
                .journal
                .borrow()
                .effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Reap(marker) => Some(marker.clone()),
                    _ => None,
                })
                .filter(|m| !self.answered.contains(m))
                .collect();
            if reaps.is_empty() {
                break;
            }
            for marker in reaps {
                self.answered.push(marker.clone());
                self.core.on_engine(EngineEvent::Reaped { marker });
            }
            self.core.turn();
        }
    }

    pub fn hello(&mut self, fresh: bool, running: &[&str], exited: Vec<Exit>) {
        let now = self.now();
        self.core.advance(now);
        let running = running.iter().map(|k| k.to_string()).collect();
        let instance = if fresh { format!("launcher-{}", self.elapsed.as_nanos()) } else { "launcher".into() };
        self.core.on_engine(EngineEvent::Hello { fresh, running, exited, containment: "test".into(), instance });
        self.turn();
    }

    /// The agent dies (nothing in memory survives) and a new one starts over the same store.
    pub fn restart_agent(&mut self, fresh: bool, running: &[&str], exited: Vec<Exit>) {
        self.core = open_core(&self.dir, &self.journal, self.now());
        self.hello(fresh, running, exited);
    }

    /// As `restart_agent`, with the launcher saying who it is (`fresh` is what the agent thinks).
    pub fn restart_agent_under(&mut self, instance: &str, fresh: bool, running: &[&str]) {
        self.core = open_core(&self.dir, &self.journal, self.now());
        let now = self.now();
        self.core.advance(now);
        let running = running.iter().map(|k| k.to_string()).collect();
        let instance = instance.to_string();
        self.core.on_engine(EngineEvent::Hello {
            fresh,
            running,
            exited: Vec::new(),
            containment: "test".into(),
            instance,
        });
        self.turn();
    }

    pub fn exit(&mut self, key: &str, code: i32) {
        let now = self.now();
        self.core.advance(now);
        self.core.on_engine(EngineEvent::Exited(exit(key, code)));
        self.turn();
    }

    pub fn effects(&mut self) -> Vec<Effect> {
        self.journal.borrow_mut().take()
    }

    pub fn manual_cluster(&mut self, name: &str, nodes: u32, option: DeallocationOption) {
        let mut spec = ClusterSpec::default();
        spec.node_shape.cpus = 1;
        spec.scale_settings = ScaleSettings {
            manual: Some(ManualScaleSettings { target_node_count: nodes, node_deallocation_option: option }),
            auto_scale: None,
        };
        self.client.create_cluster(name, &spec, self.now().wall).unwrap();
        self.turn();
    }

    pub fn auto_cluster(&mut self, name: &str, min: u32, max: u32) {
        let mut spec = ClusterSpec::default();
        spec.node_shape.cpus = 1;
        spec.scale_settings = ScaleSettings {
            manual: None,
            auto_scale: Some(AutoScaleSettings {
                minimum_node_count: min,
                maximum_node_count: max,
                initial_node_count: None,
            }),
        };
        self.client.create_cluster(name, &spec, self.now().wall).unwrap();
        self.turn();
    }

    pub fn resize(&mut self, name: &str, nodes: u32, option: DeallocationOption) {
        let settings = ScaleSettings {
            manual: Some(ManualScaleSettings { target_node_count: nodes, node_deallocation_option: option }),
            auto_scale: None,
        };
        self.client.set_scale_settings(name, &settings, self.now().wall).unwrap();
        self.turn();
    }

    /// Submit a job (as a client: commit, then wake) and return its uid.
    pub fn submit(&mut self, name: &str, json: &str) -> String {
        let spec: JobSpec = serde_json::from_str(json).unwrap();
        let job = self.client.create_job("e", name, &spec, self.now().wall).unwrap();
        self.turn();
        job.uid.clone()
    }

    pub fn job(&mut self, name: &str) -> Job {
        self.client.job("e", name).unwrap()
    }

    pub fn state(&mut self, name: &str) -> ExecutionState {
        self.job(name).execution_state
    }

    pub fn node_states(&mut self) -> Vec<(String, String)> {
        self.client.nodes(None).unwrap().into_iter().map(|n| (n.name, n.state.as_str().to_string())).collect()
    }
}

fn open_core(dir: &tempfile::TempDir, journal: &Rc<RefCell<Journal>>, now: Now) -> Core {
    let mut store = Store::open(Layout::new(dir.path().join("ws"))).unwrap();
    // A held write lock fails a commit quickly instead of after the real 60 s.
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let mut engine = TestEngine::new(4, 0);
    engine.journal = journal.clone();
    let engines = Engines::default().with(Box::new(engine));
    Core::open(store, engines, Options { python: "python3".into(), core_module: None }, settings(), now).unwrap()
}

pub(super) fn exit(key: &str, code: i32) -> Exit {
    Exit {
        key: key.to_string(),
        pid: 100,
        code: Some(code),
        signal: None,
        end_us: 0,
        rest_gone: false,
        engine_stop: false,
    }
}

pub(super) const ONE_NODE: &str =
    r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}"#;

pub(super) fn starts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Start(key) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn signals(effects: &[Effect]) -> Vec<(String, i32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Signal { key, signal, .. } => Some((key.clone(), *signal)),
            _ => None,
        })
        .collect()
}

pub(super) fn acks(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Ack(key) => Some(key.clone()),
            _ => None,
        })
        .collect()
}
