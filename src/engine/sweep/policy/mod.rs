//! Early-termination policies: from the trials' intermediate values, stop or continue one trial.
//!
//! Theory of operation: a policy is consulted each time a trial reports a value. It looks at the
//! whole history (every trial's intermediate values, whatever its state, except failed trials,
//! whose numbers are not trusted) and decides for the reporting trial at its latest step. It keeps
//! no state, so the same history always gives the same decision, and every [`Decision`] carries
//! a sentence saying why, worded with the metric's name, to be recorded and shown.
//!
//! The policies are Azure ML HyperDrive's, with its parameters and semantics:
//!
//! * [`Bandit`]: stop a trial whose best value so far is outside a slack of the best value any
//!   trial has reached by that step (`slack_factor`: ratio; `slack_amount`: difference);
//! * [`MedianStopping`]: stop a trial whose best value so far is worse than the median of the
//!   other trials' running averages at the same step;
//! * [`TruncationSelection`]: stop the trials in the worst `truncation_percentage` % at each
//!   evaluation step, comparing trials at the same step;
//!
//! Azure ML's `evaluation_interval` and `delay_evaluation` are in steps here (the agent counts a
//! trial's logged values 1, 2, 3, … as Azure ML counts intervals): the evaluation points are the
//! positive multiples of `evaluation_interval` that are at least `delay_evaluation`, and a report
//! is judged when it is the first at or after a point ([`evaluation_point`]), so a trial that
//! reports off the multiples is judged all the same. Plus [`Asha`], asynchronous successive
//! halving (Li et al. 2020), and [`Hyperband`], brackets of it, as in Ray Tune and Optuna.
//! Each module's docs give its exact rule and what it does where Azure ML's is ill-defined.

pub mod asha;
pub mod bandit;
pub mod hyperband;
pub mod median;
pub mod truncation;

use serde::{Deserialize, Serialize};

pub use asha::Asha;
pub use bandit::Bandit;
pub use hyperband::Hyperband;
pub use median::MedianStopping;
pub use truncation::TruncationSelection;

use crate::engine::error::{Error, ValidationError};
use crate::engine::sweep::trial::{Direction, Trial, TrialState, fmt_value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Policy {
    Bandit(Bandit),
    MedianStopping(MedianStopping),
    TruncationSelection(TruncationSelection),
    Asha(Asha),
    Hyperband(Hyperband),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub trial: u64,
    pub stop: bool,
    pub reason: String,
}

/// What a policy sees: the history, the trial to judge, the goal and the metric's name.
pub struct Context<'a> {
    pub trials: &'a [Trial],
    pub trial: &'a Trial,
    pub direction: Direction,
    pub metric: &'a str,
}

impl Context<'_> {
    /// This trial's value at its latest report `step`, read by `value`, when that report is the
    /// first at or after an evaluation point; `Err` is the decision to keep the trial, with the
    /// reason, when the report passes no evaluation point or the trial has no value yet.
    pub(crate) fn evaluated(
        &self,
        step: u64,
        interval: u64,
        delay: u64,
        value: impl FnOnce(&Trial) -> Option<f64>,
    ) -> Result<f64, Decision> {
        let id = self.trial.id;
        if let Err(skip) = evaluation_point(previous_step(self.trial), step, interval, delay) {
            return Err(keep(id, skip));
        }
        value(self.trial).ok_or_else(|| keep(id, format!("trial {id} has no {} by step {step}", self.metric)))
    }

    /// Trials other than failed ones (their values are not trusted).
    pub fn usable(&self) -> impl Iterator<Item = &Trial> {
        self.trials.iter().filter(|t| t.state != TrialState::Failed)
    }

    /// Other usable trials.
    pub fn others(&self) -> impl Iterator<Item = &Trial> {
        let id = self.trial.id;
        self.usable().filter(move |t| t.id != id)
    }
}

impl Policy {
    /// The settings with implied values made explicit (a bandit with no slack gets the default
    /// slack factor), so that what is shown and saved is what runs.
    pub fn normalized(self) -> Policy {
        match self {
            Policy::Bandit(p) => Policy::Bandit(p.normalized()),
            other => other,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Policy::Bandit(p) => p.validate(),
            Policy::MedianStopping(p) => p.validate(),
            Policy::TruncationSelection(p) => p.validate(),
            Policy::Asha(p) => p.validate(),
            Policy::Hyperband(p) => p.validate(),
        }
    }

    /// Decide for trial `id` at its latest report.
    pub fn decide(&self, trials: &[Trial], id: u64, direction: Direction, metric: &str) -> Result<Decision, Error> {
        self.validate()?;
        let Some(trial) = trials.iter().find(|t| t.id == id) else {
            return Err(ValidationError::new("trial", id.to_string(), "is not in the history").into());
        };
        let cx = Context { trials, trial, direction, metric };
        let Some(step) = trial.last_step() else {
            return Ok(keep(id, format!("trial {id} has not reported {metric} yet")));
        };
        Ok(match self {
            Policy::Bandit(p) => p.decide(&cx, step),
            Policy::MedianStopping(p) => p.decide(&cx, step),
            Policy::TruncationSelection(p) => p.decide(&cx, step),
            Policy::Asha(p) => p.decide(&cx, step),
            Policy::Hyperband(p) => p.decide(&cx, step),
        })
    }
}

