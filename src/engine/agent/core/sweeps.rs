//! Driving sweeps: the agent asks, submits trial jobs, feeds logged metrics to the policy, stops
//! the trials it stops, tells results and ends the sweep.
//!
//! Theory of operation:
//! - Everything is rebuilt from the store: a running sweep's search (space, sampler, policy) is
//!   its stored spec, its history the stored trials and the objective's stored values. So after
//!   an agent crash the search resumes where the store says it was, and nothing depends on what
//!   the previous agent held in memory.
//! - A trial is created with its job in one transaction (`Store::create_trial`), after every
//!   change decided before it is committed; its parameters file is written first, so a job never
//!   starts without it. A crash before the commit leaves no trial and no job: the same trial id
//!   is asked for again.
//! - Metrics are read from the trial jobs' metrics folders (`engine::metrics`) every
//!   [`METRICS_POLL`] while trials run, stored with the file offsets they were read up to (one
//!   commit), and reported to the policy as intervals: each logged value of the objective is one,
//!   as in Azure ML. A stop decision is committed as the trial's outcome, then its job is stopped.
//! - A trial's outcome is decided when its job ends, after reading what it logged last:
//!   completed (its best value of the objective), failed (the job failed, or logged no value),
//!   stopped (the policy), or cancelled (its job terminated by the user, the sweep cancelled or
//!   timed out, or `trialTimeout` reached). Decided outcomes are state: a trial recorded as stopped
//!   whose job still runs (the agent died between the two) has its job stopped again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Core;
use super::runs::StopReason;
use crate::engine::error::Result;
use crate::engine::metrics::{MetricPoint, MetricsTail, Offsets, metrics_dir};
use crate::engine::model::ExecutionState;
use crate::engine::model::duration::MAX_SECONDS;
use crate::engine::model::sweep::{SweepState, TrialStatus};
use crate::engine::store::{Change, StoredPoint, SweepChange, SweepRow};
use crate::engine::sweep::{Report, Search, Space, Trial, TrialState};

/// How often running trials' metrics folders are read: logged → decided within 100 ms.
pub(super) const METRICS_POLL: Duration = Duration::from_millis(20);

#[derive(Default)]
pub(super) struct Sweeps {
    driven: BTreeMap<i64, Driven>,
    /// Trial jobs: job row id → (sweep id, trial id).
    by_job: HashMap<i64, (i64, u64)>,
    next_poll: Option<Instant>,
    /// Trial jobs deleted by a client (their trials are cancelled, not failed).
    deleted: std::collections::HashSet<i64>,
}

impl Sweeps {
    /// A client deleted job `id` (called before the job ends).
    pub(super) fn job_deleted(&mut self, id: i64) {
        if self.by_job.contains_key(&id) {
            self.deleted.insert(id);
        }
    }
}

struct Driven {
    row: SweepRow,
    search: Search,
    live: BTreeMap<u64, Live>,
    /// Trials created so far (ids are 0..total).
    total: u64,
    failed: u64,
    /// Why the sweep ends once its live trials have ended.
    ending: Option<(SweepState, String)>,
    /// The sampler has nothing more to suggest (a grid is done).
    exhausted: bool,
}

struct Live {
    job_id: i64,
    tail: Option<MetricsTail>,
    offsets: Offsets,
    /// Values logged so far per metric name (the next value's interval is one more).
    intervals: HashMap<String, u64>,
    status: TrialStatus,
    reason: Option<String>,
    /// The job was asked to stop for the outcome already decided.
    stop_sent: bool,
}

fn trial_state(status: TrialStatus) -> TrialState {
    match status {
        TrialStatus::Active => TrialState::Running,
        TrialStatus::Completed => TrialState::Completed,
        TrialStatus::Stopped => TrialState::Stopped,
        TrialStatus::Failed | TrialStatus::Cancelled => TrialState::Failed,
    }
}

/// The best finite value of a trial's objective.
fn best_value(search: &Search, intermediate: &[Report]) -> Option<f64> {
    intermediate.iter().map(|r| r.value).filter(|v| v.is_finite()).reduce(|a, b| search.direction.best(a, b))
}

