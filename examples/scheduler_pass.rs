//! Times one scheduling pass of the pure scheduler over a large cluster state: 100,000 queued
//! jobs and 1,000 nodes by default. Run by `bench/agent_scale.py`, or by hand:
//!
//!     cargo run --release --no-default-features --example scheduler_pass -- [jobs] [nodes] [passes]
//!
//! The state is fixed (a seeded generator), and shaped so that every rule has work to do: 90 % of
//! the nodes are busy with jobs ending at different times, 10 % idle; the queue mixes priorities,
//! gang sizes from 1 to 64 nodes and wall clocks from 1 to 24 hours, so a reservation is taken
//! and the jobs behind it are checked for backfill. Prints one JSON object: the median and the
//! fastest pass in milliseconds, and what the pass decided (so a change in the decisions shows).
//!
//! The agent itself only hands the scheduler the head of each queue (`QUEUE_DEPTH` jobs); this
//! measures the scheduler on the whole queue, the bound on what a pass may cost.

use std::time::{Duration, Instant};

use batchai::engine::model::job::SchedulingPriority;
use batchai::engine::scheduler::{
    JobId, Node, NodeId, NodeState, QueuedJob, RunningJob, SchedulerInput, Time, schedule,
};

/// xorshift64*: deterministic and dependency-free; quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn arg(position: usize, default: usize) -> usize {
    std::env::args().nth(position).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn state(jobs: usize, nodes: usize, now: Time) -> SchedulerInput {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hour = |h: u64| Duration::from_secs(h * 3600);
    let busy = nodes * 9 / 10;
    let mut node_list = Vec::with_capacity(nodes);
    let mut running = Vec::new();
    for n in 0..nodes as u32 {
        let state = if (n as usize) < busy { NodeState::Running } else { NodeState::Idle };
        node_list.push(Node::new(n, state));
    }
    // Busy nodes in gangs of 1 to 4, each gang one running job started up to 12 h ago.
    let mut n = 0u32;
    while (n as usize) < busy {
        let size = (1 + rng.below(4) as u32).min(busy as u32 - n);
        running.push(RunningJob {
            id: JobId(-(running.len() as i64) - 1),
            nodes: (n..n + size).map(NodeId).collect(),
            started: Time(now.micros() - rng.below(12 * 3600) as i64 * 1_000_000),
            max_wall_clock: hour(13 + rng.below(12)),
        });
        n += size;
    }
    let queued = (0..jobs)
        .map(|i| {
            let priority = match rng.below(10) {
                0 => SchedulingPriority::High,
                1 => SchedulingPriority::Low,
                _ => SchedulingPriority::Normal,
            };
            let node_count = match rng.below(100) {
                0 => 64,
                1..=9 => 2 + rng.below(7) as u32,
                _ => 1,
            };
            QueuedJob {
                id: JobId(i as i64 + 1),
                priority,
                submitted: i as u64 + 1,
                node_count,
                max_wall_clock: hour(1 + rng.below(24)),
            }
        })
        .collect();
    SchedulerInput { nodes: node_list, running, queued, node_limit: nodes as u32 }
}

fn main() {
    let (jobs, nodes, passes) = (arg(1, 100_000), arg(2, 1_000), arg(3, 7).max(1));
    let now = Time::from_secs(1_764_620_000);
    let input = state(jobs, nodes, now);
    let mut times = Vec::with_capacity(passes);
    let mut decided = None;
    for _ in 0..passes {
        let start = Instant::now();
        let out = schedule(&input, now);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        decided = Some(out);
    }
    let out = decided.expect("at least one pass");
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"jobs\": {jobs}, \"nodes\": {nodes}, \"passes\": {passes}, \"median_ms\": {:.3}, \"min_ms\": {:.3}, \
         \"placed\": {}, \"waiting\": {}, \"reservation\": {}}}",
        times[times.len() / 2],
        times[0],
        out.placements.len(),
        out.waiting.len(),
        out.reservation.is_some(),
    );
}
