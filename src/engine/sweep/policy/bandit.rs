//! Bandit policy (Azure ML): stop a trial that falls outside a slack of the best trial.
//!
//! Theory of operation: at an evaluation step `s`, the reference is the best value any usable trial
//! reported at a step ≤ s, and the trial's own score is its best value up to `s` (Azure ML: "the
//! best metric reported for a run"). With `slack_factor` f the allowed threshold is best / (1 + f)
//! when maximizing and best · (1 + f) when minimizing (a ratio, so meant for positive metrics);
//! with `slack_amount` a it is best − a or best + a. A trial worse than the threshold is stopped.

use serde::{Deserialize, Serialize};

use super::{Context, Decision, check_interval, keep, stop};
use crate::engine::error::ValidationError;
use crate::engine::sweep::trial::{Direction, fmt_value};

/// Fields left out take the [`Default`] values, the one place the defaults are written (Python
/// reads them through `batchai._core.sweep_defaults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bandit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_amount: Option<f64>,
    pub evaluation_interval: u64,
    pub delay_evaluation: u64,
}

/// The slack factor when neither slack is given (Azure ML requires one).
pub const DEFAULT_SLACK_FACTOR: f64 = 0.3;

impl Default for Bandit {
    /// Slack factor 0.3 every step after 20 steps: the delay spares slow starters.
    fn default() -> Self {
        Bandit {
            slack_factor: Some(DEFAULT_SLACK_FACTOR),
            slack_amount: None,
            evaluation_interval: 1,
            delay_evaluation: 20,
        }
    }
}

