//! Sweep use cases: create (then wake the agent, which drives it), read, cancel, extend.
//!
//! Records are the dict shapes the Python `Sweep` wraps: a sweep with its counts and best trial,
//! trials with their outcome, objective (best and last value), job and overheads, and metric
//! points. Times are RFC 3339 text; metric times are Unix seconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{JobSubmitter, Workspace, now};
use crate::engine::error::Result;
use crate::engine::model::ExecutionState;
use crate::engine::model::parse;
use crate::engine::model::sweep::{SweepSpec, TrialStatus};
use crate::engine::store::{StoredPoint, SweepRow, TrialRow};

fn time(t: Option<crate::engine::model::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

fn seconds(from: Option<crate::engine::model::Timestamp>, to: Option<crate::engine::model::Timestamp>) -> Option<f64> {
    let us = (to? - from?).num_microseconds()?;
    Some(us.max(0) as f64 / 1e6)
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(|| Value::String(x.to_string()), Value::Number)
}

/// What a trial shows: queued or running (its job's state) until its outcome is decided.
fn trial_status(t: &TrialRow) -> &'static str {
    match t.status {
        TrialStatus::Active => match t.job_state {
            Some(ExecutionState::Queued) => "queued",
            _ => "running",
        },
        other => other.as_str(),
    }
}

fn trial_record(row: &SweepRow, t: &TrialRow, points: &[&StoredPoint]) -> Value {
    let direction = row.spec.mode;
    let finite = points.iter().filter(|p| p.value.is_finite());
    let best = finite.clone().reduce(|a, b| if direction.better(b.value, a.value) { b } else { a });
    let last = points.last();
    let mut overheads = serde_json::Map::new();
    let mut put = |key: &str, value: Option<f64>| {
        if let Some(v) = value {
            overheads.insert(key.to_string(), number(v));
        }
    };
    put("queued", seconds(Some(t.created), t.job_started));
    put("launch", seconds(t.job_started, t.launched));
    put("run", seconds(t.launched.or(t.job_started), t.job_ended));
    put("ingest", t.ingest_lag_us.map(|us| us as f64 / 1e6));
    put("decision", t.decision_lag_us.map(|us| us as f64 / 1e6));
    put("teardown", seconds(t.job_ended, t.ended));
    json!({
        "id": t.trial,
        "params": t.params,
        "status": trial_status(t),
        "reason": t.reason,
        "value": best.map(|p| number(p.value)),
        "best_step": best.map(|p| p.step.unwrap_or(p.interval)),
        "last_value": last.map(|p| number(p.value)),
        "last_step": last.map(|p| p.step.unwrap_or(p.interval)),
        "job": t.job_name,
        "job_state": t.job_state.map(|s| s.as_str()),
        "exit_code": t.exit_code,
        "created": time(Some(t.created)),
        "started": time(t.job_started),
        "ended": time(t.ended),
        "overheads": overheads,
    })
}

fn sweep_record(row: &SweepRow, trials: &[Value]) -> Value {
    let mut counts: BTreeMap<&str, u64> =
        ["queued", "running", "completed", "failed", "stopped", "cancelled"].into_iter().map(|k| (k, 0)).collect();
    for t in trials {
        if let Some(n) = t["status"].as_str().and_then(|status| counts.get_mut(status)) {
            *n += 1;
        }
    }
    let direction = row.spec.mode;
    let best = trials
        .iter()
        .filter(|t| t["status"] == "completed")
        .filter_map(|t| Some((t["value"].as_f64()?, t)))
        .reduce(|a, b| if direction.better(b.0, a.0) { b } else { a })
        .map(|(_, t)| t.clone());
    let spec = &row.spec;
    json!({
        "name": row.name,
        "experiment": row.experiment,
        "state": row.state.as_str(),
        "reason": row.reason,
        "metric": spec.metric,
        "mode": match direction { crate::engine::sweep::Direction::Minimize => "min", _ => "max" },
        "max_trials": row.max_trials,
        "max_concurrent_trials": spec.max_concurrent_trials,
        "timeout": spec.timeout,
        "trial_timeout": spec.trial_timeout,
        "max_failed_trials": spec.max_failed_trials,
        "search_space": spec.search_space,
        "sampler": spec.sampler,
        "policy": spec.policy,
        "metric_regex": spec.metric_regex,
        "trial": spec.trial,
        "created": time(Some(row.created)),
        "ended": time(row.ended),
        "cancel_requested": row.cancel_requested,
        "counts": counts,
        "best": best,
    })
}

