//! Runs as they should go: start, exit, kill escalation, wall clock, a failing rank, requeue when
//! a node is taken away, autoscale, and recovery after an agent crash.

use super::*;
use crate::engine::engines::testing::Effect;

fn one_node_cluster() -> Harness {
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    h
}

#[test]
fn a_job_starts_after_its_commit_and_its_exit_is_acknowledged_after_the_end_is_committed() {
    let mut h = one_node_cluster();
    assert_eq!(h.effects(), vec![Effect::PrepareNode("c-0".into())]);
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "idle".to_string())]);
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    let effects = h.effects();
    assert_eq!(starts(&effects), vec![key.clone()]);
    assert_eq!(h.state("j"), ExecutionState::Running);
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "running".to_string())]);
    h.exit(&key, 0);
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Succeeded, Some(0)));
    assert_eq!(acks(&h.effects()), vec![key]);
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "idle".to_string())]);
}

#[test]
fn terminate_sends_sigterm_then_sigkill_after_the_grace_period() {
    let mut h = one_node_cluster();
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.client.request_terminate("e", "j", h.now().wall).unwrap();
    h.turn();
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
    assert_eq!(h.state("j"), ExecutionState::Terminating);
    h.after(9.0);
    assert!(signals(&h.effects()).is_empty(), "no SIGKILL before the grace period ends");
    h.after(1.0);
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGKILL)]);
    h.after(30.0);
    assert!(signals(&h.effects()).is_empty(), "SIGKILL is sent once");
    h.exit(&key, 128 + libc::SIGKILL);
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "JobTerminated");
}

#[test]
fn the_wall_clock_stops_a_job_at_its_limit() {
    let mut h = one_node_cluster();
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "sleep 100"},
            "constraints": {"maxWallClockTime": "PT30S"}}"#,
    );
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.after(29.0);
    assert!(signals(&h.effects()).is_empty());
    h.after(1.0);
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
    h.exit(&key, 143);
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "MaxWallClockTimeExceeded");
}

#[test]
fn a_failing_rank_decides_the_job_and_the_other_ranks_are_stopped() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "train.py", "processCount": 2}}"#,
    );
    let keys: Vec<String> = (0..2).map(|i| format!("task:{uid}:1:{i}")).collect();
    assert_eq!(starts(&h.effects()), keys);
    h.exit(&keys[1], 3);
    assert_eq!(signals(&h.effects()), vec![(keys[0].clone(), libc::SIGTERM)]);
    assert_eq!(h.state("j"), ExecutionState::Running, "ended only when every rank has");
    h.exit(&keys[0], 143);
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Failed, Some(3)));
}

#[test]
fn a_job_on_a_node_taken_away_is_requeued_and_runs_again_as_a_new_attempt() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    h.submit("a", ONE_NODE);
    let uid = h.submit("b", ONE_NODE);
    h.effects();
    let b_node = h.job("b").execution_info.node_ids.first().cloned().unwrap();
    assert_eq!(b_node, "c-1");
    h.resize("c", 1, DeallocationOption::Requeue);
    let key = format!("task:{uid}:1:0");
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
    h.exit(&key, 143);
    assert_eq!(h.state("b"), ExecutionState::Queued);
    assert!(h.effects().contains(&Effect::ReleaseNode("c-1".into())));
    h.resize("c", 2, DeallocationOption::Requeue);
    assert_eq!(starts(&h.effects()), vec![format!("task:{uid}:2:0")]);
    assert_eq!(h.state("b"), ExecutionState::Running);
}

#[test]
fn autoscale_grows_for_the_queue_and_releases_idle_nodes_after_the_delay() {
    let mut h = Harness::new();
    h.auto_cluster("c", 0, 2);
    assert!(h.node_states().is_empty());
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "t.py", "processCount": 2}}"#,
    );
    assert_eq!(h.node_states().len(), 2);
    assert_eq!(h.state("j"), ExecutionState::Running);
    let effects = h.effects();
    let keys = starts(&effects);
    assert!(!keys.is_empty());
    for key in keys {
        h.exit(&key, 0);
    }
    assert_eq!(h.state("j"), ExecutionState::Succeeded, "{uid}");
    h.after(59.0);
    assert_eq!(h.node_states().len(), 2, "idle nodes stay for the delay");
    h.after(1.0);
    assert!(h.node_states().is_empty());
    let released: Vec<Effect> = h.effects().into_iter().filter(|e| matches!(e, Effect::ReleaseNode(_))).collect();
    assert_eq!(released.len(), 2);
}

#[test]
fn after_an_agent_crash_a_process_that_ended_meanwhile_is_not_started_again() {
    let mut h = one_node_cluster();
    let uid = h.submit("j", ONE_NODE);
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.restart_agent(false, &[], vec![exit(&key, 0)]);
    let effects = h.effects();
    assert!(starts(&effects).is_empty(), "{effects:?}");
    assert_eq!(acks(&effects), vec![key]);
    assert_eq!(h.state("j"), ExecutionState::Succeeded);
}

#[test]
fn after_an_agent_crash_a_running_process_is_adopted_and_its_wall_clock_still_counts() {
    let mut h = one_node_cluster();
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "sleep 100"},
            "constraints": {"maxWallClockTime": "PT60S"}}"#,
    );
    let key = format!("task:{uid}:1:0");
    h.effects();
    h.elapsed += Duration::from_secs(40);
    h.restart_agent(false, &[&key], Vec::new());
    assert!(starts(&h.effects()).is_empty());
    h.after(19.0);
    assert!(signals(&h.effects()).is_empty());
    h.after(1.0);
    assert_eq!(signals(&h.effects()), vec![(key.clone(), libc::SIGTERM)]);
}

#[test]
fn a_launcher_restart_fails_the_running_job_and_kills_its_orphans() {
    let mut h = one_node_cluster();
    let uid = h.submit("j", ONE_NODE);
    h.effects();
    h.restart_agent(true, &[], Vec::new());
    let effects = h.effects();
    assert!(
        effects.iter().any(
            |e| matches!(e, Effect::Signal { signal, marker: Some(m), .. } if *signal == libc::SIGKILL && *m == uid)
        ),
        "{effects:?}"
    );
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "NodeLauncherLost");
}

#[test]
fn mpi_ranks_without_mpirun_fail_the_job_before_anything_starts() {
    // The testing engine has no mpirun, like a machine without Open MPI.
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "customMpiSettings": {"commandLine": "true", "processCount": 4}}"#,
    );
    assert!(starts(&h.effects()).is_empty());
    assert_eq!(h.state("j"), ExecutionState::Failed);
    let errors = h.job("j").execution_info.errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, "MpirunNotFound");
    assert!(errors[0].message.contains("apt-get install openmpi-bin"), "{}", errors[0].message);
}
