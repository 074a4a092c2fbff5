//! A search: the ask/tell loop over a space, a sampler and an optional policy, with its history.
//!
//! Theory of operation: [`Search`] owns the trials. `ask` asks the sampler for the next
//! parameters (given every trial so far, running ones included) and records a running trial;
//! `report` appends an intermediate value and, if a policy is set, returns its [`Decision`],
//! marking the trial stopped when the decision is to stop; `tell` finishes a trial with a value
//! or a state. A non-finite final value makes the trial failed, as Optuna does for NaN. The whole
//! search is serde data (space, sampler, policy, direction, metric, trials), so it can be saved
//! and resumed: with the same seed, a resumed search suggests what the original would have.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::error::{Error, ValidationError};
use crate::engine::model::validate::show;
use crate::engine::sweep::policy::{Decision, Policy};
use crate::engine::sweep::sampler::Sampler;
use crate::engine::sweep::space::Space;
use crate::engine::sweep::trial::{Direction, Report, Trial, TrialState, fmt_value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub space: Space,
    pub sampler: Sampler,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    pub direction: Direction,
    pub metric: String,
    #[serde(default)]
    pub trials: Vec<Trial>,
}

impl Search {
    pub fn new(
        space: Space,
        sampler: Sampler,
        policy: Option<Policy>,
        direction: Direction,
        metric: &str,
    ) -> Result<Search, ValidationError> {
        let search = Search { space, sampler, policy, direction, metric: metric.to_string(), trials: Vec::new() };
        search.validate()?;
        Ok(search)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.metric.trim().is_empty() {
            return Err(ValidationError::new("metric", "\"\"", "must name the metric (for example \"loss\")"));
        }
        self.sampler.check(&self.space)?;
        if let Some(policy) = &self.policy {
            policy.validate()?;
        }
        for (i, t) in self.trials.iter().enumerate() {
            if self.trials[..i].iter().any(|u| u.id == t.id) {
                return Err(ValidationError::new("trials", t.id.to_string(), "has two trials with the same id"));
            }
        }
        Ok(())
    }

    /// Suggest and record the next trial; `None` once a grid is exhausted.
    pub fn ask(&mut self) -> Result<Option<Trial>, Error> {
        let Some(params) = self.sampler.suggest(&self.space, &self.trials, self.direction)? else {
            return Ok(None);
        };
        let id = self.trials.iter().map(|t| t.id + 1).max().unwrap_or(0);
        let trial = Trial::new(id, params);
        self.trials.push(trial.clone());
        Ok(Some(trial))
    }

    /// Record a trial evaluated elsewhere (a warm start); its parameters must be in the space.
    pub fn add(&mut self, params: Map<String, Value>, value: Option<f64>, state: TrialState) -> Result<Trial, Error> {
        for (name, param) in self.space.params() {
            let Some(value) = params.get(name) else {
                let rule = format!("gives no value for {name}; every parameter of the space needs one");
                return Err(ValidationError::new("params", show(&params), rule).into());
            };
            if param.to_internal(value).is_none() {
                let rule = format!("is not a value of {}", param.describe());
                return Err(ValidationError::new(format!("params.{name}"), show(value), rule).into());
            }
        }
        if let Some(extra) = params.keys().find(|k| !self.space.params().iter().any(|(n, _)| n == *k)) {
            let rule = "is not a parameter of the space";
            return Err(ValidationError::new(format!("params.{extra}"), format!("{extra:?}"), rule).into());
        }
        let id = self.trials.iter().map(|t| t.id + 1).max().unwrap_or(0);
        let mut trial = Trial::new(id, params);
        self.finish(&mut trial, value, state)?;
        self.trials.push(trial.clone());
        Ok(trial)
    }

