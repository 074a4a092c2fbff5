//! Sweep rows: the sweep (its spec and state), its trials (each written with its job, in one
//! transaction) and the metric values its trials logged.
//!
//! Clients create sweeps and write two intents (a cancel request, a new `max_trials`); the agent
//! writes everything else through [`SweepChange`]s, committed with the turn that decided them.

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

use super::columns::Cells;
use super::{Store, us};
use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::metrics::Offsets;
use crate::engine::model::job::ExecutionState;
use crate::engine::model::sweep::{SweepSpec, SweepState, TrialStatus};
use crate::engine::model::{Timestamp, validate};

/// A sweep as stored.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub id: i64,
    pub experiment: String,
    pub name: String,
    pub spec: SweepSpec,
    pub max_trials: u64,
    pub state: SweepState,
    pub reason: Option<String>,
    pub created: Timestamp,
    pub ended: Option<Timestamp>,
    pub cancel_requested: bool,
}

/// A trial as stored, with its job's state (absent once the job is deleted).
#[derive(Debug, Clone)]
pub struct TrialRow {
    pub sweep_id: i64,
    pub trial: u64,
    pub params: Map<String, Value>,
    pub job_id: i64,
    pub job_name: String,
    pub status: TrialStatus,
    pub reason: Option<String>,
    pub offsets: Offsets,
    pub created: Timestamp,
    /// When the trial job was handed to its engine to start.
    pub launched: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    pub ingest_lag_us: Option<i64>,
    pub decision_lag_us: Option<i64>,
    pub job_state: Option<ExecutionState>,
    pub job_started: Option<Timestamp>,
    pub job_ended: Option<Timestamp>,
    pub exit_code: Option<i32>,
}

/// One stored metric value of a trial.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    pub trial: u64,
    pub name: String,
    pub step: Option<u64>,
    pub interval: u64,
    pub value: f64,
    pub time: f64,
}

/// What the agent writes about sweeps (see `Change::Sweep`).
#[derive(Debug, Clone)]
pub enum SweepChange {
    /// New metric values of a trial and the file offsets they were read up to.
    Metrics {
        sweep_id: i64,
        trial: u64,
        points: Vec<StoredPoint>,
        offsets: Offsets,
        ingest_lag_us: i64,
    },
    /// A trial's outcome, decided when its job ended (`ended`) or, for a trial the policy
    /// stops, when the decision was made (its job ends later: `ended` false).
    TrialEnded {
        sweep_id: i64,
        trial: u64,
        status: TrialStatus,
        reason: Option<String>,
        decision_lag_us: Option<i64>,
        ended: bool,
    },
    SweepEnded {
        sweep_id: i64,
        state: SweepState,
        reason: String,
    },
    /// The trial job was handed to its engine to start (for the launch overhead).
    TrialLaunched {
        sweep_id: i64,
        trial: u64,
    },
}

const SWEEP_COLUMNS: &str = "s.id, e.name, s.name, s.spec, s.max_trials, s.state, s.reason, s.created_us, s.ended_us, \
                             s.cancel_requested_us";

fn row_to_sweep(r: &rusqlite::Row<'_>) -> rusqlite::Result<SweepRow> {
    let c = Cells::new(r, "sweeps", 2);
    Ok(SweepRow {
        id: c.get(0)?,
        experiment: c.get(1)?,
        name: c.get(2)?,
        spec: c.json(3)?,
        max_trials: c.get::<i64>(4)?.max(0) as u64,
        state: c.parsed(5, "a sweep state", SweepState::parse)?,
        reason: c.get(6)?,
        created: c.time(7)?,
        ended: c.optional_time(8)?,
        cancel_requested: c.get::<Option<i64>>(9)?.is_some(),
    })
}

const TRIAL_COLUMNS: &str = "t.sweep_id, t.trial, t.params, t.job_id, t.job_name, t.status, t.reason, t.offsets, \
                             t.created_us, t.ended_us, t.ingest_lag_us, t.decision_lag_us, j.execution_state, \
                             j.start_us, j.end_us, j.exit_code, t.launched_us";