/// The policy as the Python API names it, for stop reasons.
fn policy_label(policy: &crate::engine::sweep::Policy) -> &'static str {
    use crate::engine::sweep::Policy;
    match policy {
        Policy::Bandit(_) => "BanditPolicy",
        Policy::MedianStopping(_) => "MedianStoppingPolicy",
        Policy::TruncationSelection(_) => "TruncationSelectionPolicy",
        Policy::Asha(_) => "ASHAPolicy",
        Policy::Hyperband(_) => "HyperbandPolicy",
    }
}

fn wall_secs(t: crate::engine::model::Timestamp) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

impl Core {
    /// When the sweeps need a pass without an event: the next metrics read while a trial's job
    /// runs (nothing is logged by queued trials, so a waiting sweep does not wake the agent), and
    /// the earliest sweep timeout.
    pub(super) fn sweeps_deadline(&self) -> Option<Instant> {
        let running = self
            .sweeps
            .driven
            .values()
            .flat_map(|d| d.live.values())
            .any(|l| self.jobs.get(&l.job_id).is_some_and(|e| e.run.is_some()));
        let poll = if running { self.sweeps.next_poll } else { None };
        let timeouts = self.sweeps.driven.values().filter(|d| d.ending.is_none()).filter_map(|d| {
            // Checked: a sweep stored with a timeout past the calendar (before create bounded it)
            // made the agent panic here at every start.
            let timeout = d.row.spec.timeout?.min(MAX_SECONDS);
            let end = d.row.created.checked_add_signed(chrono::Duration::microseconds((timeout * 1e6) as i64))?;
            let left = (end - self.now.wall).to_std().unwrap_or_default();
            Some(self.now.instant + left)
        });
        poll.into_iter().chain(timeouts).min()
    }

    /// Load running sweeps that are new to this agent; note intents (cancel, a new trial limit)
    /// of the ones it drives; forget deleted ones.
    pub(super) fn refresh_sweeps(&mut self, all: bool) -> Result<()> {
        let rows = self.store.running_sweeps()?;
        let present: BTreeSet<i64> = rows.iter().map(|r| r.id).collect();
        let gone: Vec<i64> = self.sweeps.driven.keys().filter(|id| !present.contains(id)).copied().collect();
        for id in gone {
            self.sweeps.driven.remove(&id);
            self.sweeps.by_job.retain(|_, (sweep, _)| *sweep != id);
        }
        for row in rows {
            match self.sweeps.driven.get_mut(&row.id) {
                Some(driven) => driven.row = row,
                None => self.load_sweep(row)?,
            }
        }
        if all {
            self.sweeps.next_poll = Some(self.now.instant);
        }
        Ok(())
    }

    fn load_sweep(&mut self, row: SweepRow) -> Result<()> {
        let space = match Space::from_value(row.spec.search_space.clone()) {
            Ok(space) => space,
            Err(e) => {
                let reason = format!("its stored search space is invalid: {e}");
                self.changes.push(Change::Sweep(SweepChange::SweepEnded {
                    sweep_id: row.id,
                    state: SweepState::Failed,
                    reason,
                }));
                return Ok(());
            }
        };
        let spec = &row.spec;
        let mut search = Search {
            space,
            sampler: spec.sampler.clone(),
            policy: spec.policy.clone(),
            direction: spec.mode,
            metric: spec.metric.clone(),
            trials: Vec::new(),
        };
        let trials = self.store.sweep_trials(row.id)?;
        let points = self.store.sweep_points(row.id, None, None)?;
        let mut by_trial: HashMap<u64, Vec<&StoredPoint>> = HashMap::new();
        for p in &points {
            by_trial.entry(p.trial).or_default().push(p);
        }
        let mut live = BTreeMap::new();
        let mut failed = 0;
        for t in &trials {
            let mine = by_trial.remove(&t.trial).unwrap_or_default();
            let intermediate: Vec<Report> = mine
                .iter()
                .filter(|p| p.name == search.metric)
                .map(|p| Report { step: p.interval, value: p.value })
                .collect();
            let mut trial = Trial::new(t.trial, t.params.clone());
            trial.state = trial_state(t.status);
            if t.status == TrialStatus::Completed {
                trial.value = best_value(&search, &intermediate);
            }
            trial.intermediate = intermediate;
            search.trials.push(trial);
            failed += u64::from(t.status == TrialStatus::Failed);
            let job_active = t.job_state.is_some_and(|s| !s.is_terminal());
            let decided_but_running = matches!(t.status, TrialStatus::Stopped | TrialStatus::Cancelled) && job_active;
            if t.status == TrialStatus::Active || decided_but_running {
                let mut intervals: HashMap<String, u64> = HashMap::new();
                for p in &mine {
                    let n = intervals.entry(p.name.clone()).or_default();
                    *n = (*n).max(p.interval);
                }
                self.sweeps.by_job.insert(t.job_id, (row.id, t.trial));
                live.insert(
                    t.trial,
                    Live {
                        job_id: t.job_id,
                        tail: None,
                        offsets: t.offsets.clone(),
                        intervals,
                        status: t.status,
                        reason: t.reason.clone(),
                        stop_sent: false,
                    },
                );
            }
        }
        let driven = Driven { total: trials.len() as u64, row, search, live, failed, ending: None, exhausted: false };
        let id = driven.row.id;
        // Trials whose job ended or vanished while no agent watched: decide them now.
        let orphans: Vec<(u64, i64)> = driven
            .live
            .iter()
            .filter(|(_, l)| !self.jobs.contains_key(&l.job_id))
            .map(|(trial, l)| (*trial, l.job_id))
            .collect();
        self.sweeps.driven.insert(id, driven);
        for (trial, job_id) in orphans {
            let state = trials.iter().find(|t| t.trial == trial).and_then(|t| t.job_state);
            let exit = trials.iter().find(|t| t.trial == trial).and_then(|t| t.exit_code);
            self.end_trial(id, trial, job_id, state, exit, None);
        }
        Ok(())
    }

