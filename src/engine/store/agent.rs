//! What the agent reads and writes: active jobs, clusters with their nodes, and batches of state
//! changes committed together (one transaction per turn of the agent's loop).

use rusqlite::{OptionalExtension, params};

use crate::engine::error::Result;
use crate::engine::model::cluster::AllocationState;
use crate::engine::model::duration::WallClock;
use crate::engine::model::job::SchedulingPriority;
use crate::engine::model::{ClusterSpec, ErrorInfo, ExecutionState, JobSpec, Timestamp};

use super::columns::Cells;
use super::nodes::{NODE_COLUMNS, Node, NodeState, row_to_node};
use super::{Store, change_events, us};

/// A job the agent must act on: queued, running or terminating. Compact: what scheduling needs,
/// without the spec, which the agent loads ([`Store::job_detail`]) only for jobs it places or
/// runs, so a queue of 100,000 jobs costs a few megabytes.
#[derive(Debug, Clone)]
pub struct ActiveJob {
    pub id: i64,
    pub uid: Box<str>,
    /// Shared: many jobs name the same cluster (the agent interns it).
    pub cluster: std::sync::Arc<str>,
    pub priority: SchedulingPriority,
    pub state: ExecutionState,
    pub attempt: u32,
    pub terminate_requested: bool,
    pub start_time: Option<Timestamp>,
    /// The nodes of the current attempt (empty while queued).
    pub node_names: Box<[String]>,
    pub node_count: u32,
    pub max_wall_clock: std::time::Duration,
    /// Loaded when the job is placed or found running.
    pub detail: Option<Box<JobDetail>>,
}

/// The rest of a job, for planning its processes.
#[derive(Debug, Clone)]
pub struct JobDetail {
    pub experiment: String,
    pub name: String,
    pub spec: JobSpec,
    /// `{ws}/experiments/{exp}/jobs/{job}/{uid}`.
    pub output_segment: String,
}

/// Something a client asked of an active job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Terminate,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct ClusterRow {
    pub id: i64,
    pub name: String,
    pub uid: String,
    pub spec: ClusterSpec,
    pub allocation_resizing: bool,
    pub errors: Vec<ErrorInfo>,
    pub created: Timestamp,
}

/// One state change; a batch of them commits atomically.
#[derive(Debug, Clone)]
pub enum Change {
    /// Queued → running on `nodes`, with the output folders it will write to.
    JobRunning {
        id: i64,
        attempt: u32,
        nodes: Vec<String>,
        outputs: std::collections::BTreeMap<String, String>,
    },
    JobTerminating {
        id: i64,
    },
    JobRequeued {
        id: i64,
    },
    JobFinished {
        id: i64,
        succeeded: bool,
        exit_code: Option<i32>,
        errors: Vec<ErrorInfo>,
    },
    NodeAdded {
        cluster_id: i64,
        name: String,
        state: NodeState,
        cpus: Vec<u32>,
        gpus: Vec<u32>,
        memory_mb: Option<u64>,
    },
    NodeState {
        name: String,
        state: NodeState,
        job: Option<String>,
    },
    NodeRemoved {
        name: String,
    },
    ClusterAllocation {
        id: i64,
        resizing: bool,
    },
    ClusterErrors {
        id: i64,
        errors: Vec<ErrorInfo>,
    },
    /// Notices up to this number are handled.
    NoticesSeen {
        upto: i64,
    },
    /// The launcher instance that runs the jobs recorded as running.
    LauncherInstance {
        instance: String,
    },
    /// Why a queued job waits and when it starts at the latest, as the scheduler sees it now.
    /// Not a state change: no event. Applies only while the job is queued.
    JobWaitReason {
        id: i64,
        reason: Option<String>,
        expected_start: Option<Timestamp>,
    },
    /// What the agent decided about a sweep (see `store::sweeps`).
    Sweep(super::SweepChange),
}

const ACTIVE_COLUMNS: &str = "j.id, j.uid, j.cluster_name, j.priority, j.execution_state, j.attempt, \
     j.terminate_requested_us, j.start_us, j.node_names, j.node_count, \
     json_extract(j.spec, '$.constraints.maxWallClockTime')";

