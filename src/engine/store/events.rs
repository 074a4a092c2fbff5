//! The event log: an append-only record of state changes, with the reason for each.
//!
//! Theory of operation:
//! - An event is appended in the transaction that makes the change it records (job creation in
//!   `jobs.rs`, the agent's batches in `agent.rs`), reading the old state in that transaction, so
//!   the log never disagrees with the rows: a rolled-back change leaves no event, and `from` is
//!   the state the change really left.
//! - Kinds: `job` (resource `experiment/job`, uid the job's uid), `node` (resource the node name,
//!   uid its cluster's uid), `cluster` (resource the cluster name, uid its uid). Reads go by
//!   `(kind, resource)` through the `events_by_resource` index, filtered by uid, so a job that
//!   reuses the name of a deleted one shows only its own history.
//! - Retention: events go with what they explain. Deleting a job deletes its events; deleting an
//!   experiment deletes its jobs' events; deleting a cluster deletes its own and its nodes'
//!   events; clearing the workspace deletes all. The log then grows with the jobs kept, not with
//!   time, and a reused name never shows a stranger's history.
//! - `seq` orders events (times can tie within one transaction).

use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::engine::error::Result;
use crate::engine::model::Timestamp;

use super::{Store, ts};

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub time: Timestamp,
    pub kind: String,
    pub resource: String,
    pub uid: Option<String>,
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
    pub uid: Option<&'a str>,
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
    .execute(params![at_us, subject.kind, subject.resource, subject.uid, from, to, reason])?;
    Ok(())
}

/// Delete the events of every job of one experiment: resources `experiment/...`, one index range
/// (`/` sorts just before `0`).
pub(crate) fn delete_experiment_events(tx: &Transaction<'_>, experiment: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM events WHERE kind = 'job' AND resource >= ?1 || '/' AND resource < ?1 || '0'",
        [experiment],
    )?;
    Ok(())
}

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: r.get(0)?,
        time: ts(r.get(1)?),
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
        let resource = format!("{experiment}/{name}");
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE kind = 'job' AND resource = ?1 AND uid = ?2 ORDER BY seq"
            ))?;
            let rows = stmt.query_map(params![resource, uid], row_to_event)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The events of a node or cluster (`kind` is `node` or `cluster`), oldest first.
    pub fn events(&mut self, kind: &str, resource: &str) -> Result<Vec<Event>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE kind = ?1 AND resource = ?2 ORDER BY seq"
            ))?;
            let rows = stmt.query_map(params![kind, resource], row_to_event)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
