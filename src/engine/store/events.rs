//! The event log: an append-only record of state changes, with the reason for each.
//!
//! Theory of operation:
//! - An event is appended in the transaction that makes the change it records (job creation in
//!   `jobs.rs`, the agent's batches in `agent.rs`), reading the old state in that transaction, so
//!   the log never disagrees with the rows: a rolled-back change leaves no event, and `from` is
//!   the state the change really left.
//! - Kinds: `job` (resource `experiment/job`, uid the job's uid), `node` (resource the node name,
//!   uid its cluster's uid), `cluster` (resource the cluster name, uid its uid). Reads and deletes
//!   go by uid through the `events_by_uid` index: a job that reuses the name of a deleted one
//!   shows only its own history, and a cluster's uid finds its own and its nodes' events.
//! - Why uid and not `(kind, resource)`: a bulk submission appends one event per job, and its
//!   uids ascend (see `jobs.rs`), so the index takes appends; names like `j0, j1, j10, j100`
//!   would land all over a name index and made 10k-job submissions measurably slower.
//! - Retention: events go with what they explain. Deleting a job deletes its events; deleting an
//!   experiment deletes its jobs' events; deleting a cluster deletes its own and its nodes'
//!   events; clearing the workspace deletes all. The log then grows with the jobs kept, not with
//!   time, and a reused name never shows a stranger's history.
//! - `seq` orders events (times can tie within one transaction).

use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::Timestamp;

use super::Store;

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub time: Timestamp,
    pub kind: String,
    pub resource: String,
    pub uid: String,
    /// `None` when the change created the resource.
    #[serde(rename = "from")]
    pub from_state: Option<String>,
    #[serde(rename = "to")]
    pub to_state: String,
    pub reason: String,
}

/// What an event is about: its kind, resource name and uid.
pub(crate) struct Subject<'a> {
    pub kind: &'static str,
    pub resource: &'a str,
    pub uid: &'a str,
}

/// Append one event, in the caller's transaction.
pub(crate) fn append(
    tx: &Transaction<'_>,
    at_us: i64,
    subject: &Subject<'_>,
    from: Option<&str>,
    to: &str,
    reason: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (time, kind, resource, uid, from_state, to_state, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![at_us, subject.kind, subject.resource, subject.uid, from, to, reason])?;
    Ok(())
}

/// Delete the events of every job of one experiment; before the experiment (and its jobs) go.
pub(crate) fn delete_experiment_events(tx: &Transaction<'_>, experiment: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM events WHERE uid IN
             (SELECT j.uid FROM jobs j JOIN experiments e ON e.id = j.experiment_id WHERE e.name = ?1)",
        [experiment],
    )?;
    Ok(())
}

/// Delete the events of the resource (a job, or a cluster with its nodes) with this uid.
pub(crate) fn delete_events(tx: &Transaction<'_>, uid: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM events WHERE uid = ?1")?.execute([uid])?;
    Ok(())
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let c = super::columns::Cells::new(r, "events", 0);
    Ok(Event {
        seq: r.get(0)?,
        time: c.time(1)?,
        kind: r.get(2)?,
        resource: r.get(3)?,
        uid: r.get(4)?,
        from_state: r.get(5)?,
        to_state: r.get(6)?,
        reason: r.get(7)?,
    })
}

const EVENT_COLUMNS: &str = "seq, time, kind, resource, uid, from_state, to_state, reason";

impl Store {
    /// The events of one job, oldest first.
    pub fn job_events(&mut self, experiment: &str, name: &str) -> Result<Vec<Event>> {
        let uid = self.job(experiment, name)?.uid;
        self.events_by_uid(&uid)
    }

    /// The events of a cluster and of its nodes (kind `cluster` or `node`), oldest first.
    pub fn cluster_events(&mut self, name: &str) -> Result<Vec<Event>> {
        let uid: Option<String> = self.read(|tx| {
            Ok(tx.query_row("SELECT uid FROM clusters WHERE name = ?1", [name], |r| r.get(0)).optional()?)
        })?;
        let uid = uid.ok_or_else(|| Error::not_found(ResourceKind::Cluster, name))?;
        self.events_by_uid(&uid)
    }

