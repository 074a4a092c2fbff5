//! Bandit policy (Azure ML): stop a trial that falls outside a slack of the best trial.
//!
//! Theory of operation: a report is judged when it is the first at or after an evaluation point
//! (see [`super::evaluation_point`]); at its step `s` the reference B is the best value any usable
//! trial reported at a step ≤ s (the judged trial included), and the trial's own score is its best
//! value up to `s` (Azure ML: "the best metric reported for a run"). The trial is stopped when its
//! score is strictly worse than the threshold:
//!
//! * `slack_amount` a: B − a when maximizing, B + a when minimizing (Azure ML's rule, any sign);
//! * `slack_factor` f, maximizing: B − |B| · f / (1 + f), which is Azure ML's B / (1 + f) for
//!   B > 0; minimizing: B + |B| · f, the symmetric B · (1 + f) for B > 0 (Azure ML documents no
//!   minimize formula).
//!
//! Azure ML's ratio is ill-defined for B ≤ 0: B / (1 + f) is then *better* than B, which would
//! stop every trial, the leader included. Measuring the slack from |B| keeps the threshold on the
//! worse side of the best for any sign, so the leader always continues; at B = 0 the ratio slack
//! is zero (every trial worse than the best stops), and a ratio slack means different things for
//! a loss near zero and an accuracy near one: for metrics that cross or sit near zero, give
//! `slack_amount`, in the metric's units.

use serde::{Deserialize, Serialize};