fn row_to_trial(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrialRow> {
    let c = Cells::new(r, "sweep_trials", 4);
    let job_state: Option<String> = c.get(12)?;
    Ok(TrialRow {
        sweep_id: c.get(0)?,
        trial: c.get::<i64>(1)?.max(0) as u64,
        params: c.json(2)?,
        job_id: c.get(3)?,
        job_name: c.get(4)?,
        status: c.parsed(5, "a trial status", TrialStatus::parse)?,
        reason: c.get(6)?,
        offsets: c.json(7)?,
        created: c.time(8)?,
        ended: c.optional_time(9)?,
        ingest_lag_us: c.get(10)?,
        decision_lag_us: c.get(11)?,
        job_state: job_state.as_deref().and_then(ExecutionState::parse),
        job_started: c.optional_time(13)?,
        job_ended: c.optional_time(14)?,
        exit_code: c.get(15)?,
        launched: c.optional_time(16)?,
    })
}

fn experiment_id(tx: &Transaction<'_>, experiment: &str) -> Result<i64> {
    tx.query_row("SELECT id FROM experiments WHERE name = ?1", [experiment], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(ResourceKind::Experiment, experiment))
}

fn find_sweep(tx: &Transaction<'_>, experiment: &str, name: &str) -> Result<Option<SweepRow>> {
    Ok(tx
        .query_row(
            &format!(
                "SELECT {SWEEP_COLUMNS} FROM sweeps s JOIN experiments e ON e.id = s.experiment_id WHERE e.name = ?1 AND s.name = ?2"
            ),
            params![experiment, name],
            row_to_sweep,
        )
        .optional()?)
}

/// Which top-level fields of two specs differ (for an `exist_ok` create with another spec).
fn differences(a: &SweepSpec, b: &SweepSpec) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return vec!["spec".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| snake_case(k)).collect()
}