    fn events_by_uid(&mut self, uid: &str) -> Result<Vec<Event>> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE uid = ?1 ORDER BY seq"))?;
            let rows = stmt.query_map([uid], row_to_event)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::error::Error;
    use crate::engine::model::{ClusterSpec, ErrorInfo, JobSpec};
    use crate::engine::scheduler::NodeState;
    use crate::engine::scheduler::slices::{Machine, SlicePolicy};
    use crate::engine::store::Change;
    use crate::engine::store::testing::{at, new_store};

    fn spec(nodes: u32) -> JobSpec {
        serde_json::from_str(&format!(r#"{{"cluster": "c", "nodeCount": {nodes}, "customToolkitSettings": {{}}}}"#))
            .unwrap()
    }

    fn setup(dir: &tempfile::TempDir) -> (Store, i64) {
        let mut store = new_store(dir);
        store.create_cluster("c", &ClusterSpec::default(), at(0)).unwrap();
        store.create_experiment("e", at(0)).unwrap();
        let cluster = store.cluster_rows().unwrap()[0].id;
        (store, cluster)
    }

    fn id_of(store: &mut Store, name: &str) -> i64 {
        let ids: Vec<i64> = store.active_jobs(0).unwrap().into_iter().map(|j| j.id).collect();
        store.job_labels(&ids).unwrap().into_iter().find(|(_, l)| l == &format!("e/{name}")).unwrap().0
    }

    fn transitions(events: &[Event]) -> Vec<(Option<&str>, &str, &str)> {
        events.iter().map(|e| (e.from_state.as_deref(), e.to_state.as_str(), e.reason.as_str())).collect()
    }

    fn of(store: &mut Store, kind: &str, resource: &str) -> Vec<Event> {
        let all = store.cluster_events("c").unwrap();
        all.into_iter().filter(|e| e.kind == kind && e.resource == resource).collect()
    }

    fn count(store: &mut Store) -> i64 {
        store.read(|tx| Ok(tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?)).unwrap()
    }

    fn node(cluster_id: i64, name: &str) -> Change {
        Change::NodeAdded {
            cluster_id,
            name: name.into(),
            state: NodeState::Preparing,
            cpus: vec![0, 1],
            gpus: vec![],
            memory_mb: None,
        }
    }

    #[test]
    fn a_bulk_create_records_one_queued_event_per_job() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = setup(&dir);
        let names: Vec<String> = (0..150).map(|i| format!("j{i}")).collect();
        store.create_jobs_from_template("e", &spec(1), &names, None, at(3)).unwrap();
        assert_eq!(count(&mut store), 150);
        let events = store.job_events("e", "j149").unwrap();
        assert_eq!(transitions(&events), vec![(None, "queued", "submitted")]);
        assert_eq!(events[0].time, at(3));
        assert_eq!(events[0].uid, store.job("e", "j149").unwrap().uid);
        // A failed batch leaves no event behind.
        let again = vec!["new".to_string(), "j3".to_string()];
        assert!(store.create_jobs_from_template("e", &spec(1), &again, None, at(4)).is_err());
        assert_eq!(count(&mut store), 150);
    }

    #[test]
    fn the_agents_changes_record_their_old_and_new_states_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, cluster) = setup(&dir);
        store.create_job("e", "j", &spec(2), at(1)).unwrap();
        let id = id_of(&mut store, "j");
        let uid = store.job("e", "j").unwrap().uid;
        store.apply(&[node(cluster, "c-0"), node(cluster, "c-1")], at(2)).unwrap();
        let idle = |name: &str| Change::NodeState { name: name.into(), state: NodeState::Idle, job: None };
        let running =
            |name: &str| Change::NodeState { name: name.into(), state: NodeState::Running, job: Some(uid.clone()) };
        store
            .apply(&[idle("c-0"), idle("c-1"), Change::ClusterAllocation { id: cluster, resizing: false }], at(3))
            .unwrap();
        let placed =
            Change::JobRunning { id, attempt: 1, nodes: vec!["c-0".into(), "c-1".into()], outputs: BTreeMap::new() };
        store.apply(&[placed, running("c-0"), running("c-1")], at(4)).unwrap();
        // Terminating a running job, then its end with the error of the terminate.
        store.apply(&[Change::JobTerminating { id }], at(5)).unwrap();
        let error = ErrorInfo::new("JobTerminated", "the job was terminated by a user request");
        let finished = Change::JobFinished { id, succeeded: false, exit_code: None, errors: vec![error] };
        store.apply(&[finished, idle("c-0"), Change::NodeRemoved { name: "c-1".into() }], at(6)).unwrap();