    fn index(&self, id: u64) -> Result<usize, Error> {
        self.trials
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| ValidationError::new("trial", id.to_string(), "is not a trial of this search").into())
    }

    /// Finish trial `id`: with a value (completed), or as failed or stopped.
    pub fn tell(&mut self, id: u64, value: Option<f64>, state: TrialState) -> Result<Trial, Error> {
        let i = self.index(id)?;
        let mut trial = self.trials[i].clone();
        if trial.state.is_finished() {
            return Err(Error::Conflict(format!("trial {id} is already {}", trial.state.as_str())));
        }
        self.finish(&mut trial, value, state)?;
        self.trials[i] = trial.clone();
        Ok(trial)
    }

    fn finish(&self, trial: &mut Trial, value: Option<f64>, state: TrialState) -> Result<(), Error> {
        match (state, value) {
            (TrialState::Running, _) => {
                return Err(ValidationError::new("state", "\"running\"", "must be completed, failed or stopped").into());
            }
            (TrialState::Completed, None) => {
                return Err(ValidationError::new("value", "null", "is required for a completed trial").into());
            }
            (TrialState::Completed, Some(v)) if !v.is_finite() => {
                trial.state = TrialState::Failed;
            }
            (s, v) => {
                trial.state = s;
                trial.value = v.filter(|v| v.is_finite());
            }
        }
        Ok(())
    }

    /// Record an intermediate value of a running trial; returns the policy's decision.
    pub fn report(&mut self, id: u64, step: u64, value: f64) -> Result<Decision, Error> {
        let i = self.index(id)?;
        let trial = &self.trials[i];
        if trial.state != TrialState::Running {
            return Err(Error::Conflict(format!("trial {id} is {}; only running trials report", trial.state.as_str())));
        }
        if let Some(last) = trial.last_step().filter(|last| step <= *last) {
            return Err(ValidationError::new(
                "step",
                step.to_string(),
                format!("must be greater than the last step reported ({last})"),
            )
            .into());
        }
        if !value.is_finite() {
            // A diverged run cannot recover its numbers: stop it whatever the policy.
            let trial = &mut self.trials[i];
            trial.state = TrialState::Stopped;
            let reason = format!("{} is {} at step {step}", self.metric, fmt_value(value));
            return Ok(Decision { trial: id, stop: true, reason });
        }
        self.trials[i].intermediate.push(Report { step, value });
        let Some(policy) = &self.policy else {
            return Ok(Decision { trial: id, stop: false, reason: "no early-termination policy".to_string() });
        };
        let decision = policy.decide(&self.trials, id, self.direction, &self.metric)?;
        if decision.stop {
            self.trials[i].state = TrialState::Stopped;
        }
        Ok(decision)
    }

    /// How many more trials `ask` can suggest (`None`: unlimited): the grid points not yet taken,
    /// or the configurations of a discrete space no trial has taken under TPE.
    pub fn remaining(&self) -> Option<u64> {
        self.sampler.remaining(&self.space, &self.trials)
    }

    /// The best completed trial.
    pub fn best(&self) -> Option<&Trial> {
        self.trials.iter().filter(|t| t.state == TrialState::Completed).filter(|t| t.value.is_some()).min_by(|a, b| {
            self.direction.loss(a.value.unwrap_or(0.0)).total_cmp(&self.direction.loss(b.value.unwrap_or(0.0)))
        })
    }

    pub fn trial(&self, id: u64) -> Result<&Trial, Error> {
        Ok(&self.trials[self.index(id)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sweep::policy::Bandit;
    use crate::engine::sweep::sampler::TpeSampler;
    use serde_json::json;

    fn search(policy: Option<Policy>) -> Search {
        let space = Space::from_value(json!({"x": {"type": "uniform", "low": -2.0, "high": 2.0}})).unwrap();
        Search::new(
            space,
            Sampler::Tpe(TpeSampler { seed: 3, ..Default::default() }),
            policy,
            Direction::Minimize,
            "loss",
        )
        .unwrap()
    }

    #[test]
    fn ask_tell_finds_the_minimum_and_resumes_identically() {
        let mut s = search(None);
        for _ in 0..40 {
            let t = s.ask().unwrap().unwrap();
            let x = t.params["x"].as_f64().unwrap();
            s.tell(t.id, Some((x - 0.5).powi(2)), TrialState::Completed).unwrap();
        }
        let best = s.best().unwrap();
        assert!(best.value.unwrap() < 0.01, "{best:?}");
        let saved = serde_json::to_string(&s).unwrap();
        let mut resumed: Search = serde_json::from_str(&saved).unwrap();
        assert_eq!(resumed.ask().unwrap(), s.ask().unwrap());
    }

    #[test]
    fn tell_and_report_check_their_input() {
        let mut s = search(Some(Policy::Bandit(Bandit {
            slack_factor: Some(0.1),
            slack_amount: None,
            evaluation_interval: 1,
            delay_evaluation: 0,
        })));
        let a = s.ask().unwrap().unwrap();
        let b = s.ask().unwrap().unwrap();
        assert_ne!(a.id, b.id);
        assert!(!s.report(a.id, 1, 1.0).unwrap().stop);
        let err = s.report(a.id, 1, 0.9).unwrap_err();
        assert!(err.to_string().contains("greater than the last step"), "{err}");
        let d = s.report(b.id, 1, 2.0).unwrap();
        assert!(d.stop, "{d:?}");
        assert_eq!(s.trial(b.id).unwrap().state, TrialState::Stopped);
        assert!(matches!(s.tell(b.id, Some(1.0), TrialState::Completed), Err(Error::Conflict(_))));
        assert!(matches!(s.tell(a.id, None, TrialState::Completed), Err(Error::Validation(_))));
        let t = s.tell(a.id, Some(f64::NAN), TrialState::Completed).unwrap();
        assert_eq!(t.state, TrialState::Failed);
        assert!(matches!(s.tell(99, Some(1.0), TrialState::Completed), Err(Error::Validation(_))));
        let c = s.ask().unwrap().unwrap();
        let d = s.report(c.id, 1, f64::INFINITY).unwrap();
        assert!(d.stop && d.reason.contains("inf"), "{d:?}");
    }

    #[test]
    fn grid_searches_end() {
        let space = Space::from_value(json!({"c": {"type": "choice", "values": [1, 2]}})).unwrap();
        let mut s = Search::new(space, Sampler::grid(), None, Direction::Maximize, "acc").unwrap();
        assert!(s.ask().unwrap().is_some());
        assert!(s.ask().unwrap().is_some());
        assert!(s.ask().unwrap().is_none());
        let added = s.add(json!({"c": 2}).as_object().unwrap().clone(), Some(0.5), TrialState::Completed).unwrap();
        assert_eq!(added.id, 2);
        let err = s.add(json!({"c": 3}).as_object().unwrap().clone(), Some(0.5), TrialState::Completed).unwrap_err();
        assert!(err.to_string().contains("params.c: 3 is not a value of choice([1,2])"), "{err}");
        let err = s.add(json!({}).as_object().unwrap().clone(), Some(0.5), TrialState::Completed).unwrap_err();
        assert!(err.to_string().contains("gives no value for c"), "{err}");
        let err = s.add(json!({"c": 1, "d": 2}).as_object().unwrap().clone(), None, TrialState::Failed).unwrap_err();
        assert!(err.to_string().contains("params.d"), "{err}");
        assert_eq!(s.best().unwrap().id, 2);
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn grids_walk_by_what_is_done_not_by_count() {
        let space = Space::from_value(
            json!({"a": {"type": "int", "low": 1, "high": 3}, "b": {"type": "choice", "values": ["x", "y"]}}),
        )
        .unwrap();
        let mut s = Search::new(space, Sampler::grid(), None, Direction::Minimize, "loss").unwrap();
        // A warm start on a point in the middle of the grid (3.0 is the grid's 3).
        s.add(params(json!({"a": 2.0, "b": "y"})), Some(1.0), TrialState::Completed).unwrap();
        assert_eq!(s.remaining(), Some(5));
        let mut asked = Vec::new();
        while let Some(t) = s.ask().unwrap() {
            asked.push(Value::Object(t.params.clone()));
            s.tell(t.id, Some(0.0), TrialState::Completed).unwrap();
        }
        assert_eq!(asked.len(), 5, "{asked:?}");
        assert!(!asked.contains(&json!({"a": 2, "b": "y"})));
        asked.push(json!({"a": 2, "b": "y"}));
        asked.sort_by_key(|v| v.to_string());
        asked.dedup();
        assert_eq!(asked.len(), 6, "every point exactly once");
        assert_eq!(s.remaining(), Some(0));
    }

    #[test]
    fn grids_retry_failed_points_when_asked_to() {
        let space = Space::from_value(json!({"a": {"type": "choice", "values": [1, 2, 3]}})).unwrap();
        for retries in [0u32, 2] {
            let mut s =
                Search::new(space.clone(), Sampler::Grid { retries }, None, Direction::Minimize, "loss").unwrap();
            // Point 2 always fails; the others complete. A pending point is not handed out twice.
            let mut runs: Vec<i64> = Vec::new();
            loop {
                let batch: Vec<Trial> = std::iter::from_fn(|| s.ask().unwrap()).take(2).collect();
                if batch.is_empty() {
                    break;
                }
                let a: Vec<i64> = batch.iter().map(|t| t.params["a"].as_i64().unwrap()).collect();
                assert!(a.len() < 2 || a[0] != a[1], "one point twice in a batch: {a:?}");
                for t in batch {
                    let a = t.params["a"].as_i64().unwrap();
                    runs.push(a);
                    let state = if a == 2 { TrialState::Failed } else { TrialState::Completed };
                    s.tell(t.id, (a != 2).then_some(1.0), state).unwrap();
                }
            }
            let twos = runs.iter().filter(|a| **a == 2).count();
            assert_eq!(twos, 1 + retries as usize, "retries {retries}: {runs:?}");
            assert_eq!(runs.iter().filter(|a| **a != 2).count(), 2, "{runs:?}");
        }
    }
}