fn row_to_active(r: &rusqlite::Row<'_>) -> rusqlite::Result<ActiveJob> {
    let c = Cells::new(r, "jobs", 0);
    let priority = match c.get::<i64>(3)? {
        0 => SchedulingPriority::Low,
        1 => SchedulingPriority::Normal,
        2 => SchedulingPriority::High,
        other => return Err(c.damaged(3, format!("{other} is not a priority (0, 1 or 2)"))),
    };
    let node_names: Vec<String> = c.json(8)?;
    let wall_clock = match c.get::<Option<String>>(10)? {
        None => WallClock::DEFAULT,
        Some(text) => WallClock::parse(&text).map_err(|e| c.damaged(10, format!("maxWallClockTime: {e}")))?,
    };
    Ok(ActiveJob {
        id: c.get(0)?,
        uid: c.get::<String>(1)?.into(),
        cluster: std::sync::Arc::from(c.get::<String>(2)?),
        priority,
        state: super::jobs::execution_state(&c, 4)?,
        attempt: c.get(5)?,
        terminate_requested: c.get::<Option<i64>>(6)?.is_some(),
        start_time: c.optional_time(7)?,
        node_names: node_names.into(),
        node_count: c.get(9)?,
        max_wall_clock: wall_clock.0,
        detail: None,
    })
}

impl Store {
    /// Active jobs with a row id above `after` (0 for all), oldest first.
    pub fn active_jobs(&mut self, after: i64) -> Result<Vec<ActiveJob>> {
        self.active_jobs_page(after, i64::MAX)
    }