    /// One pass over the running sweeps (see the module docs).
    pub(super) fn drive_sweeps(&mut self) -> Result<()> {
        if self.sweeps.driven.is_empty() {
            return Ok(());
        }
        let poll = self.sweeps.next_poll.is_none_or(|at| at <= self.now.instant);
        if poll {
            self.sweeps.next_poll = Some(self.now.instant + METRICS_POLL);
        }
        let ids: Vec<i64> = self.sweeps.driven.keys().copied().collect();
        for id in ids {
            if poll {
                self.ingest_sweep(id);
            }
            self.decide_ending(id);
            self.send_stops(id);
            self.submit_trials(id)?;
            self.maybe_end_sweep(id);
        }
        Ok(())
    }

    fn ingest_sweep(&mut self, id: i64) {
        let trials: Vec<u64> =
            self.sweeps.driven.get(&id).map(|d| d.live.keys().copied().collect()).unwrap_or_default();
        for trial in trials {
            self.ingest_trial(id, trial, false);
        }
    }

    /// The `stdouterr` folder of a trial's job, once it has started.
    fn trial_stdouterr(&mut self, job_id: i64) -> Option<PathBuf> {
        let from_run = self
            .jobs
            .get(&job_id)
            .and_then(|e| e.run.as_ref())
            .and_then(|r| r.prepared.as_ref())
            .and_then(|p| p.outputs.get(crate::engine::model::job::STDOUTERR_ID).cloned());
        let stdouterr = match from_run {
            Some(path) => Some(path),
            None => self.store.job_stdouterr(job_id).ok().flatten(),
        };
        stdouterr.map(PathBuf::from)
    }

