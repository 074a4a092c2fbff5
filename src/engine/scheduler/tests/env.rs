//! Builders for scheduler tests, in the style of HyperQueue's `tako` test environment.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::model::job::SchedulingPriority;
use crate::engine::scheduler::*;

pub const START: Time = Time::from_secs(1_000_000);

pub fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

pub fn ids(ids: &[u32]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

/// A job to submit or run: one node, normal priority, one hour, unless told otherwise.
#[derive(Debug, Clone, Copy)]
pub struct JobBuilder {
    nodes: u32,
    priority: SchedulingPriority,
    wall: Duration,
}

pub fn job() -> JobBuilder {
    JobBuilder { nodes: 1, priority: SchedulingPriority::Normal, wall: hours(1) }
}

impl JobBuilder {
    pub fn nodes(mut self, n: u32) -> Self {
        self.nodes = n;
        self
    }
    pub fn priority(mut self, p: SchedulingPriority) -> Self {
        self.priority = p;
        self
    }
    pub fn wall(mut self, d: Duration) -> Self {
        self.wall = d;
        self
    }
}

pub struct TestEnv {
    pub now: Time,
    pub nodes: Vec<Node>,
    pub running: Vec<RunningJob>,
    pub queued: Vec<QueuedJob>,
    limit: Option<u32>,
    next_job: i64,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv { now: START, nodes: Vec::new(), running: Vec::new(), queued: Vec::new(), limit: None, next_job: 1 }
    }

    /// `n` idle nodes, ids continuing from the last.
    pub fn nodes(&mut self, n: u32) -> Vec<NodeId> {
        (0..n).map(|_| self.node(NodeState::Idle)).collect()
    }

    pub fn node(&mut self, state: NodeState) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node { id, state });
        id
    }

    pub fn set_state(&mut self, id: NodeId, state: NodeState) {
        self.nodes.iter_mut().find(|n| n.id == id).expect("known node").state = state;
    }

    /// The cluster's node limit; the node count when not set.
    pub fn limit(&mut self, n: u32) {
        self.limit = Some(n);
    }

    pub fn submit(&mut self, job: JobBuilder) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.queued.push(QueuedJob {
            id,
            priority: job.priority,
            submitted: id.0 as u64,
            node_count: job.nodes,
            max_wall_clock: job.wall,
        });
        id
    }

    /// A job already running on `on` since `started`.
    pub fn run(&mut self, job: JobBuilder, on: &[NodeId], started: Time) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        for n in on {
            self.set_state(*n, NodeState::Running);
        }
        self.running.push(RunningJob { id, nodes: on.to_vec(), started, max_wall_clock: job.wall });
        id
    }

    pub fn input(&self) -> SchedulerInput {
        SchedulerInput {
            nodes: self.nodes.clone(),
            running: self.running.clone(),
            queued: self.queued.clone(),
            node_limit: self.limit.unwrap_or(self.nodes.len() as u32),
        }
    }

    pub fn schedule(&self) -> Schedule {
        schedule(&self.input(), self.now)
    }

    /// Start the placements: queued → running, nodes → running.
    pub fn apply(&mut self, schedule: &Schedule) {
        for p in &schedule.placements {
            let at = self.queued.iter().position(|q| q.id == p.job).expect("placed job was queued");
            let q = self.queued.remove(at);
            for n in &p.nodes {
                let node = self.nodes.iter_mut().find(|x| x.id == *n).unwrap();
                assert_eq!(node.state, NodeState::Idle, "{} placed on a {} node", p.job.0, node.state);
                node.state = NodeState::Running;
            }
            self.running.push(RunningJob {
                id: q.id,
                nodes: p.nodes.clone(),
                started: self.now,
                max_wall_clock: q.max_wall_clock,
            });
        }
    }

    pub fn finish(&mut self, job: JobId) {
        let at = self.running.iter().position(|r| r.id == job).expect("job is running");
        let done = self.running.remove(at);
        for n in done.nodes {
            self.set_state(n, NodeState::Idle);
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.after(by);
    }
}

/// The placements of a schedule as `(job, nodes)`.
pub fn placed(s: &Schedule) -> Vec<(JobId, Vec<NodeId>)> {
    s.placements.iter().map(|p| (p.job, p.nodes.clone())).collect()
}

pub fn reason(s: &Schedule, job: JobId) -> WaitReason {
    s.waiting.iter().find(|w| w.job == job).unwrap_or_else(|| panic!("job {} is not waiting", job.0)).reason
}

/// A TestEnv driven through many rounds: jobs run for an actual duration (at most their wall
/// clock) and free their nodes when it has passed.
pub struct Sim {
    pub env: TestEnv,
    actual: BTreeMap<JobId, Duration>,
    pub started: BTreeMap<JobId, Time>,
    /// The first reservation time each job was promised.
    pub promised: BTreeMap<JobId, Time>,
}

impl Sim {
    pub fn new(env: TestEnv) -> Sim {
        Sim { env, actual: BTreeMap::new(), started: BTreeMap::new(), promised: BTreeMap::new() }
    }

    pub fn submit(&mut self, job: JobBuilder, actual: Duration) -> JobId {
        let id = self.env.submit(job);
        self.actual.insert(id, actual);
        id
    }

    /// Finish what is due, schedule, start; checks the invariants every round must keep.
    pub fn round(&mut self) -> Schedule {
        let now = self.env.now;
        let due: Vec<JobId> =
            self.env.running.iter().filter(|r| r.started.after(self.actual[&r.id]) <= now).map(|r| r.id).collect();
        for id in due {
            self.env.finish(id);
        }
        let schedule = self.env.schedule();
        check_round(&self.env.input(), &schedule);
        if let Some(Reservation { job, at: Some(at), .. }) = &schedule.reservation {
            self.promised.entry(*job).or_insert(*at);
        }
        for p in &schedule.placements {
            self.started.insert(p.job, now);
        }
        self.env.apply(&schedule);
        schedule
    }

    /// When the next running job finishes, if any.
    pub fn next_finish(&self) -> Option<Time> {
        self.env.running.iter().map(|r| r.started.after(self.actual[&r.id])).min()
    }
}

/// Invariants of any schedule: every placement is on distinct idle nodes no running job holds,
/// no node is given twice, each gang gets exactly its node count, and every queued job is either
/// placed or waiting, once.
pub fn check_round(input: &SchedulerInput, s: &Schedule) {
    let held: Vec<NodeId> = input.running.iter().flat_map(|r| r.nodes.clone()).collect();
    let mut given: Vec<NodeId> = Vec::new();
    for p in &s.placements {
        let q = input.queued.iter().find(|q| q.id == p.job).expect("placed job is queued");
        assert_eq!(p.nodes.len() as u32, q.nodes_needed(), "gang size of job {}", p.job.0);
        for n in &p.nodes {
            let node = input.nodes.iter().find(|x| x.id == *n).expect("placed on a known node");
            assert_eq!(node.state, NodeState::Idle, "job {} on {n}", p.job.0);
            assert!(!held.contains(n), "{n} is held by a running job");
            assert!(!given.contains(n), "{n} given twice");
            given.push(*n);
        }
    }
    let mut seen: Vec<JobId> = s.placements.iter().map(|p| p.job).chain(s.waiting.iter().map(|w| w.job)).collect();
    seen.sort();
    let mut queued: Vec<JobId> = input.queued.iter().map(|q| q.id).collect();
    queued.sort();
    assert_eq!(seen, queued, "each queued job placed or waiting exactly once");
}

/// SplitMix64: a tiny seeded generator, so property tests replay exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}
