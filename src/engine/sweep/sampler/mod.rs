//! Samplers: given a space, the trials so far and a seed, the parameters of the next trial.
//!
//! Theory of operation: a sampler is a pure function of (settings, seed, space, history). It keeps
//! no state between calls: the *number* of the trial being suggested (the history's length) picks
//! the Sobol point and seeds the random stream, and the grid reads which of its points the
//! history has taken. So the same history always gives the same suggestion, a resumed sweep
//! continues where it stopped, and two sweeps with the same seed agree. `suggest` returns `None`
//! only when a finite space is exhausted (a grid, or TPE on a discrete space; see `taken`).
//!
//! * grid: the Cartesian product in stable order (first parameter slowest), walked by which
//!   points are done, running or failed, so warm-start trials (`Search::add`) are not run again
//!   and, with `retries`, a failed point runs again (up to `retries` more times);
//! * random: independent uniform (or log-uniform) draws;
//! * sobol: scrambled Sobol points, better spread than random for the same budget;
//! * tpe: Bayesian optimisation that learns from finished trials, never repeating a
//!   configuration while a discrete space has unused ones (see `tpe`).

pub mod parzen;
pub mod sobol;
mod sobol_directions;
pub mod taken;
pub mod tpe;
mod tpe_tree;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::error::ValidationError;
use crate::engine::sweep::rng::Rng;
use crate::engine::sweep::space::Space;
use crate::engine::sweep::trial::{Direction, Trial, TrialState};
pub use taken::Taken;
pub use tpe::TpeSampler;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Sampler {
    Grid {
        /// How many more times a grid point whose trial failed runs (0: a failed point is done).
        #[serde(default)]
        retries: u32,
    },
    Random {
        #[serde(default)]
        seed: u64,
    },
    Sobol {
        #[serde(default)]
        seed: u64,
    },
    Tpe(TpeSampler),
}

impl Sampler {
    /// Check the sampler's settings and that it can work on `space`.
    pub fn check(&self, space: &Space) -> Result<(), ValidationError> {
        match self {
            Sampler::Grid { .. } => space.grid_size().map(|_| ()),
            Sampler::Sobol { .. } if space.dims() > sobol::MAX_DIMENSIONS => Err(ValidationError::new(
                "space",
                format!("{} parameters", space.dims()),
                format!("has too many parameters for the Sobol sampler (at most {})", sobol::MAX_DIMENSIONS),
            )),
            Sampler::Tpe(tpe) => tpe.validate(),
            _ => Ok(()),
        }
    }

    /// A grid sampler that does not retry failed points.
    pub fn grid() -> Sampler {
        Sampler::Grid { retries: 0 }
    }

    /// The next trial's parameters, or `None` when a grid has produced every combination, or a
    /// TPE sampler every configuration of a discrete space.
    pub fn suggest(
        &self,
        space: &Space,
        trials: &[Trial],
        direction: Direction,
    ) -> Result<Option<Map<String, Value>>, ValidationError> {
        self.check(space)?;
        let number = trials.len() as u64;
        Ok(match self {
            Sampler::Grid { retries } => GridWalk::new(space, trials, *retries).next(),
            Sampler::Random { seed } => Some(random_point(space, number, *seed)),
            Sampler::Sobol { seed } => Some(sobol_point(space, number, *seed)),
            Sampler::Tpe(tpe) => tpe.suggest(space, trials, direction),
        })
    }

    /// How many configurations the sampler can suggest in all (`None`: unlimited): a grid's
    /// size, or for TPE the size of a discrete space.
    pub fn capacity(&self, space: &Space) -> Option<u64> {
        match self {
            Sampler::Grid { .. } | Sampler::Tpe(_) => space.size(),
            _ => None,
        }
    }

    /// How many more trials the sampler can suggest after `trials` (`None`: unlimited): grid
    /// points not taken (a failed one with retries left counts), or for TPE on a discrete space
    /// the configurations no trial has taken.
    pub fn remaining(&self, space: &Space, trials: &[Trial]) -> Option<u64> {
        match self {
            Sampler::Grid { retries } => Some(GridWalk::new(space, trials, *retries).remaining()),
            Sampler::Tpe(_) => Taken::new(space, trials).remaining(),
            _ => None,
        }
    }
}

/// A grid's points by what the history did with them.
struct GridWalk<'a> {
    space: &'a Space,
    size: u64,
    /// Points with a running, completed or stopped trial, or failed more than `retries` times.
    taken: std::collections::HashSet<u64>,
}

