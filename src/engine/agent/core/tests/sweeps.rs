//! Sweeps driven by the core: trials created with their jobs, metrics read from the trials'
//! metrics folders and stored once, stop decisions committed before the signal, and everything
//! resumed from the store by a new agent.

use std::io::Write;

use super::*;
use crate::engine::model::sweep::{SweepSpec, SweepState, TrialStatus};

fn sweep_spec(policy: Option<serde_json::Value>, values: &[f64], concurrent: u32) -> SweepSpec {
    let mut spec = serde_json::json!({
        "searchSpace": {"lr": {"type": "choice", "values": values}},
        "sampler": {"type": "grid"},
        "metric": "loss",
        "trial": {"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "train --lr ${{search_space.lr}}"}},
        "maxTrials": values.len(),
        "maxConcurrentTrials": concurrent,
    });
    if let Some(policy) = policy {
        spec["policy"] = policy;
    }
    serde_json::from_value(spec).unwrap()
}

/// A harness with a two-node cluster and a sweep `s` created by a client.
fn sweeping(spec: SweepSpec) -> Harness {
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    h.effects();
    h.client.create_sweep("e", "s", &spec, false, h.now().wall).unwrap();
    h.turn();
    h
}

fn key(h: &mut Harness, job: &str) -> String {
    format!("task:{}:1:0", h.job(job).uid)
}

/// Append metric lines to a trial job's metrics folder, as `batchai.log_metric` would.
fn log(h: &mut Harness, job: &str, values: &[f64]) {
    let job = h.job(job);
    let stdouterr = &job.execution_info.output_paths["stdouterr"];
    let dir = crate::engine::metrics::metrics_dir(std::path::Path::new(stdouterr));
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("h-1.jsonl")).unwrap();
    let time = h.now().wall.timestamp_micros() as f64 / 1e6;
    for v in values {
        writeln!(file, r#"{{"name": "loss", "value": {v}, "time": {time}}}"#).unwrap();
    }
}

fn trials(h: &mut Harness) -> Vec<(u64, TrialStatus, Option<String>)> {
    let id = h.client.sweep("e", "s").unwrap().id;
    h.client.sweep_trials(id).unwrap().into_iter().map(|t| (t.trial, t.status, t.reason)).collect()
}

#[test]
fn trials_run_up_to_the_limits_and_a_new_agent_resumes_without_repeating_any() {
    let mut h = sweeping(sweep_spec(None, &[1.0, 2.0, 3.0], 2));
    let started = starts(&h.effects());
    assert_eq!(started.len(), 2, "two trials at a time");
    assert_eq!(h.state("s-0"), ExecutionState::Running);
    let spec = h.job("s-1").spec;
    assert_eq!(spec.custom_toolkit_settings.unwrap().command_line.unwrap(), "train --lr 2.0");
    log(&mut h, "s-0", &[0.5, -0.25, 0.1]);
    let k0 = key(&mut h, "s-0");
    h.exit(&k0, 0);
    assert_eq!(trials(&mut h)[0].1, TrialStatus::Completed);
    assert_eq!(starts(&h.effects()).len(), 1, "the third trial takes the free slot");
    let id = h.client.sweep("e", "s").unwrap().id;
    let stored: Vec<f64> = h.client.sweep_points(id, Some(0), None).unwrap().iter().map(|p| p.value).collect();
    assert_eq!(stored, [0.5, -0.25, 0.1]);

    // The agent dies with trials 1 and 2 running; trial 1 logged meanwhile.
    log(&mut h, "s-1", &[0.7]);
    let (k1, k2) = (key(&mut h, "s-1"), key(&mut h, "s-2"));
    h.restart_agent(false, &[&k1, &k2], Vec::new());
    log(&mut h, "s-1", &[0.6]);
    h.exit(&k1, 0);
    assert!(starts(&h.effects()).is_empty(), "max_trials reached: nothing more, nothing twice");
    let points: Vec<(u64, f64)> =
        h.client.sweep_points(id, Some(1), None).unwrap().iter().map(|p| (p.interval, p.value)).collect();
    assert_eq!(points, [(1, 0.7), (2, 0.6)], "each line stored once, across the restart");
    h.exit(&k2, 5);
    let sweep = h.client.sweep("e", "s").unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    assert_eq!(sweep.reason.as_deref(), Some("max_trials (3) reached"));
    let outcomes: Vec<TrialStatus> = trials(&mut h).into_iter().map(|t| t.1).collect();
    assert_eq!(outcomes, [TrialStatus::Completed, TrialStatus::Completed, TrialStatus::Failed]);
    assert_eq!(h.client.jobs(Some("e")).unwrap().len(), 3);
}

#[test]
fn a_stop_is_committed_before_its_signal_and_a_new_agent_sends_it_again() {
    let bandit =
        serde_json::json!({"type": "bandit", "slack_amount": 0.0, "evaluation_interval": 1, "delay_evaluation": 0});
    let mut h = sweeping(sweep_spec(Some(bandit), &[1.0, 2.0], 2));
    h.effects();
    log(&mut h, "s-0", &[1.0]);
    h.after(0.05);
    log(&mut h, "s-1", &[-1.0]);
    h.after(0.05);
    log(&mut h, "s-0", &[2.0]);
    h.after(0.05);
    let k0 = key(&mut h, "s-0");
    assert_eq!(signals(&h.effects()), vec![(k0.clone(), libc::SIGTERM)]);
    let (trial, status, reason) = trials(&mut h).remove(0);
    assert_eq!((trial, status), (0, TrialStatus::Stopped));
    assert!(reason.unwrap().starts_with("BanditPolicy: loss 1"), "the reason names the policy and the values");
    // The agent dies before the job is gone: the new one stops it again (the outcome is state).
    let k1 = key(&mut h, "s-1");
    h.restart_agent(false, &[&k0, &k1], Vec::new());
    h.after(0.05);
    assert!(signals(&h.effects()).contains(&(k0.clone(), libc::SIGTERM)), "stopped again after the restart");
    h.exit(&k0, 128 + libc::SIGTERM);
    assert_eq!(trials(&mut h)[0].1, TrialStatus::Stopped, "a stopped trial is not a failed one");
    h.exit(&k1, 0);
    assert_eq!(trials(&mut h)[1].1, TrialStatus::Completed);
    assert_eq!(h.client.sweep("e", "s").unwrap().state, SweepState::Completed);
}

#[test]
fn a_trial_whose_job_ended_while_no_agent_ran_is_decided_from_the_store() {
    let mut h = sweeping(sweep_spec(None, &[1.0], 1));
    log(&mut h, "s-0", &[0.3, 0.2]);
    let k0 = key(&mut h, "s-0");
    // The job exits while the agent is down; the launcher reports it in its Hello.
    h.restart_agent(false, &[], vec![exit(&k0, 0)]);
    let (_, status, _) = trials(&mut h).remove(0);
    assert_eq!(status, TrialStatus::Completed);
    let id = h.client.sweep("e", "s").unwrap().id;
    assert_eq!(h.client.sweep_points(id, None, None).unwrap().len(), 2);
    assert_eq!(h.client.sweep("e", "s").unwrap().state, SweepState::Completed);
}

#[test]
fn cancelling_a_sweep_cancels_queued_and_running_trials() {
    let mut h = sweeping(sweep_spec(None, &[1.0, 2.0, 3.0], 3));
    // Two nodes: two trials run, one waits.
    assert_eq!(h.state("s-2"), ExecutionState::Queued);
    h.effects();
    assert!(h.client.request_sweep_cancel("e", "s", h.now().wall).unwrap());
    h.turn();
    let (k0, k1) = (key(&mut h, "s-0"), key(&mut h, "s-1"));
    let mut signalled: Vec<String> = signals(&h.effects()).into_iter().map(|(k, _)| k).collect();
    signalled.sort();
    let mut expected = vec![k0.clone(), k1.clone()];
    expected.sort();
    assert_eq!(signalled, expected);
    assert_eq!(h.state("s-2"), ExecutionState::Failed, "the queued trial's job never starts");
    h.exit(&k0, 143);
    h.exit(&k1, 143);
    let statuses: Vec<TrialStatus> = trials(&mut h).into_iter().map(|t| t.1).collect();
    assert_eq!(statuses, [TrialStatus::Cancelled; 3]);
    let sweep = h.client.sweep("e", "s").unwrap();
    assert_eq!((sweep.state, sweep.reason.as_deref()), (SweepState::Cancelled, Some("cancelled by the user")));
}

#[test]
fn a_trial_whose_job_is_deleted_or_terminated_is_cancelled_and_the_sweep_goes_on() {
    let mut spec = sweep_spec(None, &[1.0, 2.0, 3.0, 4.0], 3);
    spec.max_trials = 4;
    let mut h = sweeping(spec);
    assert_eq!(h.state("s-2"), ExecutionState::Queued, "two nodes: the third trial waits");
    h.client.delete_job("e", "s-2").unwrap();
    h.turn();
    h.client.request_terminate("e", "s-0", h.now().wall).unwrap();
    h.turn();
    let k0 = key(&mut h, "s-0");
    h.exit(&k0, 143);
    let found = trials(&mut h);
    assert_eq!(found[0], (0, TrialStatus::Cancelled, Some("its job was terminated".into())));
    assert_eq!(found[2], (2, TrialStatus::Cancelled, Some("its job was deleted".into())));
    assert_eq!(found.len(), 4, "the freed slots went to the last trial");
    assert_eq!(h.client.sweep("e", "s").unwrap().state, SweepState::Running);
}

#[test]
fn a_sweep_timeout_cancels_its_trials_and_a_waiting_sweep_sleeps_until_it() {
    let mut spec = sweep_spec(None, &[1.0, 2.0, 3.0], 3);
    spec.timeout = Some(5.0);
    let mut h = Harness::new();
    h.manual_cluster("c", 2, DeallocationOption::Requeue);
    h.client.create_sweep("e", "s", &spec, false, h.now().wall).unwrap();
    h.turn();
    // Two trials run (the metrics poll is due soon); the third waits for a node.
    assert_eq!(h.state("s-2"), ExecutionState::Queued);
    let soon = h.core.next_deadline().unwrap();
    assert!(soon <= h.now().instant + std::time::Duration::from_millis(20), "polls while trials run");
    h.effects();
    h.after(5.0);
    let (k0, k1) = (key(&mut h, "s-0"), key(&mut h, "s-1"));
    let signalled: Vec<String> = signals(&h.effects()).into_iter().map(|(k, _)| k).collect();
    assert!(signalled.contains(&k0) && signalled.contains(&k1), "{signalled:?}");
    h.exit(&k0, 143);
    h.exit(&k1, 143);
    let statuses: Vec<TrialStatus> = trials(&mut h).into_iter().map(|t| t.1).collect();
    assert_eq!(statuses, [TrialStatus::Cancelled; 3]);
    let sweep = h.client.sweep("e", "s").unwrap();
    assert_eq!(sweep.state, SweepState::Completed);
    assert_eq!(sweep.reason.as_deref(), Some("its timeout of 5 s was reached"));
}

#[test]
fn a_sweep_whose_trials_only_wait_does_not_poll() {
    let mut spec = sweep_spec(None, &[1.0], 1);
    spec.timeout = Some(600.0);
    let mut h = Harness::new();
    h.manual_cluster("c", 1, DeallocationOption::Requeue);
    h.submit("blocker", ONE_NODE); // holds the only node
    h.client.create_sweep("e", "s", &spec, false, h.now().wall).unwrap();
    h.turn();
    assert_eq!(h.state("s-0"), ExecutionState::Queued);
    let next = h.core.next_deadline().unwrap();
    assert!(next >= h.now().instant + std::time::Duration::from_secs(599), "wakes for the timeout only");
}

#[test]
fn a_diverged_metric_stops_its_trial_even_without_a_policy() {
    let mut h = sweeping(sweep_spec(None, &[1.0], 1));
    h.effects();
    log(&mut h, "s-0", &[0.5]);
    h.after(0.05);
    let dir = {
        let job = h.job("s-0");
        crate::engine::metrics::metrics_dir(std::path::Path::new(&job.execution_info.output_paths["stdouterr"]))
    };
    let mut file = std::fs::OpenOptions::new().append(true).open(dir.join("h-1.jsonl")).unwrap();
    writeln!(file, r#"{{"name": "loss", "value": "nan", "time": 1}}"#).unwrap();
    h.after(0.05);
    let k0 = key(&mut h, "s-0");
    assert_eq!(signals(&h.effects()), vec![(k0, libc::SIGTERM)]);
    let (_, status, reason) = trials(&mut h).remove(0);
    assert_eq!(status, TrialStatus::Stopped);
    assert!(reason.unwrap().starts_with("diverged: loss is NaN"));
}