/// `maxTrials` → `max_trials`: the names Python and YAML users wrote.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Store {
    /// Create a sweep. With `exist_ok`, a sweep of that name with the same spec is returned as
    /// it is (running a notebook cell again re-attaches); another spec is a conflict.
    pub fn create_sweep(
        &mut self,
        experiment: &str,
        name: &str,
        spec: &SweepSpec,
        exist_ok: bool,
        now: Timestamp,
    ) -> Result<SweepRow> {
        spec.validate(name)?;
        let text = serde_json::to_string(spec).expect("a sweep spec serializes");
        let workspace = self.name.clone();
        self.write(|tx| {
            Store::ensure_usable(tx, &workspace)?;
            let experiment_id = experiment_id(tx, experiment)?;
            if let Some(existing) = find_sweep(tx, experiment, name)? {
                if !exist_ok {
                    return Err(Error::already_exists_in(ResourceKind::Sweep, name, experiment));
                }
                let changed = differences(&existing.spec, spec);
                if !changed.is_empty() {
                    return Err(Error::Conflict(format!(
                        "sweep '{name}' already exists with another {}; give it another name, or delete it first \
                         (exist_ok re-attaches only to the same definition)",
                        changed.join(", ")
                    )));
                }
                return Ok(existing);
            }
            tx.execute(
                "INSERT INTO sweeps (experiment_id, name, spec, max_trials, state, created_us) VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
                params![experiment_id, name, text, spec.max_trials as i64, us(now)],
            )?;
            find_sweep(tx, experiment, name)?.ok_or_else(|| Error::not_found_in(ResourceKind::Sweep, name, experiment))
        })
    }

    pub fn sweep(&mut self, experiment: &str, name: &str) -> Result<SweepRow> {
        self.read(|tx| {
            experiment_id(tx, experiment)?;
            find_sweep(tx, experiment, name)?.ok_or_else(|| Error::not_found_in(ResourceKind::Sweep, name, experiment))
        })
    }

    /// The sweeps of one experiment, oldest first.
    pub fn sweeps(&mut self, experiment: &str) -> Result<Vec<SweepRow>> {
        self.read(|tx| {
            experiment_id(tx, experiment)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {SWEEP_COLUMNS} FROM sweeps s JOIN experiments e ON e.id = s.experiment_id WHERE e.name = ?1 ORDER BY s.id"
            ))?;
            Ok(stmt.query_map([experiment], row_to_sweep)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Sweeps the agent drives.
    pub fn running_sweeps(&mut self) -> Result<Vec<SweepRow>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {SWEEP_COLUMNS} FROM sweeps s JOIN experiments e ON e.id = s.experiment_id WHERE s.state = 'running' ORDER BY s.id"
            ))?;
            Ok(stmt.query_map([], row_to_sweep)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn sweep_trials(&mut self, sweep_id: i64) -> Result<Vec<TrialRow>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {TRIAL_COLUMNS} FROM sweep_trials t LEFT JOIN jobs j ON j.id = t.job_id WHERE t.sweep_id = ?1 ORDER BY t.trial"
            ))?;
            Ok(stmt.query_map([sweep_id], row_to_trial)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Stored metric values of a sweep's trials, by trial then time.
    pub fn sweep_points(&mut self, sweep_id: i64, trial: Option<u64>, name: Option<&str>) -> Result<Vec<StoredPoint>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT trial, name, step, interval, value, time FROM sweep_metrics
                 WHERE sweep_id = ?1 AND (?2 IS NULL OR trial = ?2) AND (?3 IS NULL OR name = ?3)
                 ORDER BY trial, rowid",
            )?;
            let rows = stmt.query_map(params![sweep_id, trial.map(|t| t as i64), name], |r| {
                Ok(StoredPoint {
                    trial: r.get::<_, i64>(0)?.max(0) as u64,
                    name: r.get(1)?,
                    step: r.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                    interval: r.get::<_, i64>(3)?.max(0) as u64,
                    value: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
                    time: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// A client's cancel request. False when the sweep has already ended.
    pub fn request_sweep_cancel(&mut self, experiment: &str, name: &str, now: Timestamp) -> Result<bool> {
        let sweep = self.sweep(experiment, name)?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE sweeps SET cancel_requested_us = coalesce(cancel_requested_us, ?2) WHERE id = ?1 AND state = 'running'",
                params![sweep.id, us(now)],
            )?;
            Ok(n > 0)
        })
    }

    /// Raise a sweep's trial limit; a sweep that completed by reaching its limit runs again.
    pub fn extend_sweep(&mut self, experiment: &str, name: &str, max_trials: u64) -> Result<SweepRow> {
        let sweep = self.sweep(experiment, name)?;
        if !(1..=crate::engine::model::sweep::MAX_TRIALS).contains(&max_trials) {
            let rule = format!("must be between 1 and {}", crate::engine::model::sweep::MAX_TRIALS);
            return Err(Error::invalid("max_trials", max_trials.to_string(), rule));
        }
        if max_trials < sweep.max_trials {
            return Err(Error::invalid(
                "max_trials",
                max_trials.to_string(),
                format!(
                    "must not be below the current limit ({}); cancel the sweep to stop it early",
                    sweep.max_trials
                ),
            ));
        }
        let reopen = match sweep.state {
            SweepState::Running => false,
            SweepState::Completed if !sweep.cancel_requested => true,
            other => {
                return Err(Error::Conflict(format!(
                    "sweep '{name}' is {}; only a running or completed sweep can be extended",
                    other.as_str()
                )));
            }
        };
        self.write(|tx| {
            tx.execute(
                "UPDATE sweeps SET max_trials = ?2,
                    state = CASE WHEN ?3 THEN 'running' ELSE state END,
                    reason = CASE WHEN ?3 THEN NULL ELSE reason END,
                    ended_us = CASE WHEN ?3 THEN NULL ELSE ended_us END
                 WHERE id = ?1",
                params![sweep.id, max_trials as i64, reopen],
            )?;
            Ok(())
        })?;
        self.sweep(experiment, name)
    }

    /// Delete an ended sweep with its trials, their stored metrics and their jobs (so that a
    /// sweep of the same name can be created again: trial jobs are named after it). A running
    /// sweep must be cancelled first.
    pub fn delete_sweep(&mut self, experiment: &str, name: &str) -> Result<()> {
        let sweep = self.sweep(experiment, name)?;
        if sweep.state == SweepState::Running {
            return Err(Error::Conflict(format!(
                "sweep '{name}' is running; cancel it first (sweep.cancel() or `batchai sweep cancel`), then delete it"
            )));
        }
        let erased = self.write(|tx| {
            let jobs = "id IN (SELECT job_id FROM sweep_trials WHERE sweep_id = ?1)";
            let erased = super::secrets::erase_secrets_of_jobs(tx, jobs, params![sweep.id])?;
            let mut uids = tx.prepare(&format!("DELETE FROM jobs WHERE {jobs} RETURNING uid"))?;
            let uids = uids.query_map([sweep.id], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            for uid in uids {
                super::events::delete_events(tx, &uid)?;
            }
            tx.execute("DELETE FROM sweeps WHERE id = ?1 AND state != 'running'", [sweep.id])?;
            Ok(erased)
        })?;
        self.scrub_after(erased);
        Ok(())
    }

    /// Create trial `trial`'s job and its row in one transaction; returns the job's row id.
    pub fn create_trial(
        &mut self,
        sweep: &SweepRow,
        trial: u64,
        params_json: &str,
        job_name: &str,
        spec: &crate::engine::model::JobSpec,
        now: Timestamp,
    ) -> Result<i64> {
        validate::name("name", job_name)?;
        let mut job_id = 0;
        self.create_job_with(&sweep.experiment, job_name, spec, now, |tx, id| {
            job_id = id;
            tx.execute(
                "INSERT INTO sweep_trials (sweep_id, trial, params, job_id, job_name, status, created_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)",
                params![sweep.id, trial as i64, params_json, id, job_name, us(now)],
            )?;
            Ok(())
        })?;
        Ok(job_id)
    }
}

/// Apply one agent change; returns the rows changed.
pub(super) fn apply(tx: &Transaction<'_>, change: &SweepChange, at: i64) -> Result<usize> {
    Ok(match change {
        SweepChange::Metrics { sweep_id, trial, points, offsets, ingest_lag_us } => {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sweep_metrics (sweep_id, trial, name, step, interval, value, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for p in points {
                let value = Some(p.value).filter(|v| !v.is_nan());
                insert.execute(params![
                    sweep_id,
                    *trial as i64,
                    p.name,
                    p.step.map(|s| s.min(i64::MAX as u64) as i64),
                    p.interval as i64,
                    value,
                    p.time
                ])?;
            }
            tx.prepare_cached(
                "UPDATE sweep_trials SET offsets = ?3, ingest_lag_us = max(coalesce(ingest_lag_us, 0), ?4)
                 WHERE sweep_id = ?1 AND trial = ?2",
            )?
            .execute(params![
                sweep_id,
                *trial as i64,
                serde_json::to_string(offsets).unwrap_or_else(|_| "{}".into()),
                ingest_lag_us
            ])?
        }
        SweepChange::TrialEnded { sweep_id, trial, status, reason, decision_lag_us, ended } => tx
            .prepare_cached(
                "UPDATE sweep_trials SET status = ?3, reason = coalesce(?4, reason),
                    decision_lag_us = coalesce(?5, decision_lag_us),
                    ended_us = CASE WHEN ?7 THEN ?6 ELSE ended_us END
                 WHERE sweep_id = ?1 AND trial = ?2",
            )?
            .execute(params![sweep_id, *trial as i64, status.as_str(), reason, decision_lag_us, at, ended])?,
        SweepChange::TrialLaunched { sweep_id, trial } => tx
            .prepare_cached(
                "UPDATE sweep_trials SET launched_us = coalesce(launched_us, ?3) WHERE sweep_id = ?1 AND trial = ?2",
            )?
            .execute(params![sweep_id, *trial as i64, at])?,
        SweepChange::SweepEnded { sweep_id, state, reason } => tx
            .prepare_cached(
                "UPDATE sweeps SET state = ?2, reason = ?3, ended_us = ?4 WHERE id = ?1 AND state = 'running'",
            )?
            .execute(params![sweep_id, state.as_str(), reason, at])?,
    })
}

impl Store {
    /// Where a job's stdout/stderr went (its `stdouterr` output path), once it has started.
    pub fn job_stdouterr(&mut self, job_id: i64) -> Result<Option<String>> {
        self.read(|tx| {
            let paths: Option<String> =
                tx.query_row("SELECT output_paths FROM jobs WHERE id = ?1", [job_id], |r| r.get(0)).optional()?;
            let paths: std::collections::BTreeMap<String, String> =
                paths.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
            Ok(paths.get(crate::engine::model::job::STDOUTERR_ID).cloned())
        })
    }
}
