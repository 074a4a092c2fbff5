//! ASHA: asynchronous successive halving (Li et al., "A System for Massively Parallel
//! Hyperparameter Tuning", 2020), as Ray Tune and Optuna implement it.
//!
//! Theory of operation: rungs sit at steps r_k = min_resource · reduction_factor^k (below
//! `max_resource`, if given, where trials simply finish). When a trial's report is the first at or
//! past a rung, it is compared with every usable trial that reached that rung, each valued by its
//! first value at or past the rung: it continues only if it is among the best
//! ⌈n / reduction_factor⌉ of those n. Nobody waits for a rung to fill (that is what makes it
//! asynchronous): the first trials at a rung pass easily, later ones face more competition.
//! `grace_period` adds a number of steps before which no trial is stopped. Rank-based, so the
//! same for any sign, scale and direction of the metric.

use serde::{Deserialize, Serialize};

use super::{Context, Decision, keep, stop};
use crate::engine::error::ValidationError;
use crate::engine::sweep::trial::{Trial, fmt_value};

/// Fields left out take the [`Default`] values, the one place the defaults are written (Python
/// reads them through `batchai._core.sweep_defaults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Asha {
    pub reduction_factor: u64,
    pub min_resource: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resource: Option<u64>,
    pub grace_period: u64,
}

impl Default for Asha {
    /// Rungs at 30, 90, 270, …: on the curve families of `bench/early_termination.py` (tuning
    /// seeds) a first rung at step 1, the textbook choice, lost the best configuration in most
    /// sweeps where good configurations learn slowly; at 30 it kept it in ≥ 90 % and saved ~45 %.
    /// Like every step setting, it assumes about 100 reported steps: scale it to your training.
    fn default() -> Self {
        Asha { reduction_factor: 3, min_resource: 30, max_resource: None, grace_period: 0 }
    }
}

impl Asha {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.reduction_factor < 2 {
            return Err(ValidationError::new(
                "reduction_factor",
                self.reduction_factor.to_string(),
                "must be at least 2",
            ));
        }
        if self.min_resource < 1 {
            return Err(ValidationError::new("min_resource", "0", "must be at least 1"));
        }
        if let Some(max) = self.max_resource.filter(|m| *m <= self.min_resource) {
            return Err(ValidationError::new(
                "max_resource",
                max.to_string(),
                format!("must be greater than min_resource ({})", self.min_resource),
            ));
        }
        Ok(())
    }

    /// The rung steps, in order, up to `limit`.
    pub fn rungs(&self, limit: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut r = self.min_resource;
        while r <= limit && self.max_resource.is_none_or(|m| r < m) {
            out.push(r);
            match r.checked_mul(self.reduction_factor) {
                Some(next) => r = next,
                None => break,
            }
        }
        out
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let id = cx.trial.id;
        if step < self.grace_period {
            return keep(id, format!("step {step} is within the grace period ({} steps)", self.grace_period));
        }
        let rungs = self.rungs(step);
        match judge(cx, &rungs, self.reduction_factor, |_| true) {
            Some(decision) => decision,
            None => keep(
                id,
                format!("step {step} is not a rung (rungs at {} · {}^k)", self.min_resource, self.reduction_factor),
            ),
        }
    }
}