    /// At most `limit` of them: the agent reads a large backlog in pages, so reading 100,000
    /// new jobs never holds them all twice.
    pub fn active_jobs_page(&mut self, after: i64, limit: i64) -> Result<Vec<ActiveJob>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {ACTIVE_COLUMNS} FROM jobs j
                 WHERE j.id > ?1 AND j.execution_state IN ('queued', 'running', 'terminating') ORDER BY j.id
                 LIMIT ?2"
            ))?;
            let rows = stmt.query_map([after, limit], row_to_active)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Changes whenever another connection commits (SQLite's `data_version`): a cheap way for
    /// the agent to skip re-reading a store nobody else touched.
    pub fn data_version(&mut self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Notices after `after` (see migration 3), oldest first, with the last sequence number.
    pub fn notices(&mut self, after: i64) -> Result<(Vec<(i64, Notice)>, i64)> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare_cached("SELECT seq, job_id, kind FROM agent_notices WHERE seq > ?1 ORDER BY seq")?;
            let mut last = after;
            let mut notices = Vec::new();
            let rows =
                stmt.query_map([after], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
            for row in rows {
                let (seq, job, kind) = row?;
                last = last.max(seq);
                let notice = match kind.as_str() {
                    "terminate" => Notice::Terminate,
                    "deleted" => Notice::Deleted,
                    other => {
                        return Err(crate::engine::error::Error::Store {
                            path: String::new(),
                            message: format!(
                                "agent_notices row {seq}: unknown kind '{other}'; the workspace database is damaged"
                            ),
                        });
                    }
                };
                notices.push((job, notice));
            }
            Ok((notices, last))
        })
    }

    /// The launcher instance recorded as running the jobs (see `Change::LauncherInstance`).
    pub fn launcher_instance(&mut self) -> Result<Option<String>> {
        self.read(|tx| {
            Ok(tx.query_row("SELECT value FROM agent_state WHERE key = 'launcher'", [], |r| r.get(0)).optional()?)
        })
    }

    /// The highest notice number so far (an agent that loads every job at start skips older ones).
    pub fn last_notice(&mut self) -> Result<i64> {
        self.read(|tx| Ok(tx.query_row("SELECT coalesce(max(seq), 0) FROM agent_notices", [], |r| r.get(0))?))
    }

    /// Whether the job is still active, and whether a terminate was requested.
    pub fn active_job(&mut self, id: i64) -> Result<Option<ActiveJob>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {ACTIVE_COLUMNS} FROM jobs j
                 WHERE j.id = ?1 AND j.execution_state IN ('queued', 'running', 'terminating')"
            ))?;
            Ok(stmt.query_row([id], row_to_active).optional()?)
        })
    }

    /// `experiment/job` of each of these jobs that exists, for messages.
    pub fn job_labels(&mut self, ids: &[i64]) -> Result<Vec<(i64, String)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT e.name || '/' || j.name FROM jobs j JOIN experiments e ON e.id = j.experiment_id WHERE j.id = ?1",
            )?;
            let mut labels = Vec::with_capacity(ids.len());
            for &id in ids {
                if let Some(label) = stmt.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                    labels.push((id, label));
                }
            }
            Ok(labels)
        })
    }

    /// The spec and names of a job, for planning it.
    pub fn job_detail(&mut self, id: i64) -> Result<Option<JobDetail>> {
        let workspace = self.name.clone();
        self.read(|tx| {
            let row = tx
                .prepare_cached(
                    "SELECT e.name, j.name, j.uid, j.spec FROM jobs j JOIN experiments e ON e.id = j.experiment_id
                     WHERE j.id = ?1",
                )?
                .query_row([id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
                })
                .optional()?;
            let Some((experiment, name, uid, spec)) = row else { return Ok(None) };
            let spec = serde_json::from_str(&spec).map_err(|e| crate::engine::error::Error::Store {
                path: String::new(),
                message: format!("jobs row {id}, column spec: {e}; the workspace database is damaged"),
            })?;
            Ok(Some(JobDetail {
                output_segment: format!("{workspace}/experiments/{experiment}/jobs/{name}/{uid}"),
                experiment,
                name,
                spec,
            }))
        })
    }

    /// The execution state of the job with this uid; `None` when no such job exists.
    pub fn job_state_by_uid(&mut self, uid: &str) -> Result<Option<ExecutionState>> {
        self.read(|tx| {
            Ok(tx
                .query_row("SELECT uid, execution_state FROM jobs WHERE uid = ?1", [uid], |r| {
                    super::jobs::execution_state(&Cells::new(r, "jobs", 0), 1)
                })
                .optional()?)
        })
    }

    /// The secrets of a job: `(kind, name, value)`, kind `env` or `registry`.
    pub fn job_secrets(&mut self, id: i64) -> Result<Vec<(String, String, String)>> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare_cached("SELECT kind, name, value FROM job_secrets WHERE job_id = ?1 ORDER BY name")?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn cluster_rows(&mut self) -> Result<Vec<ClusterRow>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, name, uid, spec, allocation_state, errors, created_us FROM clusters ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                let c = Cells::new(r, "clusters", 0);
                Ok(ClusterRow {
                    id: c.get(0)?,
                    name: c.get(1)?,
                    uid: c.get(2)?,
                    spec: c.json(3)?,
                    allocation_resizing: super::clusters::allocation_state(&c, 4)? == AllocationState::Resizing,
                    errors: c.json(5)?,
                    created: c.time(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn all_nodes(&mut self) -> Result<Vec<(i64, Node)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {NODE_COLUMNS} FROM nodes n JOIN clusters c ON c.id = n.cluster_id ORDER BY n.id"
            ))?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(9)?, row_to_node(r)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Commit a batch of changes in one transaction. Job transitions only apply from the states
    /// Batch AI's state machine allows, so a stale decision can never resurrect a finished job.
    /// A job that ends has its secret values erased in the same transaction; scrubbing the
    /// database files of them is left to [`Store::scrub`], which the agent batches (see
    /// `secrets`).
    pub fn apply(&mut self, changes: &[Change], now: Timestamp) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let at = us(now);
        let mut erased = 0;
        self.write(|tx| {
            for change in changes {
                let before = change_events::before(tx, change)?;
                let applied = apply_one(tx, change, at)? > 0;
                change_events::record(tx, at, change, before, applied)?;
                if applied && let Change::JobFinished { id, .. } = change {
                    erased += super::secrets::erase_job_secrets(tx, *id)?;
                }
            }
            Ok(())
        })?;
        self.scrub_pending |= erased > 0;
        Ok(())
    }

    /// A client's terminate request (an intent the agent acts on). Returns false when the job has
    /// already ended.
    pub fn request_terminate(&mut self, experiment: &str, name: &str, now: Timestamp) -> Result<bool> {
        self.job(experiment, name)?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE jobs SET terminate_requested_us = coalesce(terminate_requested_us, ?3)
                 WHERE name = ?2 AND experiment_id = (SELECT id FROM experiments WHERE name = ?1)
                   AND execution_state IN ('queued', 'running', 'terminating')",
                params![experiment, name, us(now)],
            )?;
            Ok(n > 0)
        })
    }
}