    /// Read what a trial logged since the last read; store it and report the objective.
    fn ingest_trial(&mut self, id: i64, trial: u64, last: bool) {
        let Some(live) = self.sweeps.driven.get(&id).and_then(|d| d.live.get(&trial)) else { return };
        let (job_id, offsets, no_tail) = (live.job_id, live.offsets.clone(), live.tail.is_none());
        let running = self.jobs.get(&job_id).is_some_and(|e| e.run.is_some());
        if no_tail {
            if !running && !last {
                return;
            }
            let Some(stdouterr) = self.trial_stdouterr(job_id) else { return };
            let Some(driven) = self.sweeps.driven.get_mut(&id) else { return };
            let dir = metrics_dir(&stdouterr);
            let spec = &driven.row.spec;
            let tail = match &spec.metric_regex {
                // Checked at create: a pattern that no longer compiles reads the files only.
                Some(pattern) => {
                    MetricsTail::with_stdout_regex(&dir, offsets.clone(), &stdouterr, pattern, &spec.metric)
                        .unwrap_or_else(|_| MetricsTail::new(&dir, offsets))
                }
                None => MetricsTail::new(dir, offsets),
            };
            if let Some(live) = driven.live.get_mut(&trial) {
                live.tail = Some(tail);
            }
        }
        let now = self.now.wall;
        let Some(driven) = self.sweeps.driven.get_mut(&id) else { return };
        let Some(live) = driven.live.get_mut(&trial) else { return };
        let Some(tail) = live.tail.as_mut() else { return };
        let points: Vec<MetricPoint> = match tail.read_new() {
            Ok(points) => points,
            Err(e) => {
                tracing::warn!("reading the metrics of trial {trial} of sweep {}: {e}", driven.row.name);
                return;
            }
        };
        if points.is_empty() {
            return;
        }
        let mut stored = Vec::with_capacity(points.len());
        let mut decision_change = None;
        let mut lag = 0.0f64;
        for p in points {
            lag = lag.max(wall_secs(now) - p.time);
            let n = live.intervals.entry(p.name.clone()).or_default();
            *n += 1;
            let interval = *n;
            let objective = p.name == driven.search.metric;
            if objective && live.status == TrialStatus::Active {
                match driven.search.report(trial, interval, p.value) {
                    Ok(decision) if decision.stop => {
                        let reason = match &driven.search.policy {
                            Some(policy) if p.value.is_finite() => {
                                format!("{}: {}", policy_label(policy), decision.reason)
                            }
                            _ => format!("diverged: {}", decision.reason),
                        };
                        live.status = TrialStatus::Stopped;
                        live.reason = Some(reason.clone());
                        let decision_lag_us = ((wall_secs(now) - p.time).max(0.0) * 1e6) as i64;
                        decision_change = Some(SweepChange::TrialEnded {
                            sweep_id: id,
                            trial,
                            status: TrialStatus::Stopped,
                            reason: Some(reason),
                            decision_lag_us: Some(decision_lag_us),
                            ended: false,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("trial {trial} of sweep {}: {e}", driven.row.name),
                }
            }
            stored.push(StoredPoint { trial, name: p.name, step: p.step, interval, value: p.value, time: p.time });
        }
        live.offsets = tail.offsets.clone();
        self.changes.push(Change::Sweep(SweepChange::Metrics {
            sweep_id: id,
            trial,
            points: stored,
            offsets: live.offsets.clone(),
            ingest_lag_us: (lag.max(0.0) * 1e6) as i64,
        }));
        if let Some(change) = decision_change {
            self.changes.push(Change::Sweep(change));
        }
    }

    /// Cancel requests, too many failed trials, the sweep's timeout.
    fn decide_ending(&mut self, id: i64) {
        let now = self.now.wall;
        let Some(driven) = self.sweeps.driven.get_mut(&id) else { return };
        if driven.ending.is_some() {
            return;
        }
        let spec = &driven.row.spec;
        let ending = if driven.row.cancel_requested {
            Some((SweepState::Cancelled, "cancelled by the user".to_string()))
        } else if let Some(max) = spec.max_failed_trials.filter(|max| driven.failed >= *max) {
            Some((SweepState::Failed, format!("{} trials failed (max_failed_trials is {max})", driven.failed)))
        } else if let Some(timeout) = spec.timeout {
            let elapsed = (now - driven.row.created).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
            (elapsed >= timeout).then(|| (SweepState::Completed, format!("its timeout of {timeout} s was reached")))
        } else {
            None
        };
        let Some((state, reason)) = ending else { return };
        let trial_reason = format!("the sweep ended: {reason}");
        driven.ending = Some((state, reason));
        let mut changes = Vec::new();
        for (trial, live) in driven.live.iter_mut().filter(|(_, l)| l.status == TrialStatus::Active) {
            live.status = TrialStatus::Cancelled;
            live.reason = Some(trial_reason.clone());
            changes.push(SweepChange::TrialEnded {
                sweep_id: id,
                trial: *trial,
                status: TrialStatus::Cancelled,
                reason: Some(trial_reason.clone()),
                decision_lag_us: None,
                ended: false,
            });
        }
        self.changes.extend(changes.into_iter().map(Change::Sweep));
    }

    /// Stop the jobs of trials whose outcome is decided (stopped early or cancelled).
    fn send_stops(&mut self, id: i64) {
        let Some(driven) = self.sweeps.driven.get_mut(&id) else { return };
        let mut stop = Vec::new();
        for live in driven.live.values_mut() {
            if live.status != TrialStatus::Active && !live.stop_sent {
                live.stop_sent = true;
                stop.push(live.job_id);
            }
        }
        for job in stop {
            self.stop_run(job, StopReason::Terminated);
        }
    }

    /// Ask for and create trials up to the concurrency and trial limits.
    fn submit_trials(&mut self, id: i64) -> Result<()> {
        loop {
            let Some(driven) = self.sweeps.driven.get_mut(&id) else { return Ok(()) };
            let spec = &driven.row.spec;
            if driven.ending.is_some()
                || driven.exhausted
                || driven.total >= driven.row.max_trials
                || driven.live.len() >= spec.max_concurrent_trials as usize
            {
                return Ok(());
            }
            let trial = match driven.search.ask() {
                Ok(Some(trial)) => trial,
                Ok(None) => {
                    driven.exhausted = true;
                    return Ok(());
                }
                Err(e) => {
                    driven.ending = Some((SweepState::Failed, format!("the sampler failed: {e}")));
                    return Ok(());
                }
            };
            // Everything decided before this trial is committed before it exists.
            self.commit()?;
            let Some(driven) = self.sweeps.driven.get_mut(&id) else { return Ok(()) };
            let row = driven.row.clone();
            let job_name = format!("{}-{}", row.name, trial.id);
            let params_file = self.params_file(&row, trial.id);
            let job = row.spec.trial_job(&row.name, trial.id, &trial.params, &params_file.display().to_string());
            if let Err(e) = write_params(&params_file, &job.params_json) {
                self.abandon_trial(id, trial.id, format!("cannot write {}: {e}", params_file.display()));
                return Ok(());
            }
            match self.store.create_trial(&row, trial.id, &job.params_json, &job_name, &job.spec, self.now.wall) {
                Ok(job_id) => {
                    self.sweeps.by_job.insert(job_id, (id, trial.id));
                    if let Some(driven) = self.sweeps.driven.get_mut(&id) {
                        driven.total += 1;
                        driven.live.insert(
                            trial.id,
                            Live {
                                job_id,
                                tail: None,
                                offsets: Offsets::default(),
                                intervals: HashMap::new(),
                                status: TrialStatus::Active,
                                reason: None,
                                stop_sent: false,
                            },
                        );
                    }
                    self.load_new_jobs()?;
                }
                Err(e @ crate::engine::Error::Store { .. }) => {
                    // The database was busy or failing: forget the suggestion and try next turn.
                    if let Some(driven) = self.sweeps.driven.get_mut(&id) {
                        driven.search.trials.retain(|t| t.id != trial.id);
                    }
                    return Err(e);
                }
                Err(e) => {
                    self.abandon_trial(id, trial.id, format!("its trial job '{job_name}' cannot be created: {e}"));
                    return Ok(());
                }
            }
        }
    }

    /// A trial that cannot become a job ends the sweep: its template cannot run.
    fn abandon_trial(&mut self, id: i64, trial: u64, reason: String) {
        if let Some(driven) = self.sweeps.driven.get_mut(&id) {
            driven.search.trials.retain(|t| t.id != trial);
            driven.ending = Some((SweepState::Failed, reason));
        }
    }

    fn params_file(&self, row: &SweepRow, trial: u64) -> PathBuf {
        self.store
            .layout()
            .root
            .join("sweeps")
            .join(&row.experiment)
            .join(&row.name)
            .join(format!("trial-{trial}.json"))
    }

    /// End the sweep once nothing of it runs and nothing more will start.
    fn maybe_end_sweep(&mut self, id: i64) {
        let Some(driven) = self.sweeps.driven.get(&id) else { return };
        if !driven.live.is_empty() {
            return;
        }
        let ending = match &driven.ending {
            Some(ending) => Some(ending.clone()),
            None if driven.total >= driven.row.max_trials => {
                Some((SweepState::Completed, format!("max_trials ({}) reached", driven.row.max_trials)))
            }
            None if driven.exhausted => Some((
                SweepState::Completed,
                format!("the sampler has suggested every one of its {} combinations", driven.total),
            )),
            None => None,
        };
        if let Some((state, reason)) = ending {
            self.changes.push(Change::Sweep(SweepChange::SweepEnded { sweep_id: id, state, reason }));
            self.sweeps.driven.remove(&id);
            self.sweeps.by_job.retain(|_, (sweep, _)| *sweep != id);
        }
    }

    /// A trial's job was handed to its engine to start (the launcher reports no success: the
    /// process runs from here on unless a failure is reported).
    pub(super) fn trial_launched(&mut self, job_id: i64) {
        let Some(&(sweep_id, trial)) = self.sweeps.by_job.get(&job_id) else { return };
        // A requeued job starts again; the store keeps the first launch.
        self.changes.push(Change::Sweep(SweepChange::TrialLaunched { sweep_id, trial }));
    }

    /// A job ended: if it is a trial's, read what it logged last and decide the trial's outcome
    /// (called before the job's entry is dropped).
    pub(super) fn trial_job_ended(&mut self, job_id: i64, state: ExecutionState) {
        let Some(&(sweep, trial)) = self.sweeps.by_job.get(&job_id) else { return };
        // The job's end was just recorded in this turn's changes (with its exit code).
        let exit_code = self.changes.iter().rev().find_map(|c| match c {
            Change::JobFinished { id, exit_code, .. } if *id == job_id => Some(*exit_code),
            _ => None,
        });
        let entry = self.jobs.get(&job_id);
        let stopped_by = if self.sweeps.deleted.remove(&job_id) {
            Some("its job was deleted")
        } else {
            match entry.and_then(|e| e.run.as_ref()).and_then(|r| r.stop.as_ref()) {
                Some(StopReason::WallClock) => Some("its trial_timeout was reached"),
                Some(StopReason::Deleted) => Some("its job was deleted"),
                Some(StopReason::Terminated) => Some("its job was terminated"),
                _ if entry.is_some_and(|e| e.job.terminate_requested) => Some("its job was terminated"),
                _ => None,
            }
        };
        self.end_trial(sweep, trial, job_id, Some(state), exit_code.flatten(), stopped_by);
    }

    fn end_trial(
        &mut self,
        id: i64,
        trial: u64,
        job_id: i64,
        state: Option<ExecutionState>,
        exit_code: Option<i32>,
        stopped_by: Option<&str>,
    ) {
        self.ingest_trial(id, trial, true);
        self.sweeps.by_job.remove(&job_id);
        let Some(driven) = self.sweeps.driven.get_mut(&id) else { return };
        let Some(live) = driven.live.remove(&trial) else { return };
        let metric = driven.search.metric.clone();
        let intermediate = driven.search.trial(trial).map(|t| t.intermediate.clone()).unwrap_or_default();
        let best = best_value(&driven.search, &intermediate);
        let (status, reason) = match (live.status, state) {
            (TrialStatus::Stopped | TrialStatus::Cancelled, _) => (live.status, None),
            (_, None) => (TrialStatus::Cancelled, Some("its job was deleted".to_string())),
            (_, Some(_)) if stopped_by.is_some() => (TrialStatus::Cancelled, stopped_by.map(str::to_string)),
            (_, Some(ExecutionState::Succeeded)) => match best {
                Some(_) => (TrialStatus::Completed, None),
                None => {
                    let logged: BTreeSet<&String> = live.intervals.keys().collect();
                    let what = if logged.is_empty() {
                        "it logged no metrics".to_string()
                    } else {
                        format!("it logged {}", logged.into_iter().cloned().collect::<Vec<_>>().join(", "))
                    };
                    (TrialStatus::Failed, Some(format!("the job succeeded but logged no value of '{metric}' ({what})")))
                }
            },
            (_, Some(_)) => {
                let code = exit_code.map_or("no exit code".to_string(), |c| format!("exit code {c}"));
                (TrialStatus::Failed, Some(format!("its job failed ({code})")))
            }
        };
        match status {
            TrialStatus::Completed => {
                let _ = driven.search.tell(trial, best, TrialState::Completed);
            }
            TrialStatus::Stopped => {} // the search recorded it when the policy decided
            _ => {
                let _ = driven.search.tell(trial, None, TrialState::Failed);
                // A grid with `retries` can offer a failed point again: ask once more.
                driven.exhausted = false;
            }
        }
        driven.failed += u64::from(status == TrialStatus::Failed);
        self.changes.push(Change::Sweep(SweepChange::TrialEnded {
            sweep_id: id,
            trial,
            status,
            reason,
            decision_lag_us: None,
            ended: true,
        }));
    }
}

fn write_params(path: &std::path::Path, json: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, json)
}