impl Bandit {
    /// Settings with the default slack factor when neither slack is given.
    pub fn normalized(self) -> Bandit {
        match (self.slack_factor, self.slack_amount) {
            (None, None) => Bandit { slack_factor: Some(DEFAULT_SLACK_FACTOR), ..self },
            _ => self,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        check_interval(self.evaluation_interval)?;
        match (self.slack_factor, self.slack_amount) {
            (Some(_), Some(_)) | (None, None) => Err(ValidationError::new(
                "slack_factor",
                format!("{} and slack_amount {}", show_slack(self.slack_factor), show_slack(self.slack_amount)),
                "exactly one of slack_factor and slack_amount must be given",
            )),
            (Some(f), None) if !(f.is_finite() && f >= 0.0) => {
                Err(ValidationError::new("slack_factor", f.to_string(), "must be a non-negative number"))
            }
            (None, Some(a)) if !(a.is_finite() && a >= 0.0) => {
                Err(ValidationError::new("slack_amount", a.to_string(), "must be a non-negative number"))
            }
            _ => Ok(()),
        }
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let (id, d) = (cx.trial.id, cx.direction);
        let own = match cx.evaluated(step, self.evaluation_interval, self.delay_evaluation, |t| t.best_up_to(step, d)) {
            Ok(own) => own,
            Err(keep) => return keep,
        };
        let best = cx.usable().filter_map(|t| t.best_up_to(step, d)).fold(own, |a, b| d.best(a, b));
        let (threshold, slack) = match (self.slack_factor, self.slack_amount, d) {
            (Some(f), _, Direction::Maximize) => (best / (1.0 + f), format!("slack factor {f}")),
            (Some(f), _, Direction::Minimize) => (best * (1.0 + f), format!("slack factor {f}")),
            (None, Some(a), Direction::Maximize) => (best - a, format!("slack amount {a}")),
            (None, Some(a), Direction::Minimize) => (best + a, format!("slack amount {a}")),
            (None, None, _) => (best, "no slack".to_string()),
        };
        let (metric, v, t, b) = (cx.metric, fmt_value(own), fmt_value(threshold), fmt_value(best));
        if d.better(threshold, own) {
            stop(
                id,
                format!(
                    "{metric} {v} (best of trial {id} by step {step}) is {} {t}, the best {b} at step {step} with {slack}",
                    d.worse_word()
                ),
            )
        } else {
            keep(id, format!("{metric} {v} at step {step} is within {slack} of the best {b} (threshold {t})"))
        }
    }
}

fn show_slack(slack: Option<f64>) -> String {
    slack.map_or_else(|| "null".to_string(), |x| x.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;

    fn decide(p: Bandit, trials: &[crate::engine::sweep::trial::Trial], id: u64, d: Direction) -> Decision {
        Policy::Bandit(p).decide(trials, id, d, "acc").unwrap()
    }

    #[test]
    fn slack_factor_follows_azure_for_maximize() {
        // Best 0.8; threshold 0.8 / 1.2 = 0.667.
        let p = Bandit { slack_factor: Some(0.2), slack_amount: None, evaluation_interval: 1, delay_evaluation: 0 };
        let trials = [curve(0, &[0.5, 0.8]), curve(1, &[0.4, 0.6]), curve(2, &[0.5, 0.7])];
        let d = decide(p.clone(), &trials, 1, Direction::Maximize);
        assert!(d.stop, "{d:?}");
        assert_eq!(
            d.reason,
            "acc 0.6 (best of trial 1 by step 2) is below 0.6667, the best 0.8 at step 2 with slack factor 0.2"
        );
        assert!(!decide(p.clone(), &trials, 2, Direction::Maximize).stop);
        assert!(!decide(p, &trials, 0, Direction::Maximize).stop, "the best trial continues");
    }

    #[test]
    fn slack_factor_and_amount_for_minimize() {
        let trials = [curve(0, &[1.0, 0.5]), curve(1, &[1.0, 0.58]), curve(2, &[1.0, 0.62])];
        let f = Bandit { slack_factor: Some(0.2), slack_amount: None, evaluation_interval: 1, delay_evaluation: 0 };
        assert!(!decide(f.clone(), &trials, 1, Direction::Minimize).stop, "0.58 <= 0.6");
        assert!(decide(f, &trials, 2, Direction::Minimize).stop, "0.62 > 0.6");
        let a = Bandit { slack_factor: None, slack_amount: Some(0.1), evaluation_interval: 1, delay_evaluation: 0 };
        assert!(!decide(a.clone(), &trials, 1, Direction::Minimize).stop);
        let d = decide(a, &trials, 2, Direction::Minimize);
        assert!(d.stop && d.reason.contains("above 0.6") && d.reason.contains("slack amount 0.1"), "{d:?}");
    }

    #[test]
    fn interval_and_delay_are_respected() {
        let trials = [curve(0, &[0.1, 0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9])];
        let p = Bandit { slack_factor: Some(0.1), slack_amount: None, evaluation_interval: 2, delay_evaluation: 4 };
        let d = decide(p.clone(), &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("before the first evaluation"), "{d:?}");
        let p = Bandit { delay_evaluation: 0, ..p };
        let d = decide(p, &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("not an evaluation step"), "{d:?}");
        let late = [curve(0, &[0.1, 0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9, 0.9])];
        let p = Bandit { slack_factor: Some(0.1), slack_amount: None, evaluation_interval: 2, delay_evaluation: 4 };
        assert!(decide(p, &late, 1, Direction::Minimize).stop);
    }

    #[test]
    fn failed_trials_do_not_set_the_bar() {
        use crate::engine::sweep::trial::TrialState;
        let trials = [with_state(curve(0, &[0.01]), TrialState::Failed), curve(1, &[0.5]), curve(2, &[0.52])];
        let p = Bandit { slack_factor: Some(0.1), slack_amount: None, evaluation_interval: 1, delay_evaluation: 0 };
        assert!(!decide(p, &trials, 2, Direction::Minimize).stop);
    }

    #[test]
    fn exactly_one_slack_is_required() {
        let both =
            Bandit { slack_factor: Some(0.1), slack_amount: Some(0.1), evaluation_interval: 1, delay_evaluation: 0 };
        assert_eq!(both.validate().unwrap_err().field, "slack_factor");
        let neither = Bandit { slack_factor: None, ..both.clone() };
        let neither = Bandit { slack_amount: None, ..neither };
        assert!(neither.validate().unwrap_err().rule.contains("exactly one"));
        let zero = Bandit { evaluation_interval: 0, ..Bandit::default() };
        assert_eq!(zero.validate().unwrap_err().field, "evaluation_interval");
    }
}
