//! EASY backfill: jobs behind the reservation start only if they cannot delay it.

use super::env::*;
use crate::engine::scheduler::*;

/// Four nodes; node 0 busy until START + 2h, nodes 1 and 2 busy until START + 4h; node 3 idle.
/// A 2-node job is first in line: reserved at +2h with no spare node.
fn reserved_for_two() -> (TestEnv, JobId) {
    let mut env = TestEnv::new();
    let n = env.nodes(4);
    env.run(job().wall(hours(2)), &[n[0]], START);
    env.run(job().nodes(2).wall(hours(4)), &[n[1], n[2]], START);
    let head = env.submit(job().nodes(2));
    (env, head)
}

/// Five nodes; nodes 0-2 busy with one job until START + 2h; nodes 3 and 4 idle.
fn five_with_three_busy() -> TestEnv {
    let mut env = TestEnv::new();
    let n = env.nodes(5);
    env.run(job().nodes(3).wall(hours(2)), &n[0..3], START);
    env
}

#[test]
fn reservation_is_when_enough_nodes_are_certainly_free() {
    let (env, head) = reserved_for_two();
    let s = env.schedule();
    assert_eq!(s.reservation, Some(Reservation { job: head, at: Some(START.after(hours(2))), spare: 0 }));
}

#[test]
fn short_job_backfills_when_it_ends_in_time() {
    let (mut env, _) = reserved_for_two();
    let short = env.submit(job().wall(hours(2)));
    assert_eq!(placed(&env.schedule()), vec![(short, ids(&[3]))]);
}

#[test]
fn long_job_may_not_backfill_without_spare_nodes() {
    let (mut env, head) = reserved_for_two();
    let long = env.submit(job().wall(hours(2) + mins(1)));
    let s = env.schedule();
    assert!(s.placements.is_empty());
    assert_eq!(reason(&s, long), WaitReason::WouldDelay { holder: head });
}

#[test]
fn long_job_backfills_spare_nodes_and_the_reservation_still_holds() {
    let mut env = five_with_three_busy();
    let head = env.submit(job().nodes(3));
    let long = env.submit(job().nodes(2).wall(hours(100)));
    let s = env.schedule();
    // By +2h five nodes are free and the head needs three: two spare.
    assert_eq!(placed(&s), vec![(long, ids(&[3, 4]))]);
    assert_eq!(s.reservation, Some(Reservation { job: head, at: Some(START.after(hours(2))), spare: 0 }));

    env.apply(&s);
    env.advance(hours(2));
    env.finish(env.running[0].id);
    assert_eq!(placed(&env.schedule()), vec![(head, ids(&[0, 1, 2]))]);
}

#[test]
fn spare_nodes_are_used_up_by_long_backfill() {
    let mut env = five_with_three_busy();
    let head = env.submit(job().nodes(4));
    let first = env.submit(job().wall(hours(100)));
    let second = env.submit(job().wall(hours(100)));
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(first, ids(&[3]))]);
    assert_eq!(reason(&s, second), WaitReason::WouldDelay { holder: head });
}

#[test]
fn long_gang_larger_than_the_spare_waits_while_a_short_one_backfills() {
    let mut env = five_with_three_busy();
    let head = env.submit(job().nodes(4));
    let long_pair = env.submit(job().nodes(2).wall(hours(3)));
    let short_pair = env.submit(job().nodes(2).wall(hours(2)));
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(short_pair, ids(&[3, 4]))]);
    assert_eq!(reason(&s, long_pair), WaitReason::WouldDelay { holder: head });
}

#[test]
fn jobs_placed_earlier_in_the_round_count_for_the_reservation() {
    let mut env = TestEnv::new();
    env.nodes(3);
    let first = env.submit(job().wall(hours(5)));
    let second = env.submit(job().wall(hours(1)));
    let head = env.submit(job().nodes(3));
    let s = env.schedule();
    assert_eq!(placed(&s), vec![(first, ids(&[0])), (second, ids(&[1]))]);
    assert_eq!(s.reservation, Some(Reservation { job: head, at: Some(START.after(hours(5))), spare: 0 }));
}

#[test]
fn nothing_backfills_while_the_reservation_waits_for_a_preparing_node() {
    let mut env = TestEnv::new();
    env.nodes(1);
    env.node(NodeState::Preparing);
    let head = env.submit(job().nodes(2));
    let tiny = env.submit(job().wall(mins(1)));
    let s = env.schedule();
    assert_eq!(s.reservation, Some(Reservation { job: head, at: None, spare: 0 }));
    assert!(s.placements.is_empty());
    assert_eq!(reason(&s, tiny), WaitReason::WouldDelay { holder: head });
}

#[test]
fn jobs_behind_the_reservation_without_idle_nodes_are_busy() {
    let (mut env, _) = reserved_for_two();
    let pair = env.submit(job().nodes(2).wall(mins(1)));
    let s = env.schedule();
    assert_eq!(reason(&s, pair), WaitReason::Busy { needed: 2, idle: 1 });
}

#[test]
fn overdue_job_makes_the_reservation_due_now_and_allows_no_backfill() {
    let mut env = TestEnv::new();
    let n = env.nodes(2);
    env.run(job().wall(hours(1)), &[n[0]], START);
    env.advance(hours(3));
    let head = env.submit(job().nodes(2));
    let tiny = env.submit(job().wall(mins(1)));
    let s = env.schedule();
    assert_eq!(s.reservation.as_ref().unwrap().at, Some(env.now));
    assert_eq!(reason(&s, tiny), WaitReason::WouldDelay { holder: head });
}

#[test]
fn only_the_first_blocked_job_holds_a_reservation() {
    let (mut env, head) = reserved_for_two();
    let second_big = env.submit(job().nodes(4));
    let s = env.schedule();
    assert_eq!(reason(&s, second_big), WaitReason::Busy { needed: 4, idle: 1 });
    assert_eq!(s.reservation.unwrap().job, head);
}

#[test]
fn lower_priority_jobs_backfill_around_a_high_priority_reservation() {
    use crate::engine::model::job::SchedulingPriority::{High, Low};
    let (mut env, _) = reserved_for_two();
    env.queued.clear();
    let urgent = env.submit(job().nodes(2).priority(High));
    let filler = env.submit(job().priority(Low).wall(hours(1)));
    let s = env.schedule();
    assert_eq!(s.reservation.as_ref().unwrap().job, urgent);
    assert_eq!(placed(&s), vec![(filler, ids(&[3]))]);
}
