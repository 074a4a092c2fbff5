//! Wait reasons in words: each names what the user can look at or change, and only the job that
//! holds the reservation gets an expected start.

use super::env::*;
use crate::engine::scheduler::*;

fn name(id: JobId) -> String {
    format!("e/j{}", id.0)
}

fn cluster<'a>(env: &'a TestEnv) -> ClusterView<'a> {
    ClusterView {
        name: "gpu",
        nodes: &env.nodes,
        running: &env.running,
        autoscale: false,
        resizing: false,
        shortfall: None,
    }
}

fn explained(env: &TestEnv, view: &ClusterView<'_>, job: JobId) -> Explanation {
    let s = env.schedule();
    let waiting = s.waiting.iter().find(|w| w.job == job).expect("job waits");
    explain(waiting, &s, view, &name)
}

#[test]
fn first_in_line_names_the_busy_job_and_starts_when_it_must_end() {
    let mut env = TestEnv::new();
    let n = env.nodes(2);
    let holder = env.run(job().nodes(2).wall(hours(3)), &n, START);
    let waiting = env.submit(job());
    let e = explained(&env, &cluster(&env), waiting);
    assert_eq!(
        e.reason,
        format!("needs 1 node of cluster 'gpu'; 2 running (held by job 'e/j{}'); next in line", holder.0)
    );
    assert_eq!(e.expected_start, Some(START.after(hours(3))));
}

#[test]
fn jobs_behind_the_reservation_name_the_job_ahead_and_get_no_time() {
    let mut env = TestEnv::new();
    let n = env.nodes(2);
    env.run(job().wall(hours(3)), &n[0..1], START);
    let head = env.submit(job().nodes(2));
    let long = env.submit(job().wall(hours(5)));
    let pair = env.submit(job().nodes(2));
    let view = cluster(&env);
    let e = explained(&env, &view, long);
    assert_eq!(
        e.reason,
        format!("waiting behind job 'e/j{}', next in line on cluster 'gpu': starting now could delay it", head.0)
    );
    assert_eq!(e.expected_start, None);
    let e = explained(&env, &view, pair);
    assert!(
        e.reason.starts_with("needs 2 nodes of cluster 'gpu'; 1 idle, 1 running (held by job 'e/j1')"),
        "{}",
        e.reason
    );
    assert!(e.reason.ends_with(&format!("; waiting behind job 'e/j{}'", head.0)), "{}", e.reason);
}

#[test]
fn a_growing_cluster_says_so_and_a_stuck_one_says_why() {
    let mut env = TestEnv::new();
    env.nodes(1);
    env.node(NodeState::Preparing);
    env.limit(3);
    let big = env.submit(job().nodes(3));
    let mut view = cluster(&env);
    view.resizing = true;
    assert_eq!(
        explained(&env, &view, big).reason,
        "needs 3 nodes of cluster 'gpu'; 1 idle, 1 preparing; the cluster is resizing"
    );
    view.shortfall = Some("a node of cluster 'gpu' needs 8 GPUs, 0 free on this machine");
    assert_eq!(
        explained(&env, &view, big).reason,
        "needs 3 nodes of cluster 'gpu'; 1 idle, 1 preparing; it cannot grow: a node of cluster 'gpu' needs 8 GPUs, 0 free on this machine"
    );
}

#[test]
fn a_reservation_that_waits_for_a_preparing_node_has_no_time() {
    let mut env = TestEnv::new();
    env.nodes(1);
    env.node(NodeState::Preparing);
    let pair = env.submit(job().nodes(2));
    let e = explained(&env, &cluster(&env), pair);
    assert_eq!(
        e.reason,
        "needs 2 nodes of cluster 'gpu'; 1 idle, 1 preparing; next in line, waiting for a preparing node"
    );
    assert_eq!(e.expected_start, None);
}

#[test]
fn too_large_says_which_setting_to_change() {
    let mut env = TestEnv::new();
    env.nodes(2);
    let big = env.submit(job().nodes(4));
    let mut view = cluster(&env);
    assert_eq!(
        explained(&env, &view, big).reason,
        "needs 4 nodes but cluster 'gpu' is set to 2 nodes: resize it to 4 or more"
    );
    view.autoscale = true;
    assert_eq!(
        explained(&env, &view, big).reason,
        "needs 4 nodes but cluster 'gpu' autoscales to at most 2 nodes: raise its maximum node count to 4 or more"
    );
}

#[test]
fn an_empty_cluster_and_many_holders_read_well() {
    let mut env = TestEnv::new();
    env.limit(1);
    let lone = env.submit(job());
    assert_eq!(explained(&env, &cluster(&env), lone).reason, "needs 1 node of cluster 'gpu'; it has no nodes");

    let mut env = TestEnv::new();
    let n = env.nodes(5);
    for node in &n {
        env.run(job(), &[*node], START);
    }
    let waiting = env.submit(job());
    let e = explained(&env, &cluster(&env), waiting);
    assert_eq!(
        e.reason,
        "needs 1 node of cluster 'gpu'; 5 running (held by jobs 'e/j1', 'e/j2', 'e/j3' and 2 more); next in line"
    );
}

#[test]
fn the_same_situation_later_reads_the_same() {
    // The agent writes a reason only when it changes: time passing must not change it.
    let mut env = TestEnv::new();
    let n = env.nodes(1);
    env.run(job().wall(hours(2)), &n, START);
    let waiting = env.submit(job());
    let first = explained(&env, &cluster(&env), waiting);
    env.advance(mins(30));
    assert_eq!(explained(&env, &cluster(&env), waiting), first);
}
