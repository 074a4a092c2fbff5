//! The events of the agent's changes: for each [`Change`] that moves a job, node or cluster to
//! another state, read the old state before the change is applied and append the event after it,
//! both inside `Store::apply`'s transaction.
//!
//! Reasons are derived from the change and the rows it touches, so the agent's code that decides
//! a change does not also have to phrase it: a running job's nodes, a failed job's exit code or
//! first error, the job a node runs or was running.

use rusqlite::{OptionalExtension, Transaction};

use crate::engine::error::Result;
use crate::engine::model::ErrorInfo;

use super::agent::Change;
use super::events::{Subject, append};

/// A row's identity and state before a change.
pub(crate) struct Before {
    kind: &'static str,
    resource: String,
    uid: String,
    state: Option<String>,
    /// The job a node held (its uid), for the reason of the node's next state.
    node_job: Option<String>,
}

fn job_before(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<Option<Before>> {
    tx.prepare_cached(
        "SELECT e.name || '/' || j.name, j.uid, j.execution_state FROM jobs j JOIN experiments e ON e.id = j.experiment_id
         WHERE j.id = ?1",
    )?
    .query_row([id], |r| {
        Ok(Before { kind: "job", resource: r.get(0)?, uid: r.get(1)?, state: r.get(2)?, node_job: None })
    })
    .optional()
}

fn node_before(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<Before>> {
    tx.prepare_cached(
        "SELECT n.state, n.job_uid, c.uid FROM nodes n JOIN clusters c ON c.id = n.cluster_id WHERE n.name = ?1",
    )?
    .query_row([name], |r| {
        Ok(Before { kind: "node", resource: name.to_string(), uid: r.get(2)?, state: r.get(0)?, node_job: r.get(1)? })
    })
    .optional()
}

fn cluster_before(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<Option<Before>> {
    tx.prepare_cached("SELECT name, uid, allocation_state FROM clusters WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Before { kind: "cluster", resource: r.get(0)?, uid: r.get(1)?, state: r.get(2)?, node_job: None })
        })
        .optional()
}

/// `experiment/job` of the job with this uid, for reasons that name it.
fn job_name(tx: &Transaction<'_>, uid: &str) -> rusqlite::Result<Option<String>> {
    tx.prepare_cached(
        "SELECT e.name || '/' || j.name FROM jobs j JOIN experiments e ON e.id = j.experiment_id WHERE j.uid = ?1",
    )?
    .query_row([uid], |r| r.get(0))
    .optional()
}

/// Read what `change` is about to change. `None` for changes that record no event, and for rows
/// that do not exist (a job deleted while the agent decided about it).
pub(crate) fn before(tx: &Transaction<'_>, change: &Change) -> Result<Option<Before>> {
    Ok(match change {
        Change::JobRunning { id, .. }
        | Change::JobTerminating { id }
        | Change::JobRequeued { id }
        | Change::JobFinished { id, .. } => job_before(tx, *id)?,
        Change::NodeState { name, .. } | Change::NodeRemoved { name } => node_before(tx, name)?,
        Change::NodeAdded { cluster_id, name, .. } => {
            let uid: Option<String> = tx
                .prepare_cached("SELECT uid FROM clusters WHERE id = ?1")?
                .query_row([cluster_id], |r| r.get(0))
                .optional()?;
            uid.map(|uid| Before { kind: "node", resource: name.clone(), uid, state: None, node_job: None })
        }
        Change::ClusterAllocation { id, .. } => cluster_before(tx, *id)?,
        Change::ClusterErrors { .. }
        | Change::JobWaitReason { .. }
        | Change::NoticesSeen { .. }
        | Change::LauncherInstance { .. }
        | Change::Sweep(_) => None,
    })
}

/// The state `change` leaves its row in.
fn new_state(change: &Change, succeeded_name: &'static str) -> Option<String> {
    Some(
        match change {
            Change::JobRunning { .. } => "running",
            Change::JobTerminating { .. } => "terminating",
            Change::JobRequeued { .. } => "queued",
            Change::JobFinished { .. } => succeeded_name,
            Change::NodeAdded { state, .. } | Change::NodeState { state, .. } => state.as_str(),
            Change::NodeRemoved { .. } => "removed",
            Change::ClusterAllocation { resizing, .. } => {
                if *resizing {
                    "resizing"
                } else {
                    "steady"
                }
            }
            Change::ClusterErrors { .. }
            | Change::JobWaitReason { .. }
            | Change::NoticesSeen { .. }
            | Change::LauncherInstance { .. }
            | Change::Sweep(_) => return None,
        }
        .to_string(),
    )
}

/// Why a job ended, in a line: its exit code, else its first error.
pub(crate) fn finish_reason(exit_code: Option<i32>, errors: &[ErrorInfo]) -> String {
    match (errors.first(), exit_code) {
        (None, Some(code)) => format!("exit code {code}"),
        (None, None) => "ended".to_string(),
        (Some(e), Some(code)) if e.code == "JobFailed" => format!("exit code {code}"),
        (Some(e), Some(code)) => format!("{} (exit code {code})", e.message),
        (Some(e), None) => e.message.clone(),
    }
}

/// `"a, b"`, or `"none"`.
fn id_list(ids: &[u32]) -> String {
    if ids.is_empty() { "none".to_string() } else { ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",") }
}

fn reason(tx: &Transaction<'_>, change: &Change, before: &Before, to: &str) -> Result<String> {
    Ok(match change {
        Change::JobRunning { nodes, attempt, .. } => {
            let noun = if nodes.len() == 1 { "node" } else { "nodes" };
            let mut text = format!("placed on {noun} {}", nodes.join(", "));
            if *attempt > 1 {
                text.push_str(&format!(" (attempt {attempt})"));
            }
            text
        }
        Change::JobTerminating { .. } => "terminate requested".to_string(),
        Change::JobRequeued { .. } => {
            "requeued: the cluster shrank and its nodeDeallocationOption is 'requeue'".to_string()
        }
        Change::JobFinished { exit_code, errors, .. } => finish_reason(*exit_code, errors),
        Change::NodeAdded { cpus, gpus, memory_mb, .. } => {
            let memory = memory_mb.map(|m| format!(", {m} MB")).unwrap_or_default();
            format!("allocated with CPUs {} and GPUs {}{memory}", id_list(cpus), id_list(gpus))
        }
        Change::NodeState { job, .. } => {
            let held = before.node_job.as_deref().map(|uid| job_name(tx, uid)).transpose()?.flatten();
            match (to, job.as_deref(), before.state.as_deref()) {
                ("running", Some(uid), _) => match job_name(tx, uid)? {
                    Some(name) => format!("running job '{name}'"),
                    None => "running a job".to_string(),
                },
                ("idle", _, Some("running")) => match held {
                    Some(name) => format!("job '{name}' ended"),
                    None => "its job ended".to_string(),
                },
                ("idle", _, Some("preparing")) => "ready for jobs".to_string(),
                ("idle" | "running", _, Some("leaving")) => "taken back by a scale-up".to_string(),
                ("unusable", _, _) => "preparation or the setup task failed (see the cluster's errors)".to_string(),
                ("leaving", _, _) => "the cluster is shrinking".to_string(),
                ("preparing", _, Some("unusable")) => "setup task retried".to_string(),
                ("preparing", _, _) => "preparing again after an agent restart".to_string(),
                _ => String::new(),
            }
        }
        Change::NodeRemoved { .. } => "the cluster shrank".to_string(),
        Change::ClusterAllocation { id, .. } => {
            let (total, c) = super::nodes::counts(tx, *id)?;
            let parts: Vec<String> = [
                (c.idle_node_count, "idle"),
                (c.running_node_count, "running"),
                (c.preparing_node_count, "preparing"),
                (c.unusable_node_count, "unusable"),
                (c.leaving_node_count, "leaving"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, state)| format!("{n} {state}"))
            .collect();
            let noun = if total == 1 { "node" } else { "nodes" };
            if parts.is_empty() { format!("{total} {noun}") } else { format!("{total} {noun}: {}", parts.join(", ")) }
        }
        Change::ClusterErrors { .. }
        | Change::JobWaitReason { .. }
        | Change::NoticesSeen { .. }
        | Change::LauncherInstance { .. }
        | Change::Sweep(_) => String::new(),
    })
}

/// After `change` was applied (`applied`: it matched its row), append its event if it moved the
/// row to another state.
pub(crate) fn record(
    tx: &Transaction<'_>,
    at_us: i64,
    change: &Change,
    before: Option<Before>,
    applied: bool,
) -> Result<()> {
    let Some(before) = before.filter(|_| applied) else { return Ok(()) };
    let succeeded = match change {
        Change::JobFinished { succeeded: true, .. } => "succeeded",
        _ => "failed",
    };
    let Some(to) = new_state(change, succeeded) else { return Ok(()) };
    if before.state.as_deref() == Some(to.as_str()) {
        return Ok(());
    }
    let reason = reason(tx, change, &before, &to)?;
    let subject = Subject { kind: before.kind, resource: &before.resource, uid: &before.uid };
    append(tx, at_us, &subject, before.state.as_deref(), &to, &reason)
}
