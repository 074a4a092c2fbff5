//! The failures the core must make impossible by construction (each was reproduced with real
//! processes before the core reconciled from the store):
//! - a terminate recorded while the agent is down, or before it has read the job;
//! - a failed commit whose actions (the launcher's acknowledgement above all) went out anyway;
//! - a job deleted while the agent is down, whose processes ran on and whose node stayed busy.

use super::*;
use crate::engine::engines::testing::Effect;

#[test]
fn a_terminate_recorded_before_the_agent_read_the_job_is_acted_on() {
    let mut h = Harness::new();
    h.manual_cluster("c", 0, DeallocationOption::Requeue);
    let spec: JobSpec = serde_json::from_str(ONE_NODE).unwrap();
    // Both commits land between two looks of the agent.
    h.client.create_job("e", "j", &spec, h.now().wall).unwrap();
    h.client.request_terminate("e", "j", h.now().wall).unwrap();
    h.turn();
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "JobTerminated");
}

#[test]
fn a_terminate_recorded_while_the_agent_was_down_is_acted_on_by_the_next_agent() {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    // The agent dies; the terminate is committed while none runs.
    h.client.request_terminate("e", "j", h.now().wall).unwrap();
    h.restart_agent(false, &[&key], Vec::new());
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
    h.exit(&key, 143);
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "JobTerminated");
    // A second request on an ended job changes nothing and does not fail.
    assert!(!h.client.request_terminate("e", "j", h.now().wall).unwrap());
}

#[test]
fn a_terminate_of_a_queued_job_recorded_while_the_agent_was_down_ends_it() {
    let mut h = Harness::new();
    h.manual_cluster("c", 0, DeallocationOption::Requeue);
    h.submit("j", ONE_NODE);
    h.client.request_terminate("e", "j", h.now().wall).unwrap();
    h.restart_agent(false, &[], Vec::new());
    assert_eq!(h.state("j"), ExecutionState::Failed);
}

#[test]
fn a_failed_commit_acts_on_nothing_and_is_committed_before_anything_else() {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    // Another process holds the write lock past the agent's busy timeout.
    let blocker = rusqlite::Connection::open(h.dir.path().join("ws").join("workspace.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    h.exit(&key, 0);
    assert!(h.effects().is_empty(), "no acknowledgement before the exit is committed");
    assert_eq!(h.state("j"), ExecutionState::Running);
    h.after(0.5);
    assert!(h.effects().is_empty());
    blocker.execute_batch("ROLLBACK").unwrap();
    h.after(0.5);
    assert_eq!(h.state("j"), ExecutionState::Succeeded);
    assert_eq!(acks(&h.effects()), vec![key.clone()], "acknowledged once, after the commit");
    // And after a restart nothing runs twice: the launcher's exit was acknowledged, the job is over.
    h.restart_agent(false, &[], Vec::new());
    assert!(starts(&h.effects()).is_empty());
}

#[test]
fn a_crash_between_a_failed_commit_and_its_retry_loses_nothing_and_runs_nothing_twice() {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    let blocker = rusqlite::Connection::open(h.dir.path().join("ws").join("workspace.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    h.exit(&key, 7);
    assert!(h.effects().is_empty());
    blocker.execute_batch("ROLLBACK").unwrap();
    // The agent dies before its retry; the launcher still holds the unacknowledged exit.
    h.restart_agent(false, &[], vec![exit(&key, 7)]);
    let effects = h.effects();
    assert!(starts(&effects).is_empty(), "{effects:?}");
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Failed, Some(7)));
}

#[test]
fn a_job_deleted_while_the_agent_was_down_loses_its_processes_and_its_node() {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.client.delete_job("e", "j").unwrap();
    h.restart_agent(false, &[&key], Vec::new());
    let effects = h.effects();
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Signal { key: k, signal, marker: Some(m) }
            if *k == key && *signal == libc::SIGKILL && *m == uid)),
        "{effects:?}"
    );
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "idle".to_string())]);
    // The next job gets the node.
    let next = h.submit("k", ONE_NODE);
    assert_eq!(starts(&h.effects()), vec![format!("task:{next}:1:0")]);
    // The orphan's exit is acknowledged, not mistaken for anything else.
    h.exit(&key, 137);
    assert_eq!(acks(&h.effects()), vec![key]);
    assert_eq!(h.state("k"), ExecutionState::Running);
}

#[test]
fn a_job_deleted_through_its_experiment_while_running_is_stopped() {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.client.delete_experiment("e").unwrap();
    h.turn();
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
    h.exit(&key, 143);
    assert_eq!(acks(&h.effects()), vec![key]);
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "idle".to_string())]);
}

#[test]
fn queued_jobs_are_kept_without_their_spec() {
    let mut h = Harness::new();
    h.manual_cluster("c", 0, DeallocationOption::Requeue);
    for i in 0..50 {
        h.submit(&format!("j{i}"), ONE_NODE);
    }
    assert!(h.core.jobs.values().all(|e| e.job.detail.is_none()));
    assert_eq!(h.core.queues.values().map(|q| q.len()).sum::<usize>(), 50);
}

#[test]
fn a_replaced_launcher_is_known_from_the_store_not_from_who_started_it() {
    // An agent saw its launcher die, started a new one and was killed before it committed
    // anything; the next agent finds that new launcher running (it did not start it). The store
    // still names the launcher that ran the job: the job's processes are lost, so it fails, and
    // it is never started again on the new launcher.
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    let uid = h.submit("j", ONE_NODE);
    h.effects();
    h.restart_agent_under("another-launcher", false, &[]);
    let effects = h.effects();
    assert!(starts(&effects).is_empty(), "the job ran again: {effects:?}");
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed, "{uid}");
    assert_eq!(job.execution_info.errors[0].code, "NodeLauncherLost");
    // The same launcher again (a plain agent restart) changes nothing.
    let next = h.submit("k", ONE_NODE);
    h.effects();
    h.restart_agent_under("another-launcher", false, &[&format!("task:{next}:1:0")]);
    assert!(starts(&h.effects()).is_empty());
    assert_eq!(h.state("k"), ExecutionState::Running);
}
