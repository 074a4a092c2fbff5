//! Hyperband (Li et al., "Hyperband: A Novel Bandit-Based Approach to Hyperparameter
//! Optimization", 2018) as brackets of ASHA, the way Ray Tune's async Hyperband and Optuna's
//! `HyperbandPruner` run it.
//!
//! Theory of operation: ASHA's weak point is its one bet on how early a trial can be judged; a
//! configuration that learns slowly but ends best is cut at the first rung. Hyperband hedges that
//! bet across s_max + 1 brackets, s_max = ⌊log_η(max_resource / min_resource)⌋: bracket b runs
//! successive halving with rungs at min_resource · η^(b+k) below `max_resource`, so bracket 0
//! judges from `min_resource` on and the last bracket judges (almost) never. Each trial belongs
//! to one bracket, chosen from its id by a hash (so the same history always gives the same
//! decision, with no state), with the brackets' shares of trials as in Optuna: bracket b gets
//! weight ⌈(s_max + 1) · η^(s_max − b) / (s_max − b + 1)⌉, so the aggressive brackets, whose
//! trials are cheap, get more trials. A trial is compared only with trials of its own bracket,
//! each valued by its first value at or past the rung, and continues if it is among the best
//! ⌈n / η⌉ of the n there. Rank-based, so the same for any sign, scale and direction.

use serde::{Deserialize, Serialize};

use super::asha::judge;
use super::{Context, Decision, keep};
use crate::engine::error::ValidationError;
use crate::engine::sweep::trial::Trial;

/// Fields left out take the [`Default`] values, the one place the defaults are written (Python
/// reads them through `batchai._core.sweep_defaults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hyperband {
    pub reduction_factor: u64,
    pub min_resource: u64,
    /// The steps a trial runs when not stopped (Ray Tune's `max_t`, with its default).
    pub max_resource: u64,
    /// Salts the hash that assigns trials to brackets, so that sweeps can differ in which trial
    /// ids share a bracket (Optuna salts with the study's name).
    pub seed: u64,
}

impl Default for Hyperband {
    /// Brackets judging from steps 30 and 90 of 100: chosen on the curve families of
    /// `bench/early_termination.py` (tuning seeds); from step 1 (Optuna's default) the aggressive
    /// bracket, which holds most trials, lost the best configuration in most sweeps where good
    /// configurations learn slowly.
    fn default() -> Self {
        Hyperband { reduction_factor: 3, min_resource: 30, max_resource: 100, seed: 0 }
    }
}

impl Hyperband {
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
        if self.max_resource <= self.min_resource {
            return Err(ValidationError::new(
                "max_resource",
                self.max_resource.to_string(),
                format!("must be greater than min_resource ({})", self.min_resource),
            ));
        }
        Ok(())
    }

    /// The number of brackets, s_max + 1.
    pub fn brackets(&self) -> u32 {
        let (eta, mut r, mut n) = (self.reduction_factor, self.min_resource, 1);
        while let Some(next) = r.checked_mul(eta).filter(|next| *next <= self.max_resource) {
            r = next;
            n += 1;
        }
        n
    }

    /// Bracket b's rung steps (below `max_resource`, where trials simply finish).
    pub fn rungs(&self, bracket: u32) -> Vec<u64> {
        let mut out = Vec::new();
        let mut r = Some(self.min_resource);
        for _ in 0..bracket {
            r = r.and_then(|r| r.checked_mul(self.reduction_factor));
        }
        while let Some(rung) = r.filter(|r| *r < self.max_resource) {
            out.push(rung);
            r = rung.checked_mul(self.reduction_factor);
        }
        out
    }

    /// The bracket of trial `id`: a hash of the id, spread over the brackets by their weights
    /// (in floating point, so that huge `max_resource` values cannot overflow).
    pub fn bracket(&self, id: u64) -> u32 {
        let n = self.brackets();
        let weight = |b: u32| {
            let s = n - 1 - b;
            let top = f64::from(n) * (self.reduction_factor as f64).powi(s as i32);
            (top / f64::from(s + 1)).ceil()
        };
        let total: f64 = (0..n).map(weight).sum();
        let mut x = (splitmix64(splitmix64(self.seed) ^ id) >> 11) as f64 / (1u64 << 53) as f64 * total;
        for b in 0..n {
            if x < weight(b) {
                return b;
            }
            x -= weight(b);
        }
        n - 1
    }

    pub fn decide(&self, cx: &Context<'_>, step: u64) -> Decision {
        let id = cx.trial.id;
        let bracket = self.bracket(id);
        let rungs = self.rungs(bracket);
        let peer = |t: &Trial| self.bracket(t.id) == bracket;
        match judge(cx, &rungs, self.reduction_factor, peer) {
            Some(decision) => Decision { reason: format!("bracket {bracket}: {}", decision.reason), ..decision },
            None => {
                let at = if rungs.is_empty() {
                    "this bracket has no rungs: its trials run to the end".to_string()
                } else {
                    let shown: Vec<String> = rungs.iter().map(u64::to_string).collect();
                    format!("rungs at steps {}", shown.join(", "))
                };
                keep(id, format!("bracket {bracket}: step {step} is not a rung ({at})"))
            }
        }
    }
}