impl Workspace {
    fn sweep_parts(&self, experiment: &str, name: &str) -> Result<(SweepRow, Vec<Value>)> {
        self.with(|s| {
            let row = s.sweep(experiment, name)?;
            let trials = s.sweep_trials(row.id)?;
            let points = s.sweep_points(row.id, None, Some(&row.spec.metric))?;
            let mut by_trial: BTreeMap<u64, Vec<&StoredPoint>> = BTreeMap::new();
            for p in &points {
                by_trial.entry(p.trial).or_default().push(p);
            }
            let records =
                trials.iter().map(|t| trial_record(&row, t, by_trial.get(&t.trial).map_or(&[][..], |v| v))).collect();
            Ok((row, records))
        })
    }

    /// Create a sweep (see `Store::create_sweep` for `exist_ok`); the agent starts its trials.
    pub fn create_sweep(
        &self,
        experiment: &str,
        name: &str,
        spec_json: &str,
        exist_ok: bool,
        submitter: JobSubmitter<'_>,
    ) -> Result<(Value, Vec<String>)> {
        let mut spec: SweepSpec = parse::from_text(spec_json)?;
        let warnings = submitter(&mut spec.trial).into_iter().map(|w| format!("trial.{w}")).collect();
        self.with(|s| s.create_sweep(experiment, name, &spec, exist_ok, now()))?;
        let _ = self.wake();
        Ok((self.sweep(experiment, name)?, warnings))
    }

    /// A sweep's record, with its counts and best trial.
    pub fn sweep(&self, experiment: &str, name: &str) -> Result<Value> {
        let (row, trials) = self.sweep_parts(experiment, name)?;
        Ok(sweep_record(&row, &trials))
    }

    /// The sweeps of an experiment.
    pub fn sweeps(&self, experiment: &str) -> Result<Value> {
        let names: Vec<String> = self.with(|s| Ok(s.sweeps(experiment)?.into_iter().map(|r| r.name).collect()))?;
        Ok(Value::Array(names.iter().map(|n| self.sweep(experiment, n)).collect::<Result<Vec<_>>>()?))
    }

    /// A sweep's trials, by id.
    pub fn sweep_trials(&self, experiment: &str, name: &str) -> Result<Value> {
        Ok(Value::Array(self.sweep_parts(experiment, name)?.1))
    }

    /// Stored metric values of a sweep's trials (all, or one trial's, or one metric's).
    pub fn sweep_metrics(
        &self,
        experiment: &str,
        name: &str,
        trial: Option<u64>,
        metric: Option<&str>,
    ) -> Result<Value> {
        let points = self.with(|s| {
            let row = s.sweep(experiment, name)?;
            s.sweep_points(row.id, trial, metric)
        })?;
        Ok(Value::Array(
            points
                .iter()
                .map(|p| {
                    json!({"trial": p.trial, "name": p.name, "step": p.step.unwrap_or(p.interval),
                           "interval": p.interval, "value": number(p.value), "time": p.time})
                })
                .collect(),
        ))
    }

    /// Ask the agent to cancel a sweep: its running trials are cancelled. False when it had ended.
    pub fn cancel_sweep(&self, experiment: &str, name: &str) -> Result<bool> {
        let requested = self.with(|s| s.request_sweep_cancel(experiment, name, now()))?;
        let _ = self.wake();
        Ok(requested)
    }

    /// Delete an ended sweep with its trials and their jobs, and the trials' parameter files.
    pub fn delete_sweep(&self, experiment: &str, name: &str) -> Result<()> {
        self.with(|s| s.delete_sweep(experiment, name))?;
        let _ = self.wake(); // the agent removes what the deleted jobs left behind
        let params = self.layout().root.join("sweeps").join(experiment).join(name);
        if let Err(e) = std::fs::remove_dir_all(&params)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", params.display());
        }
        Ok(())
    }

    /// Raise a sweep's trial limit (a completed sweep runs again).
    pub fn extend_sweep(&self, experiment: &str, name: &str, max_trials: u64) -> Result<Value> {
        self.with(|s| s.extend_sweep(experiment, name, max_trials))?;
        let _ = self.wake();
        self.sweep(experiment, name)
    }
}