impl<'a> GridWalk<'a> {
    fn new(space: &'a Space, trials: &[Trial], retries: u32) -> GridWalk<'a> {
        let size = space.grid_size().unwrap_or(0);
        let mut taken = std::collections::HashSet::new();
        let mut failures: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
        for t in trials {
            let Some(i) = space.grid_index(&t.params) else { continue };
            if t.state == TrialState::Failed {
                let n = failures.entry(i).or_default();
                *n += 1;
                if *n > retries {
                    taken.insert(i);
                }
            } else {
                taken.insert(i);
            }
        }
        GridWalk { space, size, taken }
    }

    /// The first point in grid order that is not taken. At most `taken.len()` points are
    /// skipped, so this costs the history's length, not the grid's size.
    fn next(&self) -> Option<Map<String, Value>> {
        (0..self.size).find(|i| !self.taken.contains(i)).map(|i| self.space.grid_point(i))
    }

    fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.taken.len() as u64)
    }
}

/// Trial `number`'s random point.
pub fn random_point(space: &Space, number: u64, seed: u64) -> Map<String, Value> {
    let mut rng = Rng::new(seed, number);
    let u: Vec<f64> = (0..space.dims()).map(|_| rng.uniform()).collect();
    space.from_unit(&u)
}

/// Trial `number`'s Sobol point. Spaces wider than the table fall back to random coordinates
/// beyond it (only TPE's startup can get here; the Sobol sampler refuses such spaces).
pub fn sobol_point(space: &Space, number: u64, seed: u64) -> Map<String, Value> {
    let dims = space.dims().min(sobol::MAX_DIMENSIONS);
    let mut u = sobol::point(number, dims, seed);
    let mut rng = Rng::new(seed, number);
    u.extend((dims..space.dims()).map(|_| rng.uniform()));
    space.from_unit(&u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space() -> Space {
        Space::from_value(json!({
            "lr": {"type": "uniform", "low": 1e-5, "high": 1e-1, "log": true},
            "layers": {"type": "int", "low": 1, "high": 8},
            "opt": {"type": "choice", "values": ["adam", "sgd"]},
        }))
        .unwrap()
    }

    fn ask_n(sampler: &Sampler, space: &Space, n: usize) -> Vec<Map<String, Value>> {
        let mut trials = Vec::new();
        let mut out = Vec::new();
        for i in 0..n {
            let Some(p) = sampler.suggest(space, &trials, Direction::Minimize).unwrap() else { break };
            out.push(p.clone());
            trials.push(Trial::new(i as u64, p));
        }
        out
    }

    #[test]
    fn random_and_sobol_are_deterministic_per_seed() {
        let s = space();
        for make in [|seed| Sampler::Random { seed }, |seed| Sampler::Sobol { seed }] {
            let a = ask_n(&make(1), &s, 20);
            assert_eq!(a, ask_n(&make(1), &s, 20));
            assert_ne!(a, ask_n(&make(2), &s, 20));
            for p in &a {
                let lr = p["lr"].as_f64().unwrap();
                assert!((1e-5..=1e-1).contains(&lr));
                assert!((1..=8).contains(&p["layers"].as_i64().unwrap()));
            }
        }
    }

    #[test]
    fn sobol_covers_choices_evenly() {
        let s = Space::from_value(
            json!({"c": {"type": "choice", "values": [0, 1, 2, 3]}, "x": {"type": "uniform", "low": 0.0, "high": 1.0}}),
        )
        .unwrap();
        let points = ask_n(&Sampler::Sobol { seed: 3 }, &s, 16);
        for c in 0..4 {
            assert_eq!(points.iter().filter(|p| p["c"] == json!(c)).count(), 4, "choice {c}");
        }
    }

    #[test]
    fn grid_stops_after_the_last_combination() {
        let s = Space::from_value(
            json!({"a": {"type": "choice", "values": [1, 2]}, "b": {"type": "choice", "values": ["x", "y", "z"]}}),
        )
        .unwrap();
        let points = ask_n(&Sampler::grid(), &s, 100);
        assert_eq!(points.len(), 6);
        assert_eq!(Value::Object(points[1].clone()), json!({"a": 1, "b": "y"}));
        assert_eq!(Sampler::grid().capacity(&s), Some(6));
        let err = Sampler::grid().suggest(&space(), &[], Direction::Minimize).unwrap_err();
        assert_eq!(err.field, "lr");
    }

    #[test]
    fn samplers_round_trip_through_json() {
        for s in [
            Sampler::grid(),
            Sampler::Grid { retries: 2 },
            Sampler::Random { seed: 4 },
            Sampler::Sobol { seed: 9 },
            Sampler::Tpe(TpeSampler::default()),
        ] {
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Sampler>(&text).unwrap(), s, "{text}");
        }
        let tpe: Sampler = serde_json::from_str(r#"{"type": "tpe", "seed": 3}"#).unwrap();
        assert_eq!(tpe, Sampler::Tpe(TpeSampler { seed: 3, ..Default::default() }));
    }
}
