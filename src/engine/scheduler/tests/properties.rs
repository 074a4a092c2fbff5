//! Seeded random workloads: every round keeps the invariants (checked in [`Sim::round`]), every
//! runnable job finishes, and no reservation is ever broken.

use std::time::Duration;

use super::env::*;
use crate::engine::model::job::SchedulingPriority::{self, High, Low, Normal};
use crate::engine::scheduler::*;

fn priority(rng: &mut Rng) -> SchedulingPriority {
    [Low, Normal, High][rng.range(0, 2) as usize]
}

/// A random job: 1 to `max_nodes` nodes, 10 min to 5 h limit, running for part of it.
fn random_job(rng: &mut Rng, max_nodes: u32, p: SchedulingPriority) -> (JobBuilder, Duration) {
    let wall = rng.range(10, 300);
    let actual = rng.range(1, wall);
    (job().nodes(rng.range(1, max_nodes as u64) as u32).priority(p).wall(mins(wall)), mins(actual))
}

fn run_workload(seed: u64) {
    let mut rng = Rng::new(seed);
    let mut env = TestEnv::new();
    let size = rng.range(1, 8) as u32;
    env.nodes(size);
    if rng.range(0, 3) == 0 {
        env.node(NodeState::Unusable);
    }
    env.limit(size + 1);
    let mut sim = Sim::new(env);
    let mut runnable = Vec::new();
    for _ in 0..rng.range(5, 30) {
        let p = priority(&mut rng);
        let (job, actual) = random_job(&mut rng, size + 2, p);
        let id = sim.submit(job, actual);
        runnable.push((id, job_fits(&sim, id, size)));
    }
    // Later arrivals are low priority, so they never overtake a reservation: every promise must
    // then be kept.
    let mut arrivals: Vec<Time> = (0..rng.range(0, 30)).map(|_| START.after(mins(rng.range(1, 600)))).collect();
    arrivals.sort_by_key(|t| std::cmp::Reverse(*t));
    loop {
        while arrivals.last().is_some_and(|t| *t <= sim.env.now) {
            arrivals.pop();
            let (job, actual) = random_job(&mut rng, size, Low);
            runnable.push((sim.submit(job, actual), true));
        }
        let s = sim.round();
        let next = [sim.next_finish(), arrivals.last().copied()].into_iter().flatten().min();
        let Some(next) = next else {
            // Nothing runs and nothing arrives: only jobs that can never run may be left.
            assert!(
                s.waiting
                    .iter()
                    .all(|w| matches!(w.reason, WaitReason::TooLarge { .. } | WaitReason::NotEnoughNodes { .. })),
                "seed {seed}: stuck with {:?}",
                s.waiting
            );
            break;
        };
        sim.env.now = next;
    }
    for (id, fits) in runnable {
        assert_eq!(sim.started.contains_key(&id), fits, "seed {seed}: job {} start vs fit", id.0);
    }
    for (id, promised) in &sim.promised {
        assert!(sim.started[id] <= *promised, "seed {seed}: job {} started after its reservation", id.0);
    }
}

fn job_fits(sim: &Sim, id: JobId, usable: u32) -> bool {
    sim.env.queued.iter().find(|q| q.id == id).unwrap().nodes_needed() <= usable
}

#[test]
fn random_workloads_keep_every_invariant() {
    for seed in 0..300 {
        run_workload(seed);
    }
}

#[test]
fn the_same_input_gives_the_same_schedule() {
    let mut rng = Rng::new(99);
    let mut env = TestEnv::new();
    env.nodes(6);
    for _ in 0..40 {
        let p = priority(&mut rng);
        let (job, _) = random_job(&mut rng, 6, p);
        env.submit(job);
    }
    let first = env.schedule();
    // Input order must not matter: the scheduler sorts the queue itself.
    env.queued.reverse();
    env.nodes.reverse();
    assert_eq!(env.schedule(), first);
}
