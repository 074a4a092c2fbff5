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
fn every_rank_runs_to_its_end_whatever_order_they_finish_in() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "train.py", "processCount": 4}}"#,
    );
    let keys: Vec<String> = (0..4).map(|i| format!("task:{uid}:1:{i}")).collect();
    assert_eq!(starts(&h.effects()), keys);
    h.exit(&keys[0], 0);
    assert!(signals(&h.effects()).is_empty(), "rank 0 ending first stops nobody");
    assert_eq!(h.state("j"), ExecutionState::Running);
    h.after(5.0);
    h.exit(&keys[2], 0);
    h.exit(&keys[1], 0);
    assert_eq!(h.state("j"), ExecutionState::Running);
    h.exit(&keys[3], 0);
    assert!(signals(&h.effects()).is_empty());
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Succeeded, Some(0)));
}

#[test]
fn the_error_of_a_failed_rank_names_the_rank_its_node_and_its_code() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "pyTorchSettings": {"pythonScriptFilePath": "train.py", "processCount": 4}}"#,
    );
    let keys: Vec<String> = (0..4).map(|i| format!("task:{uid}:1:{i}")).collect();
    h.effects();
    h.exit(&keys[0], 0);
    h.exit(&keys[2], 3);
    let stopped: Vec<String> = signals(&h.effects()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(stopped, vec![keys[1].clone(), keys[3].clone()]);
    h.exit(&keys[1], 143);
    h.exit(&keys[3], 143);
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Failed, Some(3)));
    let error = &job.execution_info.errors[0];
    assert!(error.message.contains("rank 2") && error.message.contains("code 3"), "{}", error.message);
    let node = error.details.iter().find(|d| d.name == "nodeId").map(|d| d.value.clone());
    assert!(node.is_some_and(|n| n.starts_with("c-")));
}

#[test]
fn tensorflow_ends_with_master_and_workers_and_then_stops_its_parameter_servers() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    let uid = h.submit(
        "j",
        r#"{"cluster": "c", "nodeCount": 2, "tensorFlowSettings": {"pythonScriptFilePath": "t.py",
            "workerCount": 2, "parameterServerCount": 1}}"#,
    );
    let keys = starts(&h.effects());
    assert_eq!(keys.len(), 3);
    let plan = h.core.jobs.values().find_map(|e| e.run.as_ref()?.plan.clone()).unwrap();
    let ps: Vec<&String> = keys.iter().enumerate().filter(|(i, _)| !plan.must_finish(*i)).map(|(_, k)| k).collect();
    let must: Vec<&String> = keys.iter().enumerate().filter(|(i, _)| plan.must_finish(*i)).map(|(_, k)| k).collect();
    assert_eq!(ps.len(), 1);
    h.exit(must[0], 0);
    assert!(signals(&h.effects()).is_empty(), "the other worker still runs: {uid}");
    h.exit(must[1], 0);
    assert_eq!(signals(&h.effects()), vec![(ps[0].clone(), libc::SIGTERM)]);
    h.exit(ps[0], 143);
    let job = h.job("j");
    assert_eq!((job.execution_state, job.execution_info.exit_code), (ExecutionState::Succeeded, Some(0)));
}

#[test]
fn a_node_is_free_only_once_nothing_of_its_last_job_is_left() {
    let mut h = one_node_cluster();
    h.hold_reaps = true;
    let uid = h.submit("j", ONE_NODE);
    h.effects();
    h.exit(&format!("task:{uid}:1:0"), 0);
    assert_eq!(h.state("j"), ExecutionState::Succeeded, "the job's outcome does not wait");
    assert!(h.effects().contains(&Effect::Reap(uid.clone())));
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "running".to_string())]);
    let next = h.submit("k", ONE_NODE);
    assert!(starts(&h.effects()).is_empty(), "the next job waits for the node");
    // The agent dies before the engine answers: the next agent reaps again before freeing it.
    h.restart_agent(false, &[], Vec::new());
    assert!(h.effects().contains(&Effect::Reap(uid.clone())));
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "running".to_string())]);
    h.core.on_engine(EngineEvent::Reaped { marker: uid });
    h.turn();
    assert_eq!(starts(&h.effects()), vec![format!("task:{next}:1:0")]);
}

