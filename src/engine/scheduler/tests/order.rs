//! Queue order, gang scheduling and which nodes may take a job.

use super::env::*;
use crate::engine::model::job::SchedulingPriority::{High, Low, Normal};
use crate::engine::scheduler::*;

#[test]
fn higher_priority_starts_first_whatever_the_submission_order() {
    let mut env = TestEnv::new();
    env.nodes(1);
    let low = env.submit(job().priority(Low));
    let normal = env.submit(job().priority(Normal));
    let high = env.submit(job().priority(High));
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(high, ids(&[0]))]);
    // The normal job holds the reservation; the low one waits behind it.
    assert!(matches!(reason(&s, normal), WaitReason::Reserved { .. }));
    assert_eq!(queue_order(&env.queued).iter().map(|q| q.id).collect::<Vec<_>>(), vec![high, normal, low]);
}

#[test]
fn same_priority_is_first_come_first_served() {
    let mut env = TestEnv::new();
    env.nodes(2);
    let first = env.submit(job());
    let second = env.submit(job());
    let third = env.submit(job());
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(first, ids(&[0])), (second, ids(&[1]))]);
    assert_eq!(s.waiting.iter().map(|w| w.job).collect::<Vec<_>>(), vec![third]);
}

#[test]
fn submission_number_not_id_decides_ties() {
    // A requeued job keeps its old submission number and goes back ahead of later jobs.
    let mut env = TestEnv::new();
    env.nodes(1);
    let newer = env.submit(job());
    let requeued = env.submit(job());
    env.queued[1].submitted = 0;
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(requeued, ids(&[0]))]);
    assert!(matches!(reason(&s, newer), WaitReason::Reserved { .. }));
}

#[test]
fn gang_job_starts_only_with_all_its_nodes() {
    let mut env = TestEnv::new();
    let n = env.nodes(3);
    env.run(job(), &[n[0]], START);
    let gang = env.submit(job().nodes(3));
    let s = env.schedule();
    assert!(s.placements.is_empty(), "two idle nodes must not start a 3-node job: {s:?}");
    assert_eq!(reason(&s, gang), WaitReason::Reserved { at: Some(START.after(hours(1))) });

    env.finish(env.running[0].id);
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(gang, ids(&[0, 1, 2]))]);
}

#[test]
fn nodes_are_chosen_lowest_id_first() {
    let mut env = TestEnv::new();
    let n = env.nodes(5);
    env.run(job(), &[n[1]], START);
    let a = env.submit(job().nodes(2));
    let b = env.submit(job().nodes(2));
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(a, ids(&[0, 2])), (b, ids(&[3, 4]))]);
}

#[test]
fn preparing_unusable_and_leaving_nodes_take_no_job() {
    let mut env = TestEnv::new();
    env.node(NodeState::Preparing);
    env.node(NodeState::Unusable);
    env.node(NodeState::Leaving);
    let idle = env.node(NodeState::Idle);
    let a = env.submit(job());
    let b = env.submit(job());
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(a, vec![idle])]);
    // b waits for a's node: the preparing node's time is unknown, a's end is known.
    assert_eq!(reason(&s, b), WaitReason::Reserved { at: Some(START.after(hours(1))) });
}

#[test]
fn a_node_held_by_a_running_job_is_not_idle_whatever_its_state_says() {
    let mut env = TestEnv::new();
    let n = env.nodes(1);
    env.run(job(), &n, START);
    env.set_state(n[0], NodeState::Idle);
    let j = env.submit(job());
    let s = env.schedule();
    assert!(s.placements.is_empty());
    assert!(matches!(reason(&s, j), WaitReason::Reserved { .. }));
}

#[test]
fn too_large_job_is_reported_and_does_not_block_the_queue() {
    let mut env = TestEnv::new();
    env.nodes(2);
    env.limit(2);
    let huge = env.submit(job().nodes(3).priority(High));
    let small = env.submit(job().wall(hours(500)));
    let s = env.schedule();
    assert_eq!(reason(&s, huge), WaitReason::TooLarge { needed: 3, max: 2 });
    assert_eq!(placed(&s), vec![(small, ids(&[0]))]);
    assert_eq!(s.reservation, None);
}

#[test]
fn job_larger_than_the_serving_nodes_holds_no_reservation() {
    // Target 4, but one node is unusable: no time can be promised to a 4-node job, so it must not
    // hold nodes the 2-node job behind it can use.
    let mut env = TestEnv::new();
    env.nodes(3);
    env.node(NodeState::Unusable);
    let big = env.submit(job().nodes(4));
    let next = env.submit(job().nodes(2).wall(hours(100)));
    let s = env.schedule();
    assert_eq!(reason(&s, big), WaitReason::NotEnoughNodes { needed: 4, usable: 3 });
    assert_eq!(placed(&s), vec![(next, ids(&[0, 1]))]);
}

#[test]
fn zero_node_job_takes_one_node() {
    let mut env = TestEnv::new();
    env.nodes(2);
    let j = env.submit(job().nodes(0));
    assert_eq!(placed(&env.schedule()), vec![(j, ids(&[0]))]);
}

#[test]
fn empty_cluster_reports_every_job_waiting() {
    let mut env = TestEnv::new();
    env.limit(4);
    let j = env.submit(job().nodes(2));
    let s = env.schedule();
    assert_eq!(reason(&s, j), WaitReason::NotEnoughNodes { needed: 2, usable: 0 });
    assert!(s.placements.is_empty());
}
