//! A multi-node job is not starved by a stream of small ones.

use std::time::Duration;

use super::env::*;

const ROUND: Duration = Duration::from_secs(60);

/// Four nodes, two new 1-node jobs every 10 minutes (30-60 min each, 1 h limit): more work than
/// the cluster can do, so there is always a small job ready to take a node that frees up. A 3-node
/// job arrives among them.
fn stream(sim: &mut Sim, rng: &mut Rng, minute: u64) {
    if minute.is_multiple_of(10) {
        for _ in 0..2 {
            let actual = mins(rng.range(30, 60));
            sim.submit(job().wall(hours(1)), actual);
        }
    }
}

#[test]
fn three_node_job_starts_by_its_first_reservation_under_a_stream_of_one_node_jobs() {
    let mut env = TestEnv::new();
    env.nodes(4);
    let mut sim = Sim::new(env);
    let mut rng = Rng::new(7);
    let mut big = None;
    for minute in 0..48 * 60 {
        stream(&mut sim, &mut rng, minute);
        if minute == 5 {
            big = Some(sim.submit(job().nodes(3).wall(hours(2)), hours(2)));
        }
        sim.round();
        sim.env.advance(ROUND);
    }
    let big = big.unwrap();
    let promised = sim.promised[&big];
    let started = *sim.started.get(&big).expect("the 3-node job must start");
    assert!(started <= promised, "started {started:?} after its reservation {promised:?}");
    // It waited at most for the 1-hour jobs already running when it arrived.
    assert!(started <= START.after(mins(5) + hours(1)), "started at {started:?}");
    // And the stream kept flowing around it: small jobs started while it waited.
    let backfilled = sim.started.iter().filter(|(id, t)| **id > big && **t < started).count();
    assert!(backfilled > 0, "nothing backfilled while the 3-node job waited");
}

#[test]
fn each_of_several_gang_jobs_starts_in_turn_under_the_stream() {
    let mut env = TestEnv::new();
    env.nodes(4);
    let mut sim = Sim::new(env);
    let mut rng = Rng::new(11);
    let mut gangs = Vec::new();
    for minute in 0..72 * 60 {
        stream(&mut sim, &mut rng, minute);
        if minute % 120 == 3 && gangs.len() < 5 {
            gangs.push(sim.submit(job().nodes(rng.range(2, 4) as u32).wall(hours(1)), mins(50)));
        }
        sim.round();
        sim.env.advance(ROUND);
    }
    for gang in gangs {
        let started = sim.started.get(&gang).unwrap_or_else(|| panic!("gang job {} never started", gang.0));
        if let Some(promised) = sim.promised.get(&gang) {
            assert!(started <= promised, "job {} started after its reservation", gang.0);
        }
    }
}