/// A well-mixed 64-bit hash (SplitMix64's finalizer), so consecutive ids spread over brackets.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::super::Policy;
    use super::super::testing::*;
    use super::*;
    use crate::engine::sweep::trial::Direction;

    fn decide(p: &Hyperband, trials: &[Trial], id: u64, d: Direction) -> Decision {
        Policy::Hyperband(p.clone()).decide(trials, id, d, "loss").unwrap()
    }

    /// Ids of trials in `bracket`, in order.
    fn ids_in(p: &Hyperband, bracket: u32, n: usize) -> Vec<u64> {
        (0..).filter(|id| p.bracket(*id) == bracket).take(n).collect()
    }

    #[test]
    fn brackets_and_their_rungs() {
        let p = Hyperband { reduction_factor: 3, min_resource: 1, max_resource: 81, seed: 0 };
        assert_eq!(p.brackets(), 5);
        assert_eq!(p.rungs(0), vec![1, 3, 9, 27]);
        assert_eq!(p.rungs(2), vec![9, 27]);
        assert_eq!(p.rungs(4), Vec::<u64>::new(), "the last bracket runs its trials to the end");
        assert_eq!(Hyperband::default().brackets(), 2, "30, 90 <= 100");
        let p = Hyperband { reduction_factor: 2, min_resource: 10, max_resource: 50, seed: 0 };
        assert_eq!((p.brackets(), p.rungs(0), p.rungs(1)), (3, vec![10, 20, 40], vec![20, 40]));
    }

    #[test]
    fn aggressive_brackets_get_more_trials_as_in_optuna() {
        // Optuna's weights for eta 3 and 5 brackets: ceil(5 * 3^s / (s + 1)) = 81, 34, 15, 8, 5.
        let p = Hyperband { reduction_factor: 3, min_resource: 1, max_resource: 81, seed: 0 };
        let mut counts = [0usize; 5];
        for id in 0..14_300 {
            counts[p.bracket(id) as usize] += 1;
        }
        let expected = [81.0, 34.0, 15.0, 8.0, 5.0].map(|w| w / 143.0 * 14_300.0);
        for (c, e) in counts.iter().zip(expected) {
            assert!((*c as f64 - e).abs() < 0.1 * e + 30.0, "{counts:?} vs {expected:?}");
        }
    }

    #[test]
    fn trials_compete_only_within_their_bracket() {
        let p = Hyperband { reduction_factor: 3, min_resource: 1, max_resource: 81, seed: 0 };
        let zero = ids_in(&p, 0, 4);
        let one = ids_in(&p, 1, 3);
        // Bracket 0 judges at step 1: three trials there with losses 0.1, 0.2, 0.3; a fourth
        // with 0.25 ranks 3 of 4, outside the best 2.
        let mut trials: Vec<Trial> =
            zero[..3].iter().enumerate().map(|(i, id)| curve(*id, &[0.1 * (i + 1) as f64])).collect();
        // Bracket 1 trials with far better values at step 1 must not count against bracket 0.
        trials.extend(one.iter().map(|id| curve(*id, &[0.0])));
        trials.push(curve(zero[3], &[0.25]));
        let d = decide(&p, &trials, zero[3], Direction::Minimize);
        assert!(d.stop, "{d:?}");
        assert_eq!(
            d.reason,
            "bracket 0: loss 0.25 at rung 0 (step 1) ranks 3 of 4 trials; only the best 2 (1/3) continue"
        );
        // Bracket 1 does not judge at step 1 at all.
        let d = decide(&p, &trials, one[0], Direction::Minimize);
        assert!(!d.stop && d.reason == "bracket 1: step 1 is not a rung (rungs at steps 3, 9, 27)", "{d:?}");
        // Maximizing, the same values rank the other way: 0.25 is second best of four.
        assert!(!decide(&p, &trials, zero[3], Direction::Maximize).stop);
    }

    #[test]
    fn a_late_bracket_spares_slow_starters_and_reports_off_the_rungs_are_judged() {
        let p = Hyperband { reduction_factor: 3, min_resource: 1, max_resource: 81, seed: 0 };
        let two = ids_in(&p, 2, 4);
        // Bracket 2's first rung is step 9: a trial far behind at step 5 is not judged...
        let mut trials: Vec<Trial> = two[..3].iter().map(|id| curve(*id, &[0.1; 10])).collect();
        trials.push(steps(two[3], &[(5, 0.9)]));
        assert!(!decide(&p, &trials, two[3], Direction::Minimize).stop);
        // ...and its next report, at step 12, is the first past rung 9: judged there.
        trials[3] = steps(two[3], &[(5, 0.9), (12, 0.8)]);
        let d = decide(&p, &trials, two[3], Direction::Minimize);
        assert!(d.stop && d.reason.contains("rung 0 (step 9) ranks 4 of 4"), "{d:?}");
        let last = ids_in(&p, 4, 1)[0];
        let d = decide(&p, &[curve(last, &[0.5; 30])], last, Direction::Minimize);
        assert!(!d.stop && d.reason.contains("no rungs"), "{d:?}");
    }

    #[test]
    fn huge_resources_neither_overflow_nor_panic() {
        let p = Hyperband { reduction_factor: 2, min_resource: 1, max_resource: u64::MAX, seed: 0 };
        assert_eq!(p.brackets(), 64);
        assert!((0..1000).all(|id| p.bracket(id) < 64));
        assert_eq!(p.rungs(63), vec![1u64 << 63]);
        let trials = [curve(0, &[0.5; 3])];
        assert!(!decide(&p, &trials, 0, Direction::Minimize).stop);
    }

    #[test]
    fn the_seed_changes_which_ids_share_a_bracket() {
        let p = Hyperband { reduction_factor: 3, min_resource: 1, max_resource: 81, seed: 0 };
        let q = Hyperband { seed: 1, ..p.clone() };
        let a: Vec<u32> = (0..50).map(|id| p.bracket(id)).collect();
        let b: Vec<u32> = (0..50).map(|id| q.bracket(id)).collect();
        assert_ne!(a, b);
        assert_eq!(a, (0..50).map(|id| p.bracket(id)).collect::<Vec<_>>(), "the same history, the same brackets");
    }

    #[test]
    fn settings_are_checked() {
        let bad = Hyperband { max_resource: 1, ..Hyperband::default() };
        assert_eq!(bad.validate().unwrap_err().field, "max_resource");
        let bad = Hyperband { reduction_factor: 1, ..Hyperband::default() };
        assert_eq!(bad.validate().unwrap_err().field, "reduction_factor");
        let p: Policy = serde_json::from_str(r#"{"type": "hyperband", "max_resource": 27}"#).unwrap();
        assert_eq!(
            p,
            Policy::Hyperband(Hyperband { reduction_factor: 3, min_resource: 30, max_resource: 27, seed: 0 })
        );
        assert!(p.validate().is_err(), "the default min_resource 30 is above 27");
    }
}