/// Successive halving at the highest of `rungs` that the trial's latest report is the first at or
/// past (earlier rungs were judged at earlier reports), against the usable trials that `peer`
/// admits; `None` when the report crosses no rung.
pub(crate) fn judge(cx: &Context<'_>, rungs: &[u64], eta: u64, peer: impl Fn(&Trial) -> bool) -> Option<Decision> {
    let id = cx.trial.id;
    let reports = &cx.trial.intermediate;
    let last = reports.last()?;
    let previous = super::previous_step(cx.trial);
    let (k, rung) =
        rungs.iter().copied().enumerate().rev().find(|(_, r)| *r <= last.step && previous.is_none_or(|p| p < *r))?;
    let d = cx.direction;
    let own = last.value;
    let values: Vec<f64> = cx
        .others()
        .filter(|t| peer(t))
        .filter(|t| t.reached(rung))
        .filter_map(|t| t.first_at_or_after(rung))
        .chain(std::iter::once(own))
        .collect();
    let n = values.len();
    let keep_count = n.div_ceil(eta as usize);
    let rank = values.iter().filter(|v| d.better(**v, own)).count() + 1;
    let (metric, v) = (cx.metric, fmt_value(own));
    Some(if rank <= keep_count {
        keep(
            id,
            format!(
                "{metric} {v} at rung {k} (step {rung}) ranks {rank} of {n} trials, within the best {keep_count} (1/{eta})"
            ),
        )
    } else {
        stop(
            id,
            format!(
                "{metric} {v} at rung {k} (step {rung}) ranks {rank} of {n} trials; only the best {keep_count} (1/{eta}) continue"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;
    use crate::engine::sweep::trial::Direction;

    /// Rungs from step 1, whatever the default.
    fn eager() -> Asha {
        Asha { reduction_factor: 3, min_resource: 1, max_resource: None, grace_period: 0 }
    }

    fn decide(p: &Asha, trials: &[Trial], id: u64) -> Decision {
        Policy::Asha(p.clone()).decide(trials, id, Direction::Minimize, "loss").unwrap()
    }

    #[test]
    fn rungs_grow_geometrically_below_max_resource() {
        let p = Asha { reduction_factor: 3, min_resource: 1, max_resource: Some(27), grace_period: 0 };
        assert_eq!(p.rungs(1000), vec![1, 3, 9]);
        assert_eq!(eager().rungs(30), vec![1, 3, 9, 27]);
        let p = Asha { reduction_factor: 2, min_resource: 5, max_resource: None, grace_period: 0 };
        assert_eq!(p.rungs(40), vec![5, 10, 20, 40]);
    }

    #[test]
    fn only_the_top_third_passes_a_rung() {
        let p = eager();
        // Five trials reached step 3 with losses 0.1..0.5; a sixth arrives with 0.35.
        let mut trials: Vec<Trial> = (0..5).map(|i| curve(i, &[1.0, 1.0, 0.1 * (i + 1) as f64])).collect();
        trials.push(curve(5, &[1.0, 1.0, 0.35]));
        let d = decide(&p, &trials, 5);
        assert!(d.stop, "{d:?}");
        assert_eq!(d.reason, "loss 0.35 at rung 1 (step 3) ranks 4 of 6 trials; only the best 2 (1/3) continue");
        trials[5] = curve(5, &[1.0, 1.0, 0.15]);
        assert!(!decide(&p, &trials, 5).stop);
    }

    #[test]
    fn between_rungs_and_in_the_grace_period_nothing_is_stopped() {
        let p = eager();
        let trials = [curve(0, &[0.1, 0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9, 0.9])];
        let d = decide(&p, &trials, 1);
        assert!(!d.stop && d.reason.contains("not a rung"), "{d:?}");
        // The first trial at a rung always continues (asynchronous: nobody to compare with).
        let first = [curve(0, &[0.9])];
        assert!(!decide(&p, &first, 0).stop);
        let p = Asha { grace_period: 4, ..eager() };
        let trials = [curve(0, &[0.1, 0.1, 0.1]), curve(1, &[0.9, 0.9, 0.9])];
        assert!(decide(&eager(), &trials, 1).stop);
        let d = decide(&p, &trials, 1);
        assert!(!d.stop && d.reason.contains("grace period"), "{d:?}");
    }

    #[test]
    fn a_report_that_skips_past_a_rung_is_judged_there() {
        // Reports at steps 2 and 10 cross rungs 3 and 9; the judgement is at rung 9.
        let p = eager();
        let trials = [steps(0, &[(9, 0.1)]), steps(1, &[(9, 0.2)]), steps(2, &[(2, 0.5), (10, 0.3)])];
        let d = decide(&p, &trials, 2);
        assert!(d.stop && d.reason.contains("rung 2 (step 9)"), "{d:?}");
    }
}