/// Apply one change; returns how many rows it changed (0 when the row's state did not allow it).
fn apply_one(tx: &rusqlite::Transaction<'_>, change: &Change, at: i64) -> Result<usize> {
    Ok(match change {
        Change::JobRunning { id, attempt, nodes, outputs } => {
            tx.prepare_cached(
                "UPDATE jobs SET execution_state = 'running', execution_state_us = ?2, start_us = ?2,
                     attempt = ?3, node_names = ?4, output_paths = ?5, end_us = NULL, exit_code = NULL,
                     wait_reason = NULL, expected_start_us = NULL
                 WHERE id = ?1 AND execution_state = 'queued'",
            )?
            .execute(params![
                id,
                at,
                attempt,
                serde_json::to_string(nodes).expect("names serialize"),
                serde_json::to_string(outputs).expect("paths serialize")
            ])?
        }
        Change::JobTerminating { id } => {
            tx.prepare_cached(
                "UPDATE jobs SET execution_state = 'terminating', execution_state_us = ?2
                 WHERE id = ?1 AND execution_state = 'running'",
            )?
            .execute(params![id, at])?
        }
        Change::JobRequeued { id } => {
            tx.prepare_cached(
                "UPDATE jobs SET execution_state = 'queued', execution_state_us = ?2
                 WHERE id = ?1 AND execution_state IN ('running', 'terminating')",
            )?
            .execute(params![id, at])?
        }
        Change::JobFinished { id, succeeded, exit_code, errors } => {
            tx.prepare_cached(
                "UPDATE jobs SET execution_state = ?2, execution_state_us = ?3, end_us = ?3, exit_code = ?4, errors = ?5,
                     wait_reason = NULL, expected_start_us = NULL
                 WHERE id = ?1 AND execution_state IN ('queued', 'running', 'terminating')",
            )?
            .execute(params![
                id,
                if *succeeded { "succeeded" } else { "failed" },
                at,
                exit_code,
                serde_json::to_string(errors).expect("errors serialize")
            ])?
        }
        Change::NodeAdded { cluster_id, name, state, cpus, gpus, memory_mb } => {
            tx.prepare_cached(
                "INSERT INTO nodes (cluster_id, name, state, state_us, cpus, gpus, memory_mb, created_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4)",
            )?
            .execute(params![
                cluster_id,
                name,
                state.as_str(),
                at,
                serde_json::to_string(cpus).expect("ids serialize"),
                serde_json::to_string(gpus).expect("ids serialize"),
                memory_mb.map(|m| m as i64)
            ])?
        }
        Change::NodeState { name, state, job } => {
            tx.prepare_cached("UPDATE nodes SET state = ?2, state_us = ?3, job_uid = ?4 WHERE name = ?1")?
                .execute(params![name, state.as_str(), at, job])?
        }
        Change::NodeRemoved { name } => {
            tx.prepare_cached("DELETE FROM nodes WHERE name = ?1")?.execute([name])?
        }
        Change::ClusterAllocation { id, resizing } => {
            tx.prepare_cached(
                "UPDATE clusters SET allocation_state = ?2, allocation_state_us = ?3
                 WHERE id = ?1 AND allocation_state <> ?2",
            )?
            .execute(params![id, if *resizing { "resizing" } else { "steady" }, at])?
        }
        Change::ClusterErrors { id, errors } => {
            tx.prepare_cached("UPDATE clusters SET errors = ?2 WHERE id = ?1")?
                .execute(params![id, serde_json::to_string(errors).expect("errors serialize")])?
        }
        Change::JobWaitReason { id, reason, expected_start } => tx
            .prepare_cached(
                "UPDATE jobs SET wait_reason = ?2, expected_start_us = ?3
                 WHERE id = ?1 AND execution_state IN ('queued', 'running')",
            )?
            .execute(params![id, reason, expected_start.map(us)])?,
        Change::LauncherInstance { instance } => tx
            .prepare_cached("INSERT INTO agent_state (key, value) VALUES ('launcher', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1")?
            .execute([instance])?,
        Change::Sweep(change) => super::sweeps::apply(tx, change, at)?,
        Change::NoticesSeen { upto } => {
            tx.prepare_cached("DELETE FROM agent_notices WHERE seq <= ?1")?.execute([upto])?
        }
    })
}