#[test]
fn a_job_whose_last_exit_left_nothing_frees_its_node_without_a_reap() {
    let mut h = one_node_cluster();
    h.hold_reaps = true;
    let uid = h.submit("j", ONE_NODE);
    h.effects();
    let mut last = exit(&format!("task:{uid}:1:0"), 0);
    last.rest_gone = true;
    h.core.on_engine(EngineEvent::Exited(last));
    h.turn();
    assert!(!h.effects().iter().any(|e| matches!(e, Effect::Reap(_))));
    assert_eq!(h.node_states(), vec![("c-0".to_string(), "idle".to_string())]);
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

#[test]
fn a_run_whose_engine_lost_its_nodes_is_requeued_and_runs_again() {
    let mut h = one_node_cluster();
    let uid = h.submit("j", ONE_NODE);
    h.effects();
    h.core.advance(h.now());
    h.core.on_engine(EngineEvent::Lost {
        marker: uid.clone(),
        error: "the Slurm job 7 lost its nodes (NODE_FAIL)".into(),
    });
    h.turn();
    let effects = h.effects();
    assert!(signals(&effects).is_empty(), "nothing of the run is left to signal");
    assert_eq!(starts(&effects), vec![format!("task:{uid}:2:0")], "requeued and placed again, as attempt 2");
    assert_eq!(h.state("j"), ExecutionState::Running);
    h.exit(&format!("task:{uid}:2:0"), 0);
    assert_eq!(h.state("j"), ExecutionState::Succeeded);
}

#[test]
fn a_lost_run_fails_when_the_cluster_says_terminate_and_a_terminate_keeps_its_reason() {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Terminate);
    let uid = h.submit("j", ONE_NODE);
    h.core.advance(h.now());
    h.core.on_engine(EngineEvent::Lost {
        marker: uid.clone(),
        error: "the Slurm job 7 lost its nodes (PREEMPTED)".into(),
    });
    h.turn();
    let job = h.job("j");
    assert_eq!(job.execution_state, ExecutionState::Failed);
    assert_eq!(job.execution_info.errors[0].code, "NodeLost");
    assert!(job.execution_info.errors[0].message.contains("PREEMPTED"));
    // A job being terminated when its nodes go stays terminated, not requeued.
    let uid = h.submit("k", ONE_NODE);
    h.client.request_terminate("e", "k", h.now().wall).unwrap();
    h.turn();
    h.core.advance(h.now());
    h.core.on_engine(EngineEvent::Lost { marker: uid, error: "lost".into() });
    h.turn();
    let job = h.job("k");
    assert_eq!(
        (job.execution_state, job.execution_info.errors[0].code.as_str()),
        (ExecutionState::Failed, "JobTerminated")
    );
}

#[test]
fn watchers_of_a_deleted_job_hear_that_it_was_deleted_not_an_outcome() {
    use crate::engine::agent::protocol::{Reply, Request};
    let mut h = one_node_cluster();
    let running = h.submit("r", ONE_NODE);
    let queued = h.submit("q", ONE_NODE); // the one node is taken: it waits
    assert_eq!((h.state("r"), h.state("q")), (ExecutionState::Running, ExecutionState::Queued));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    h.core.on_client(Request::Watch { jobs: vec![running.clone(), queued.clone()] }, tx);
    h.client.delete_job("e", "q").unwrap();
    h.client.delete_job("e", "r").unwrap();
    h.turn();
    h.exit(&format!("task:{running}:1:0"), 128 + libc::SIGTERM);
    h.turn();
    let mut heard = Vec::new();
    while let Ok(reply) = rx.try_recv() {
        heard.push(reply);
    }
    let deleted = |job: &str| Reply::JobEnded { job: job.to_string(), state: "deleted".into() };
    assert_eq!(heard, [deleted(&queued), deleted(&running)]);
}
