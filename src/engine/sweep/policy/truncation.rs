//! Truncation selection policy (Azure ML): stop the worst X % of trials at each evaluation step.
//!
//! Theory of operation: a report is judged when it is the first at or after an evaluation point
//! (see [`super::evaluation_point`]). At its step `s`, the cohort is every usable trial that has
//! reached `s` (finished ones too, unless `exclude_finished_trials`), each valued by its last
//! value at or before `s`, so a young trial is compared with older ones at the same point of
//! training, not with their final values. With n trials in the cohort, k = ⌊n · X / 100⌋ of them
//! are cut: the trial is stopped if fewer than k cohort members are strictly worse than it (so
//! ties are kept, and nothing is cut while n · X < 100; Azure ML does not document its rounding).
//! Rank-based, so the same for any sign, scale and direction of the metric.

use serde::{Deserialize, Serialize};

use super::{Context, Decision, check_interval, keep, stop};
use crate::engine::error::ValidationError;
use crate::engine::sweep::trial::fmt_value;

/// Fields left out take the [`Default`] values, the one place the defaults are written (Python
/// reads them through `batchai._core.sweep_defaults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TruncationSelection {
    pub truncation_percentage: u32,
    pub evaluation_interval: u64,
    pub delay_evaluation: u64,
    pub exclude_finished_trials: bool,
}

impl Default for TruncationSelection {
    /// The worst 20 % every 5 steps from step 25: chosen on the curve families of
    /// `bench/early_termination.py` (tuning seeds), where good configurations may learn slowly.
    fn default() -> Self {
        TruncationSelection {
            truncation_percentage: 20,
            evaluation_interval: 5,
            delay_evaluation: 25,
            exclude_finished_trials: false,
        }
    }
}

impl TruncationSelection {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_interval(self.evaluation_interval)?;
        if !(1..=99).contains(&self.truncation_percentage) {
            return Err(ValidationError::new(
                "truncation_percentage",
                self.truncation_percentage.to_string(),
                "must be between 1 and 99",
            ));
        }
        Ok(())
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let (id, d) = (cx.trial.id, cx.direction);
        let own = match cx.evaluated(step, self.evaluation_interval, self.delay_evaluation, |t| t.value_at(step)) {
            Ok(own) => own,
            Err(keep) => return keep,
        };
        let cohort: Vec<f64> = cx
            .others()
            .filter(|t| !(self.exclude_finished_trials && t.state.is_finished()))
            .filter(|t| t.reached(step))
            .filter_map(|t| t.value_at(step))
            .chain(std::iter::once(own))
            .collect();
        let n = cohort.len();
        let pct = self.truncation_percentage;
        let cut = n * pct as usize / 100;
        let worse = cohort.iter().filter(|v| d.better(own, **v)).count();
        let rank = cohort.iter().filter(|v| d.better(**v, own)).count() + 1;
        let (metric, v) = (cx.metric, fmt_value(own));
        if cut == 0 {
            keep(id, format!("{n} trials have reached step {step}: too few to cut the worst {pct}%"))
        } else if worse < cut {
            stop(
                id,
                format!("{metric} {v} at step {step} ranks {rank} of {n} trials; the worst {pct}% ({cut}) are stopped"),
            )
        } else {
            keep(
                id,
                format!("{metric} {v} at step {step} ranks {rank} of {n} trials, outside the worst {pct}% ({cut})"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;
    use crate::engine::sweep::trial::{Direction, Trial, TrialState};

    fn decide(p: &TruncationSelection, trials: &[Trial], id: u64) -> Decision {
        Policy::TruncationSelection(p.clone()).decide(trials, id, Direction::Minimize, "loss").unwrap()
    }

    #[test]
    fn the_worst_percentage_at_the_same_step_is_cut() {
        let p = TruncationSelection {
            truncation_percentage: 20,
            evaluation_interval: 1,
            delay_evaluation: 0,
            exclude_finished_trials: false,
        };
        // Ten trials at step 2 with losses 0.1 .. 1.0: k = 2, so 0.9 and 1.0 are cut.
        let trials: Vec<Trial> = (0..10).map(|i| curve(i, &[2.0, 0.1 * (i + 1) as f64])).collect();
        let d = decide(&p, &trials, 8);
        assert!(d.stop, "{d:?}");
        assert_eq!(d.reason, "loss 0.9 at step 2 ranks 9 of 10 trials; the worst 20% (2) are stopped");
        assert!(decide(&p, &trials, 9).stop);
        assert!(!decide(&p, &trials, 7).stop);
    }

    #[test]
    fn young_trials_are_compared_at_their_own_step() {
        let p = TruncationSelection {
            truncation_percentage: 50,
            evaluation_interval: 1,
            delay_evaluation: 0,
            exclude_finished_trials: false,
        };
        // The old trials are good late (0.1) but were bad at step 1 (0.9): the young one is fine.
        let trials = [curve(0, &[0.9, 0.1]), curve(1, &[0.9, 0.1]), curve(2, &[0.5])];
        assert!(!decide(&p, &trials, 2).stop);
        let few = [curve(0, &[0.1]), curve(1, &[0.9])];
        let p = TruncationSelection { truncation_percentage: 20, ..p };
        let d = decide(&p, &few, 1);
        assert!(!d.stop && d.reason.contains("too few"), "{d:?}");
        let bad = TruncationSelection { truncation_percentage: 100, ..p };
        assert_eq!(bad.validate().unwrap_err().field, "truncation_percentage");
    }

    #[test]
    fn finished_trials_can_be_excluded() {
        let p = TruncationSelection {
            truncation_percentage: 50,
            evaluation_interval: 1,
            delay_evaluation: 0,
            exclude_finished_trials: true,
        };
        let trials = [with_state(curve(0, &[0.1]), TrialState::Completed), curve(1, &[0.5])];
        let d = decide(&p, &trials, 1);
        assert!(!d.stop && d.reason.contains("too few"), "{d:?}");
        let p = TruncationSelection { exclude_finished_trials: false, ..p };
        assert!(decide(&p, &trials, 1).stop);
    }

    #[test]
    fn reports_off_the_interval_are_judged_at_the_first_report_past_a_point() {
        let p = TruncationSelection {
            truncation_percentage: 25,
            evaluation_interval: 10,
            delay_evaluation: 0,
            exclude_finished_trials: false,
        };
        // The peers report every step; the judged trial only at steps 7, 13 and 19.
        let mut trials: Vec<Trial> = (0..3).map(|i| curve(i, &[0.1 * (i + 1) as f64; 20])).collect();
        trials.push(steps(3, &[(7, 0.9)]));
        assert!(!decide(&p, &trials, 3).reason.contains("ranks"), "step 7 is before the first point");
        trials[3] = steps(3, &[(7, 0.9), (13, 0.9)]);
        let d = decide(&p, &trials, 3);
        assert!(
            d.stop && d.reason == "loss 0.9 at step 13 ranks 4 of 4 trials; the worst 25% (1) are stopped",
            "{d:?}"
        );
        trials[3] = steps(3, &[(7, 0.9), (13, 0.9), (19, 0.9)]);
        assert!(decide(&p, &trials, 3).reason.contains("passes no evaluation point since step 13"));
    }
}
