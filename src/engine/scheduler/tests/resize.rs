//! Resizing: which nodes come, go or drain, and what happens to their jobs.

use std::time::Duration;

use super::env::*;
use crate::engine::model::NodeState::*;
use crate::engine::model::cluster::DeallocationOption::{self, Requeue, Terminate, Waitforjobcompletion};
use crate::engine::scheduler::*;

fn cluster(states: &[NodeState]) -> Vec<Node> {
    states.iter().enumerate().map(|(i, s)| Node::new(i as u32, *s)).collect()
}

fn running(id: i64, nodes: &[u32], started_h: u64, wall: Duration) -> RunningJob {
    RunningJob { id: JobId(id), nodes: ids(nodes), started: START.after(hours(started_h)), max_wall_clock: wall }
}

fn plan(nodes: &[Node], jobs: &[RunningJob], target: u32, option: DeallocationOption) -> ResizePlan {
    plan_resize(nodes, jobs, target, option)
}

#[test]
fn growing_an_empty_cluster_creates_ids_from_zero() {
    let p = plan(&[], &[], 3, Requeue);
    assert_eq!(p, ResizePlan { create: ids(&[0, 1, 2]), ..ResizePlan::default() });
}

#[test]
fn new_nodes_take_the_lowest_unused_ids() {
    let nodes = vec![Node::new(1, Idle), Node::new(3, Running)];
    let jobs = [running(1, &[3], 0, hours(1))];
    assert_eq!(plan(&nodes, &jobs, 5, Requeue).create, ids(&[0, 2, 4]));
}

#[test]
fn growing_takes_leaving_nodes_back_before_creating() {
    let nodes = cluster(&[Idle, Leaving, Leaving]);
    let jobs = [running(1, &[2], 0, hours(1))];
    let p = plan(&nodes, &jobs, 2, Requeue);
    assert_eq!(p.reclaim, ids(&[1]));
    assert!(p.create.is_empty());
    // Node 2 stays leaving: its job still holds it, so it is not removed yet either.
    assert!(p.remove.is_empty());

    let p = plan(&nodes, &jobs, 4, Requeue);
    assert_eq!((p.reclaim, p.create), (ids(&[1, 2]), ids(&[3])));
}

#[test]
fn shrinking_removes_unusable_then_preparing_then_idle_highest_ids_first() {
    let nodes = cluster(&[Idle, Preparing, Unusable, Idle, Preparing, Running]);
    let jobs = [running(1, &[5], 0, hours(1))];
    assert_eq!(plan(&nodes, &jobs, 5, Requeue).remove, ids(&[2]));
    assert_eq!(plan(&nodes, &jobs, 3, Requeue).remove, ids(&[2, 4, 1]));
    assert_eq!(plan(&nodes, &jobs, 1, Requeue).remove, ids(&[2, 4, 1, 3, 0]));
    assert!(plan(&nodes, &jobs, 1, Requeue).requeue.is_empty(), "free nodes sufficed");
}

#[test]
fn requeue_stops_the_newest_job_and_drains_its_nodes() {
    let nodes = cluster(&[Running, Running, Running]);
    let jobs = [running(1, &[0], 0, hours(9)), running(2, &[1, 2], 1, hours(9))];
    let p = plan(&nodes, &jobs, 2, Requeue);
    // Job 2 started last: it loses one node, so it is requeued as a whole; its other node simply
    // becomes idle once it stops.
    assert_eq!(p.mark_leaving, ids(&[2]));
    assert_eq!(p.requeue, vec![JobId(2)]);
    assert!(p.terminate.is_empty() && p.remove.is_empty());
}

#[test]
fn terminate_stops_jobs_for_good() {
    let nodes = cluster(&[Running, Running, Idle]);
    let jobs = [running(1, &[0], 0, hours(9)), running(2, &[1], 1, hours(9))];
    let p = plan(&nodes, &jobs, 1, Terminate);
    assert_eq!(p.remove, ids(&[2]));
    assert_eq!(p.mark_leaving, ids(&[1]));
    assert_eq!(p.terminate, vec![JobId(2)]);
    assert!(p.requeue.is_empty());
}

#[test]
fn shrinking_further_takes_more_jobs() {
    let nodes = cluster(&[Running, Running, Running, Running]);
    let jobs = [running(1, &[0, 1], 0, hours(9)), running(2, &[2], 2, hours(9)), running(3, &[3], 1, hours(9))];
    let p = plan(&nodes, &jobs, 1, Requeue);
    assert_eq!(p.requeue, vec![JobId(2), JobId(3), JobId(1)]);
    assert_eq!(p.mark_leaving, ids(&[2, 3, 1]));
}

#[test]
fn shrinking_to_zero_stops_everything() {
    let nodes = cluster(&[Running, Running, Idle]);
    let jobs = [running(1, &[0, 1], 0, hours(9))];
    let p = plan(&nodes, &jobs, 0, Terminate);
    assert_eq!(p.remove, ids(&[2]));
    assert_eq!(p.mark_leaving, ids(&[1, 0]));
    assert_eq!(p.terminate, vec![JobId(1)]);
}

#[test]
fn waitforjobcompletion_drains_nodes_of_the_jobs_ending_soonest_and_stops_nothing() {
    let nodes = cluster(&[Running, Running, Running]);
    let jobs = [running(1, &[0], 0, hours(9)), running(2, &[1, 2], 0, hours(2))];
    let p = plan(&nodes, &jobs, 1, Waitforjobcompletion);
    assert_eq!(p.mark_leaving, ids(&[2, 1]));
    assert!(p.requeue.is_empty() && p.terminate.is_empty() && p.remove.is_empty());
}

#[test]
fn leaving_nodes_go_once_no_job_holds_them_and_do_not_count_as_live() {
    // After a waitforjobcompletion shrink to 1: node 1 still runs its job, node 2's job ended.
    let nodes = cluster(&[Running, Leaving, Leaving]);
    let jobs = [running(1, &[0], 0, hours(9)), running(2, &[1], 0, hours(9))];
    let p = plan(&nodes, &jobs, 1, Waitforjobcompletion);
    assert_eq!(p, ResizePlan { remove: ids(&[2]), ..ResizePlan::default() });
}

#[test]
fn a_node_counted_in_two_jobs_is_drained_once() {
    let nodes = cluster(&[Running, Running]);
    let jobs = [running(1, &[0, 1], 1, hours(9)), running(2, &[1], 0, hours(9))];
    let p = plan(&nodes, &jobs, 0, Requeue);
    assert_eq!(p.mark_leaving, ids(&[1, 0]));
    assert_eq!(p.requeue, vec![JobId(1)]);
}

#[test]
fn at_target_nothing_changes() {
    let nodes = cluster(&[Idle, Running, Unusable]);
    let jobs = [running(1, &[1], 0, hours(1))];
    for option in [Requeue, Terminate, Waitforjobcompletion] {
        assert_eq!(plan(&nodes, &jobs, 3, option), ResizePlan::default());
    }
}