use super::{Context, Decision, check_interval, distinct, keep, stop};
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
    /// Slack factor 0.3 every step from step 30: the delay spares slow starters. Chosen on the
    /// curve families of `bench/early_termination.py` (tuning seeds): it keeps the best
    /// configuration of accuracies; of losses near zero it does not (see `docs/benchmarks.md`).
    fn default() -> Self {
        Bandit {
            slack_factor: Some(DEFAULT_SLACK_FACTOR),
            slack_amount: None,
            evaluation_interval: 1,
            delay_evaluation: 30,
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
            (Some(f), Some(a)) => Err(ValidationError::new(
                "slack_factor",
                f.to_string(),
                format!(
                    "cannot be combined with slack_amount {a}: give exactly one of slack_factor (a ratio of the \
                     best value) and slack_amount (a difference from it)"
                ),
            )),
            (None, None) => Err(ValidationError::new(
                "slack_factor",
                "null",
                "is required, or slack_amount: give exactly one of slack_factor (a ratio of the best value) and \
                 slack_amount (a difference from it)",
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

    /// The worst value still allowed when the best is `best`: the rule in the module docs.
    pub fn threshold(&self, best: f64, d: Direction) -> f64 {
        let allowed = match (self.slack_factor, self.slack_amount) {
            // Azure ML's best / (1 + f) is best − best · f / (1 + f); |best| keeps the
            // threshold on the worse side of the best whatever the sign.
            (Some(f), _) if d == Direction::Maximize => best.abs() * f / (1.0 + f),
            (Some(f), _) => best.abs() * f,
            (None, Some(a)) => a,
            (None, None) => 0.0,
        };
        match d {
            Direction::Maximize => best - allowed,
            Direction::Minimize => best + allowed,
        }
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let (id, d) = (cx.trial.id, cx.direction);
        let own = match cx.evaluated(step, self.evaluation_interval, self.delay_evaluation, |t| t.best_up_to(step, d)) {
            Ok(own) => own,
            Err(keep) => return keep,
        };
        let best = cx.usable().filter_map(|t| t.best_up_to(step, d)).fold(own, |a, b| d.best(a, b));
        let threshold = self.threshold(best, d);
        let slack = match (self.slack_factor, self.slack_amount) {
            (Some(f), _) => format!("slack factor {f}"),
            (None, Some(a)) => format!("slack amount {a}"),
            (None, None) => "no slack".to_string(),
        };
        let metric = cx.metric;
        let b = fmt_value(best);
        if d.better(threshold, own) {
            let (v, t) = distinct(own, threshold);
            stop(
                id,
                format!(
                    "{metric} {v} (best of trial {id} by step {step}) is {} the threshold {t} (the best {b} by step {step}, {slack})",
                    d.worse_word()
                ),
            )
        } else {
            let (v, t) = distinct(own, threshold);
            keep(id, format!("{metric} {v} at step {step} is within {slack} of the best {b} (threshold {t})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;

    use crate::engine::sweep::trial::Trial;

    fn decide(p: Bandit, trials: &[Trial], id: u64, d: Direction) -> Decision {
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
            "acc 0.6 (best of trial 1 by step 2) is below the threshold 0.6667 (the best 0.8 by step 2, slack factor 0.2)"
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
        assert!(
            d.stop && d.reason.contains("above the threshold 0.6 ") && d.reason.contains("slack amount 0.1"),
            "{d:?}"
        );
    }

    #[test]
    fn interval_and_delay_are_respected() {
        let trials = [curve(0, &[0.1, 0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9])];
        let p = Bandit { slack_factor: Some(0.1), slack_amount: None, evaluation_interval: 2, delay_evaluation: 4 };
        let d = decide(p.clone(), &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("before the first evaluation at step 4"), "{d:?}");
        let p = Bandit { delay_evaluation: 0, ..p };
        let d = decide(p, &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("passes no evaluation point since step 2"), "{d:?}");
        let late = [curve(0, &[0.1, 0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9, 0.9])];
        let p = Bandit { slack_factor: Some(0.1), slack_amount: None, evaluation_interval: 2, delay_evaluation: 4 };
        assert!(decide(p, &late, 1, Direction::Minimize).stop);
    }

    #[test]
    fn reports_off_the_evaluation_steps_are_judged_at_the_first_report_past_each_point() {
        // Interval 5: a trial reporting at 3, 7, 11, 13 is judged at 7 (point 5) and 11 (point
        // 10), not at 3 or 13; a trial never reporting at a multiple of 5 is still judged.
        let p = Bandit { slack_factor: None, slack_amount: Some(0.1), evaluation_interval: 5, delay_evaluation: 0 };
        let leader = curve(0, &[0.1; 20]);
        let judged = |reports: &[(u64, f64)]| {
            let trials = [leader.clone(), steps(1, reports)];
            decide(p.clone(), &trials, 1, Direction::Minimize)
        };
        assert!(!judged(&[(3, 0.9)]).stop);
        assert!(judged(&[(3, 0.9), (7, 0.9)]).stop);
        let d = judged(&[(3, 0.9), (7, 0.15), (11, 0.9)]);
        assert!(!d.stop && d.reason.contains("acc 0.15 at step 11"), "judged by its best so far: {d:?}");
        let d = judged(&[(3, 0.9), (7, 0.15), (11, 0.9), (13, 0.9)]);
        assert!(!d.stop && d.reason.contains("passes no evaluation point since step 11"), "{d:?}");
        // One report jumping over several points is judged once, at the last of them.
        assert!(judged(&[(23, 0.9)]).stop);
        // With a delay the first point is the first multiple of the interval at or after it.
        let p = Bandit { delay_evaluation: 12, ..p.clone() };
        let trials = [leader.clone(), steps(1, &[(3, 0.9), (14, 0.9)])];
        let d = decide(p.clone(), &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("before the first evaluation at step 15"), "{d:?}");
        let trials = [leader, steps(1, &[(3, 0.9), (14, 0.9), (16, 0.9)])];
        assert!(decide(p, &trials, 1, Direction::Minimize).stop);
    }

    #[test]
    fn negative_metrics_never_stop_the_leader_in_either_direction() {
        let f = Bandit { slack_factor: Some(0.2), slack_amount: None, evaluation_interval: 1, delay_evaluation: 0 };
        // Maximizing a log-likelihood: best -1.0; threshold -1 - 1 * 0.2 / 1.2 = -1.1667.
        let trials = [curve(0, &[-1.0]), curve(1, &[-1.1]), curve(2, &[-1.2])];
        for (id, stops) in [(0, false), (1, false), (2, true)] {
            let d = decide(f.clone(), &trials, id, Direction::Maximize);
            assert_eq!(d.stop, stops, "{d:?}");
        }
        let d = decide(f.clone(), &trials, 2, Direction::Maximize);
        assert_eq!(
            d.reason,
            "acc -1.2 (best of trial 2 by step 1) is below the threshold -1.1667 (the best -1 by step 1, slack factor 0.2)"
        );
        // Minimizing a negative loss (a negative ELBO): best -1.2; threshold -1.2 + 0.24 = -0.96.
        let trials = [curve(0, &[-0.9]), curve(1, &[-1.0]), curve(2, &[-1.2])];
        for (id, stops) in [(0, true), (1, false), (2, false)] {
            let d = decide(f.clone(), &trials, id, Direction::Minimize);
            assert_eq!(d.stop, stops, "{d:?}");
        }
        // At a best of exactly 0 the ratio slack is zero: only the best continue.
        let zero = [curve(0, &[0.0]), curve(1, &[0.0]), curve(2, &[0.01])];
        assert!(!decide(f.clone(), &zero, 1, Direction::Minimize).stop);
        assert!(decide(f, &zero, 2, Direction::Minimize).stop);
    }

    #[test]
    fn the_leader_continues_and_reasons_agree_with_the_numbers_for_any_sign_and_scale() {
        let mut rng = crate::engine::sweep::rng::Rng::new(7, 0);
        for case in 0..400 {
            let scale = [1e-6, 1e-3, 1.0, 1e3, 1e6][case % 5];
            let shift = [0.0, -1.0, 1.0, -0.5][case / 5 % 4];
            let d = if case % 2 == 0 { Direction::Minimize } else { Direction::Maximize };
            let p = if case / 20 % 2 == 0 {
                Bandit { slack_factor: Some(0.3), slack_amount: None, evaluation_interval: 1, delay_evaluation: 0 }
            } else {
                Bandit {
                    slack_factor: None,
                    slack_amount: Some(0.3 * scale),
                    evaluation_interval: 1,
                    delay_evaluation: 0,
                }
            };
            let trials: Vec<Trial> =
                (0..4).map(|i| curve(i, &[scale * (shift + rng.uniform()), scale * (shift + rng.uniform())])).collect();
            let leader = (0..4).min_by(|a, b| {
                let v = |i: u64| d.loss(trials[i as usize].best_up_to(2, d).unwrap());
                v(*a).total_cmp(&v(*b))
            });
            for t in &trials {
                let decision = decide(p.clone(), &trials, t.id, d);
                if Some(t.id) == leader {
                    assert!(!decision.stop, "case {case}: the leader was stopped: {decision:?}");
                }
                let own = t.best_up_to(2, d).unwrap();
                let threshold =
                    p.threshold(trials.iter().filter_map(|t| t.best_up_to(2, d)).fold(own, |a, b| d.best(a, b)), d);
                assert_eq!(decision.stop, d.better(threshold, own), "case {case}: {decision:?}");
                let words: Vec<&str> = decision.reason.split(' ').collect();
                let number = |after: &str| -> f64 {
                    let i = words.iter().position(|w| *w == after).unwrap();
                    words[i + 1].trim_end_matches([')', ',']).parse().unwrap()
                };
                let (v, th) = (number("acc"), number(if decision.stop { "threshold" } else { "(threshold" }));
                assert_eq!(decision.stop, d.better(th, v), "case {case}: the reason contradicts itself: {decision:?}");
            }
        }
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
