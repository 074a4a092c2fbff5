//! The use cases on real SQLite files, with an agent that cannot start: a commit is the
//! operation, and never turns into an error when the agent cannot be reached.

use crate::engine::api::as_is;
use std::time::{Duration, Instant};

use super::{Kind, Workspace};
use crate::engine::Error;
use crate::engine::agent::client::Launcher;

fn broken_workspace(dir: &std::path::Path) -> Workspace {
    let broken = Launcher { program: "/bin/false".into(), args: Vec::new() };
    let mut ws = Workspace::create_workspace(dir.join("ws"), "ws", "{}", broken).unwrap();
    ws.set_wake_patience(Duration::from_millis(200));
    ws
}

#[test]
fn changes_are_committed_even_when_no_agent_can_be_woken() {
    let dir = tempfile::tempdir().unwrap();
    let ws = broken_workspace(dir.path());
    let cluster =
        ws.create(Kind::Cluster, None, "c", r#"{"scaleSettings": {"manual": {"targetNodeCount": 1}}}"#, &as_is);
    assert_eq!(cluster.unwrap().0["name"], "c");
    ws.create(Kind::Experiment, None, "e", "{}", &as_is).unwrap();
    let job = ws.create(
        Kind::Job,
        Some("e"),
        "j",
        r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "true"}}"#,
        &as_is,
    );
    assert_eq!(job.unwrap().0["properties"]["executionState"], "queued");
    assert!(ws.terminate_job("e", "j").unwrap());
    ws.delete(Kind::Job, Some("e"), "j").unwrap();
    assert!(matches!(ws.get(Kind::Job, Some("e"), "j"), Err(Error::NotFound { .. })));
    // A retry of the create is refused for the right reason: it exists.
    assert!(matches!(ws.create(Kind::Experiment, None, "e", "{}", &as_is), Err(Error::AlreadyExists { .. })));
}

#[test]
fn an_idle_workspace_is_deleted_without_starting_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let ws = broken_workspace(dir.path());
    ws.create(Kind::Experiment, None, "e", "{}", &as_is).unwrap();
    std::fs::write(dir.path().join("ws").join("notes.txt"), "mine").unwrap();
    let started = Instant::now();
    ws.delete_workspace(Duration::from_secs(5)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "an agent that cannot start was waited for");
    let left: Vec<String> = std::fs::read_dir(dir.path().join("ws"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["notes.txt"]);
}

#[test]
fn kinds_and_batch_sizes_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ws = broken_workspace(dir.path());
    let Err(Error::Validation(e)) = Kind::parse("node") else { panic!("node is no resource kind") };
    assert_eq!((e.field.as_str(), e.value.as_str()), ("kind", "\"node\""));
    let Err(Error::Validation(e)) = ws.create_jobs("e", vec!["a".into(), "b".into()], vec!["{}".into()], &as_is) else {
        panic!("two names for one spec")
    };
    assert_eq!(e.rule, "must have one name per spec (1 specs)");
    let Err(Error::Validation(e)) = ws.create(Kind::Job, None, "j", "{}", &as_is) else {
        panic!("a job needs its experiment")
    };
    assert_eq!((e.field.as_str(), e.rule.as_str()), ("experiment", "is required for jobs"));
}

#[test]
fn only_a_slurm_cluster_has_partition_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = broken_workspace(dir.path());
    ws.create(Kind::Cluster, None, "c", r#"{"scaleSettings": {"manual": {"targetNodeCount": 1}}}"#, &as_is).unwrap();
    let Err(Error::Validation(e)) = ws.slurm_nodes("c") else { panic!("a local cluster has no partition") };
    assert_eq!((e.field.as_str(), e.value.as_str()), ("cluster", "\"c\""));
    assert!(e.rule.starts_with("runs on the local engine, not on Slurm"), "{}", e.rule);
    assert!(e.rule.contains("nodes()"), "{}", e.rule);
    assert!(matches!(ws.slurm_nodes("nope"), Err(Error::NotFound { .. })));
}
