//! Median stopping policy (Azure ML; Google Vizier's median stopping rule).
//!
//! Theory of operation: a report is judged when it is the first at or after an evaluation point
//! (see [`super::evaluation_point`]). At its step `s`, take every *other* usable trial that has
//! reached `s` (running, completed or stopped; failed ones are not trusted) and compute its
//! running average (the mean of its values reported up to `s`). The trial is stopped if its best
//! value up to `s` is strictly worse than the median of those averages. Only comparisons are
//! made, so the rule is the same for any sign, scale and direction of the metric.
//!
//! Azure ML leaves open whether the trial itself and finished trials enter the median; here the
//! trial does not and finished ones do. Azure ML also judges from the first peer on, so the first
//! trials were stopped against a single other trial: here nothing is stopped until `min_trials`
//! other trials have reached the step (default 5, as Optuna's `n_startup_trials`). Comparing a
//! best value against averages makes the rule lenient: it stops only trials that are clearly
//! behind, which is why Azure ML calls it conservative.

use serde::{Deserialize, Serialize};

use super::{Context, Decision, check_interval, keep, median, stop};
use crate::engine::error::ValidationError;
use crate::engine::sweep::trial::fmt_value;

/// Fields left out take the [`Default`] values, the one place the defaults are written (Python
/// reads them through `batchai._core.sweep_defaults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MedianStopping {
    pub evaluation_interval: u64,
    pub delay_evaluation: u64,
    /// Other trials that must have reached the step before anything is stopped.
    pub min_trials: usize,
}

/// Peers needed before anything is stopped: one peer's average is not a median.
pub const DEFAULT_MIN_TRIALS: usize = 5;

impl Default for MedianStopping {
    fn default() -> Self {
        MedianStopping { evaluation_interval: 1, delay_evaluation: 5, min_trials: DEFAULT_MIN_TRIALS }
    }
}

impl MedianStopping {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_interval(self.evaluation_interval)
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let (id, d) = (cx.trial.id, cx.direction);
        let own = match cx.evaluated(step, self.evaluation_interval, self.delay_evaluation, |t| t.best_up_to(step, d)) {
            Ok(own) => own,
            Err(keep) => return keep,
        };
        let mut averages: Vec<f64> =
            cx.others().filter(|t| t.reached(step)).filter_map(|t| t.running_average(step)).collect();
        let n = averages.len();
        if n < self.min_trials.max(1) {
            return keep(
                id,
                format!("{n} other trials have reached step {step}; {} needed to compare", self.min_trials.max(1)),
            );
        }
        let m = median(&mut averages);
        let (metric, v, ms) = (cx.metric, fmt_value(own), fmt_value(m));
        if d.better(m, own) {
            stop(
                id,
                format!(
                    "{metric} {v} (best of trial {id} by step {step}) is {} the median {ms} of the running averages of {n} trials at step {step}",
                    d.worse_word()
                ),
            )
        } else {
            keep(
                id,
                format!(
                    "{metric} {v} at step {step} is no worse than the median {ms} of the running averages of {n} trials"
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;
    use crate::engine::sweep::trial::{Direction, Trial};

    fn decide(p: &MedianStopping, trials: &[Trial], id: u64, d: Direction) -> Decision {
        Policy::MedianStopping(p.clone()).decide(trials, id, d, "acc").unwrap()
    }

    #[test]
    fn best_value_against_the_median_of_running_averages() {
        let p = MedianStopping { evaluation_interval: 1, delay_evaluation: 0, min_trials: 1 };
        // Running averages at step 3: 0.5, 0.6, 0.7 -> median 0.6 (maximize).
        let others = [curve(0, &[0.4, 0.5, 0.6]), curve(1, &[0.5, 0.6, 0.7]), curve(2, &[0.6, 0.7, 0.8, 0.9])];
        let mut trials = others.to_vec();
        trials.push(curve(3, &[0.3, 0.55, 0.5]));
        let d = decide(&p, &trials, 3, Direction::Maximize);
        assert!(d.stop, "{d:?}");
        assert_eq!(
            d.reason,
            "acc 0.55 (best of trial 3 by step 3) is below the median 0.6 of the running averages of 3 trials at step 3"
        );
        trials[3] = curve(3, &[0.3, 0.61, 0.5]);
        assert!(!decide(&p, &trials, 3, Direction::Maximize).stop, "its best (0.61) beats the median");
        // Minimize: the same numbers as losses; 0.55 is better than the median 0.6.
        trials[3] = curve(3, &[0.3, 0.55, 0.5]);
        assert!(!decide(&p, &trials, 3, Direction::Minimize).stop);
        trials[3] = curve(3, &[0.65, 0.7, 0.66]);
        assert!(decide(&p, &trials, 3, Direction::Minimize).stop);
    }

    #[test]
    fn only_trials_that_reached_the_step_count_and_delay_applies() {
        let p = MedianStopping { evaluation_interval: 1, delay_evaluation: 0, min_trials: 2 };
        let trials = [curve(0, &[0.1, 0.1, 0.1]), curve(1, &[0.1]), curve(2, &[0.9, 0.9, 0.9])];
        let d = decide(&p, &trials, 2, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("1 other trials have reached step 3"), "{d:?}");
        let p = MedianStopping::default();
        let d = decide(&p, &trials, 2, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("delay_evaluation 5"), "{d:?}");
    }

    #[test]
    fn the_first_trials_are_not_judged_against_a_single_peer() {
        // With Azure ML's rule a second trial far behind the first would stop at once.
        let p = MedianStopping { delay_evaluation: 0, ..MedianStopping::default() };
        let mut trials: Vec<Trial> = vec![curve(0, &[0.1; 6]), curve(1, &[0.9; 6])];
        let d = decide(&p, &trials, 1, Direction::Minimize);
        assert!(!d.stop && d.reason == "1 other trials have reached step 6; 5 needed to compare", "{d:?}");
        // Four more peers, all better: the median of five is now there and the laggard stops.
        trials.extend((2..6).map(|i| curve(i, &[0.2; 6])));
        let d = decide(&p, &trials, 1, Direction::Minimize);
        assert!(d.stop && d.reason.contains("median 0.2 of the running averages of 5 trials"), "{d:?}");
        // Peers that have not reached the step do not count.
        trials[5] = curve(5, &[0.2; 3]);
        assert!(!decide(&p, &trials, 1, Direction::Minimize).stop);
    }

    #[test]
    fn reports_off_the_interval_are_judged_and_negative_values_rank_by_direction() {
        let p = MedianStopping { evaluation_interval: 4, delay_evaluation: 0, min_trials: 2 };
        // Log-likelihoods (maximize), the peers reporting every step, the judged trial at odd steps.
        let mut trials: Vec<Trial> = (0..3).map(|i| curve(i, &[-1.0 - 0.1 * i as f64; 9])).collect();
        trials.push(steps(3, &[(3, -2.0), (5, -2.0)]));
        let d = decide(&p, &trials, 3, Direction::Maximize);
        assert!(d.stop && d.reason.contains("-2 (best of trial 3 by step 5) is below the median -1.1"), "{d:?}");
        trials[3] = steps(3, &[(3, -2.0), (5, -2.0), (7, -2.0)]);
        assert!(!decide(&p, &trials, 3, Direction::Maximize).stop, "7 passes no point after 5");
        // Minimizing the same numbers, -2 is the best.
        trials[3] = steps(3, &[(3, -2.0), (5, -2.0)]);
        assert!(!decide(&p, &trials, 3, Direction::Minimize).stop);
    }
}