        assert_eq!(
            transitions(&store.job_events("e", "j").unwrap()),
            vec![
                (None, "queued", "submitted"),
                (Some("queued"), "running", "placed on nodes c-0, c-1"),
                (Some("running"), "terminating", "terminate requested"),
                (Some("terminating"), "failed", "the job was terminated by a user request"),
            ]
        );
        assert_eq!(
            transitions(&of(&mut store, "node", "c-0")),
            vec![
                (None, "preparing", "allocated with CPUs 0,1 and GPUs none"),
                (Some("preparing"), "idle", "ready for jobs"),
                (Some("idle"), "running", "running job 'e/j'"),
                (Some("running"), "idle", "job 'e/j' ended"),
            ]
        );
        assert_eq!(
            transitions(&of(&mut store, "node", "c-1")).last(),
            Some(&(Some("running"), "removed", "the cluster shrank"))
        );
        // The cluster was already steady: no change, no event.
        assert!(of(&mut store, "cluster", "c").is_empty());
        store.apply(&[Change::ClusterAllocation { id: cluster, resizing: true }], at(7)).unwrap();
        assert_eq!(transitions(&of(&mut store, "cluster", "c")), vec![(Some("steady"), "resizing", "1 node: 1 idle")]);
    }

    #[test]
    fn a_change_its_state_does_not_allow_records_nothing_and_a_failed_batch_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, cluster) = setup(&dir);
        store.create_job("e", "j", &spec(1), at(1)).unwrap();
        let id = id_of(&mut store, "j");
        // A queued job cannot be terminating, nor requeued.
        store.apply(&[Change::JobTerminating { id }, Change::JobRequeued { id }], at(2)).unwrap();
        assert_eq!(store.job_events("e", "j").unwrap().len(), 1);
        // The second node's name is taken: the whole batch rolls back, its events with it.
        let before = count(&mut store);
        store.apply(&[node(cluster, "c-0")], at(3)).unwrap();
        let placed = Change::JobRunning { id, attempt: 1, nodes: vec!["c-0".into()], outputs: BTreeMap::new() };
        assert!(store.apply(&[placed, node(cluster, "c-0")], at(4)).is_err());
        assert_eq!(count(&mut store), before + 1, "only the first node's event");
        assert_eq!(store.job("e", "j").unwrap().execution_state, crate::engine::model::ExecutionState::Queued);
        // Failing with an exit code says the code.
        let finished = Change::JobFinished {
            id,
            succeeded: false,
            exit_code: Some(3),
            errors: vec![ErrorInfo::new("JobFailed", "Job failed with non-zero exit code")],
        };
        store.apply(&[finished], at(5)).unwrap();
        assert_eq!(transitions(&store.job_events("e", "j").unwrap())[1], (Some("queued"), "failed", "exit code 3"));
    }

    #[test]
    fn events_go_with_their_job_experiment_and_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, cluster) = setup(&dir);
        for experiment in ["e0", "e-1"] {
            store.create_experiment(experiment, at(0)).unwrap();
            store.create_job(experiment, "j", &spec(1), at(1)).unwrap();
        }
        store.create_job("e", "j", &spec(1), at(1)).unwrap();
        store.create_job("e", "k", &spec(1), at(1)).unwrap();
        store.delete_job("e", "k").unwrap();
        store.create_job("e", "k", &spec(1), at(2)).unwrap();
        let events = store.job_events("e", "k").unwrap();
        assert_eq!(events.len(), 1, "a job reusing a name shows only its own history");
        assert_eq!(events[0].time, at(2));
        store.delete_experiment("e").unwrap();
        // Neighbours in the index (names sorting around `e/`) keep theirs.
        assert_eq!(store.job_events("e0", "j").unwrap().len(), 1);
        assert_eq!(store.job_events("e-1", "j").unwrap().len(), 1);
        assert_eq!(count(&mut store), 2);
        store.apply(&[node(cluster, "c-0")], at(3)).unwrap();
        assert_eq!(count(&mut store), 3);
        store.delete_cluster("c").unwrap();
        assert_eq!(count(&mut store), 2, "the node's event went with its cluster");
        store.clear().unwrap();
        assert_eq!(count(&mut store), 0);
    }

    #[test]
    fn wait_reasons_show_while_queued_and_clear_when_the_job_starts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = setup(&dir);
        store.create_job("e", "j", &spec(1), at(1)).unwrap();
        let id = id_of(&mut store, "j");
        assert_eq!(store.job("e", "j").unwrap().wait_reason, None);
        let reason = Change::JobWaitReason { id, reason: Some("needs 1 node".into()), expected_start: Some(at(60)) };
        store.apply(&[reason], at(2)).unwrap();
        let job = store.job("e", "j").unwrap();
        assert_eq!((job.wait_reason.as_deref(), job.expected_start), (Some("needs 1 node"), Some(at(60))));
        assert_eq!(job.to_resource()["properties"]["waitReason"], "needs 1 node");
        assert_eq!(store.job_events("e", "j").unwrap().len(), 1, "a reason is not a state change");
        let placed = Change::JobRunning { id, attempt: 1, nodes: vec!["c-0".into()], outputs: BTreeMap::new() };
        store.apply(&[placed], at(3)).unwrap();
        let job = store.job("e", "j").unwrap();
        assert_eq!((job.wait_reason.as_deref(), job.expected_start), (None, None));
        assert!(job.to_resource()["properties"].get("waitReason").is_none());
        // A running job may wait for its engine (Slurm has it pending); an ended one never waits.
        let engine = Change::JobWaitReason { id, reason: Some("Slurm job 7 is pending".into()), expected_start: None };
        store.apply(&[engine], at(4)).unwrap();
        assert_eq!(store.job("e", "j").unwrap().wait_reason.as_deref(), Some("Slurm job 7 is pending"));
        let done = Change::JobFinished { id, succeeded: true, exit_code: Some(0), errors: Vec::new() };
        store.apply(&[done], at(5)).unwrap();
        assert_eq!(store.job("e", "j").unwrap().wait_reason, None, "a job's end clears its reason");
        let stale = Change::JobWaitReason { id, reason: Some("late".into()), expected_start: None };
        store.apply(&[stale], at(6)).unwrap();
        assert_eq!(store.job("e", "j").unwrap().wait_reason, None, "an ended job takes no reason");
    }

    #[test]
    fn creates_the_machine_can_never_meet_fail_with_the_field_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = setup(&dir);
        store.set_machine(
            Machine { cpus: vec![0, 1], gpus: vec![], memory_mb: 4_000, ..Default::default() },
            SlicePolicy { share_cpus: false },
        );
        let gpus: ClusterSpec = serde_json::from_str(r#"{"nodeShape": {"gpus": 8}}"#).unwrap();
        let err = store.create_cluster("g", &gpus, at(1)).unwrap_err();
        assert!(matches!(&err, Error::Validation(v) if v.field == "nodeShape.gpus" && v.value == "8"), "{err}");
        assert!(store.cluster_rows().unwrap().len() == 1, "nothing was created");
        let wide: ClusterSpec = serde_json::from_str(r#"{"nodeShape": {"cpus": 2}}"#).unwrap();
        store.create_cluster("w", &wide, at(1)).unwrap();
        let mut two = spec(2);
        two.cluster = crate::engine::model::ResourceId::new("w");
        let err = store.create_job("e", "j", &two, at(2)).unwrap_err();
        assert!(
            matches!(&err, Error::Validation(v) if v.field == "nodeCount" && v.rule.contains("at most 1 node")),
            "{err}"
        );
        let batch = vec![
            crate::engine::store::NewJob { name: "ok".into(), spec: spec(1) },
            crate::engine::store::NewJob { name: "big".into(), spec: two },
        ];
        let err = store.create_jobs("e", &batch, at(2)).unwrap_err();
        assert!(matches!(&err, Error::Validation(v) if v.field == "jobs['big'].nodeCount"), "{err}");
        assert!(store.jobs(Some("e")).unwrap().is_empty());
    }
}