pub(crate) fn keep(trial: u64, reason: String) -> Decision {
    Decision { trial, stop: false, reason }
}

pub(crate) fn stop(trial: u64, reason: String) -> Decision {
    Decision { trial, stop: true, reason }
}

/// The evaluation point a report at `step` is judged for, given the trial's previous report at
/// `previous`: the latest point e (a positive multiple of `interval`, at least `delay`, as Azure
/// ML counts intervals from 1) with previous < e ≤ step. So every report that is the first at or
/// after a point is judged, even when the trial never reports exactly at a multiple of `interval`
/// (reports at 3, 7, 11 with interval 5 are judged at 7 for point 5 and at 11 for point 10).
/// `Err` says why a report is not judged.
pub(crate) fn evaluation_point(previous: Option<u64>, step: u64, interval: u64, delay: u64) -> Result<u64, String> {
    let interval = interval.max(1);
    let first = delay.div_ceil(interval).max(1) * interval;
    let point = step / interval * interval;
    if point < first {
        return Err(format!(
            "step {step} is before the first evaluation at step {first} (delay_evaluation {delay}, every {interval} steps)"
        ));
    }
    match previous {
        Some(p) if point <= p => Err(format!(
            "step {step} passes no evaluation point since step {p} (every {interval} steps from step {first})"
        )),
        _ => Ok(point),
    }
}

/// The step of the report before the trial's latest one.
pub(crate) fn previous_step(trial: &Trial) -> Option<u64> {
    let n = trial.intermediate.len();
    n.checked_sub(2).map(|i| trial.intermediate[i].step)
}

pub(crate) fn check_interval(interval: u64) -> Result<(), ValidationError> {
    if interval == 0 {
        return Err(ValidationError::new("evaluation_interval", "0", "must be at least 1"));
    }
    Ok(())
}

/// Two values as text for a reason, with enough digits to tell them apart when they differ, so
/// that "0.6667 is below 0.6667" is never written.
pub(crate) fn distinct(a: f64, b: f64) -> (String, String) {
    let (x, y) = (fmt_value(a), fmt_value(b));
    if x == y && a != b { (a.to_string(), b.to_string()) } else { (x, y) }
}

/// The median of `values` (not empty).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) }
}

#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Map;

    use crate::engine::sweep::trial::{Report, Trial, TrialState};

    /// A trial with `values` reported at steps 1, 2, 3, …
    pub fn curve(id: u64, values: &[f64]) -> Trial {
        steps(id, &values.iter().enumerate().map(|(i, v)| (i as u64 + 1, *v)).collect::<Vec<_>>())
    }

    pub fn steps(id: u64, reports: &[(u64, f64)]) -> Trial {
        let mut t = Trial::new(id, Map::new());
        t.intermediate = reports.iter().map(|&(step, value)| Report { step, value }).collect();
        t
    }

    pub fn with_state(mut t: Trial, state: TrialState) -> Trial {
        t.state = state;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn policies_round_trip_and_judge_only_known_trials() {
        let p: Policy = serde_json::from_str(r#"{"type": "bandit", "slack_factor": 0.1}"#).unwrap();
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&text).unwrap(), p);
        let trials = [curve(0, &[1.0])];
        let err = p.decide(&trials, 9, Direction::Minimize, "loss").unwrap_err();
        assert!(err.to_string().contains("not in the history"));
        let silent = [curve(0, &[])];
        let d = p.decide(&silent, 0, Direction::Minimize, "loss").unwrap();
        assert!(!d.stop && d.reason.contains("not reported loss"), "{d:?}");
    }

    #[test]
    fn fields_left_out_take_the_defaults_and_a_bandit_gets_a_slack() {
        let parse = |text: &str| serde_json::from_str::<Policy>(text).unwrap();
        assert_eq!(parse(r#"{"type": "median_stopping"}"#), Policy::MedianStopping(MedianStopping::default()));
        assert_eq!(parse(r#"{"type": "truncation_selection"}"#), Policy::TruncationSelection(Default::default()));
        assert_eq!(parse(r#"{"type": "asha"}"#), Policy::Asha(Asha::default()));
        let bare = parse(r#"{"type": "bandit"}"#);
        assert!(bare.validate().is_err(), "no slack is not a policy until normalized");
        assert_eq!(bare.normalized(), Policy::Bandit(Bandit::default()));
        let amount = parse(r#"{"type": "bandit", "slack_amount": 0.1}"#).normalized();
        assert!(matches!(&amount, Policy::Bandit(b) if b.slack_factor.is_none() && b.delay_evaluation == 30));
        let both = Bandit { slack_amount: Some(0.1), ..Bandit::default() };
        let err = both.validate().unwrap_err();
        assert_eq!(err.value, "0.3", "no Rust debug text in messages");
        assert!(
            err.to_string().starts_with("invalid slack_factor: 0.3 cannot be combined with slack_amount 0.1"),
            "{err}"
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
