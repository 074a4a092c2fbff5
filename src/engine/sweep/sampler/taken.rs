//! Configurations already taken, so that samplers on discrete spaces do not waste trials.
//!
//! Theory of operation: every trial in the history, whatever its state (running, completed,
//! stopped or failed), has *taken* its configuration, identified by [`Space::key`] (option
//! indices and grid steps, so 3 and 3.0 or two roundings of one q-step are one configuration).
//! A repeat would cost a whole trial to learn nothing new on a deterministic objective, and two
//! parallel asks handing out the same configuration would run it twice at once.
//!
//! [`Taken::unused`] is the fallback when a sampler's own proposals are all taken: on a finite
//! space of up to [`ENUMERATE`] configurations it lists every unused one and returns the best by
//! the caller's score (TPE's l(x)/g(x); ties and no score go to a random one); on a larger finite
//! space it draws random configurations and, should they all be taken, walks the grid from a
//! random index to the next unused one (there is one: the space is not exhausted). On an
//! unbounded space a random draw is new almost surely; after [`DRAWS`] taken draws (a `qnormal`
//! with a huge q, say) the last is returned, a repeat. A finite space whose every configuration
//! is taken is *exhausted*: samplers then suggest nothing, as a finished grid does.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::engine::sweep::rng::Rng;
use crate::engine::sweep::space::Space;
use crate::engine::sweep::trial::Trial;

/// Finite spaces up to this many configurations are enumerated when proposals are all taken.
pub const ENUMERATE: u64 = 100_000;

/// Random draws tried before walking the grid (or, on an unbounded space, accepting a repeat).
pub const DRAWS: usize = 1000;

/// The configurations taken, by [`Space::point_id`]: the grid index on a finite space (so the
/// count of unused ones is exact), a 64-bit mix otherwise (a clash, at odds of about 2^-64,
/// would only skip one candidate).
/// How good an unused configuration looks (larger is better).
pub type Score<'a> = dyn Fn(&Map<String, Value>) -> f64 + 'a;

pub struct Taken {
    keys: HashSet<u64>,
    size: Option<u64>,
}

impl Taken {
    pub fn new(space: &Space, trials: &[Trial]) -> Taken {
        let size = space.size();
        let keys = trials.iter().filter_map(|t| space.point_id(&t.params, size.is_some())).collect();
        Taken { keys, size }
    }

    /// The configurations at these internal coordinates (TPE has computed them already).
    pub fn from_internal<'a>(space: &Space, xs: impl Iterator<Item = &'a [f64]>, capacity: usize) -> Taken {
        let size = space.size();
        let mut keys = HashSet::with_capacity(capacity);
        keys.extend(xs.filter_map(|x| space.point_id_at(x, size.is_some())));
        Taken { keys, size }
    }

    pub fn contains(&self, space: &Space, params: &Map<String, Value>) -> bool {
        space.point_id(params, self.size.is_some()).is_some_and(|k| self.keys.contains(&k))
    }

    pub fn insert(&mut self, space: &Space, params: &Map<String, Value>) {
        if let Some(k) = space.point_id(params, self.size.is_some()) {
            self.keys.insert(k);
        }
    }

    /// How many configurations are still unused (`None`: unbounded).
    pub fn remaining(&self) -> Option<u64> {
        self.size.map(|n| n.saturating_sub(self.keys.len() as u64))
    }

    /// Every configuration of a finite space is taken.
    pub fn exhausted(&self) -> bool {
        self.remaining() == Some(0)
    }

    /// An unused configuration, the best by `score` where enumeration is affordable (see the
    /// module's doc); `None` only when the space is exhausted.
    pub fn unused(&self, space: &Space, rng: &mut Rng, score: Option<&Score<'_>>) -> Option<Map<String, Value>> {
        if self.exhausted() {
            return None;
        }
        if let Some(n) = self.size.filter(|n| *n <= ENUMERATE) {
            let mut best: Option<(f64, f64, Map<String, Value>)> = None;
            for i in 0..n {
                let point = space.grid_point(i);
                if self.contains(space, &point) {
                    continue;
                }
                let s = score.map_or(0.0, |f| f(&point));
                let tie = rng.uniform();
                if best.as_ref().is_none_or(|(bs, bt, _)| s > *bs || (s == *bs && tie > *bt)) {
                    best = Some((s, tie, point));
                }
            }
            return best.map(|(_, _, p)| p);
        }
        let mut last = None;
        for _ in 0..DRAWS {
            let u: Vec<f64> = (0..space.dims()).map(|_| rng.uniform()).collect();
            let point = space.from_unit(&u);
            if !self.contains(space, &point) {
                return Some(point);
            }
            last = Some(point);
        }
        let Some(n) = self.size else { return last };
        let start = (rng.uniform() * n as f64) as u64 % n;
        (0..n).map(|i| space.grid_point((start + i) % n)).find(|p| !self.contains(space, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unused_finds_the_last_free_configuration_and_none_after() {
        let space = Space::from_value(json!({
            "a": {"type": "int", "low": 1, "high": 3},
            "b": {"type": "choice", "values": ["x", "y"]},
        }))
        .unwrap();
        let mut trials: Vec<Trial> = (0..5).map(|i| Trial::new(i, space.grid_point(i))).collect();
        // 3.0 is the same configuration as 3.
        trials[0].params.insert("a".into(), json!(1.0));
        let taken = Taken::new(&space, &trials);
        assert_eq!(taken.remaining(), Some(1));
        let mut rng = Rng::new(0, 0);
        assert_eq!(taken.unused(&space, &mut rng, None), Some(space.grid_point(5)));
        trials.push(Trial::new(5, space.grid_point(5)));
        let taken = Taken::new(&space, &trials);
        assert!(taken.exhausted());
        assert_eq!(taken.unused(&space, &mut rng, None), None);
    }

    #[test]
    fn large_finite_spaces_walk_to_the_free_configuration() {
        // 200 000 configurations: more than ENUMERATE, so draws then a walk.
        let space = Space::from_value(json!({"a": {"type": "int", "low": 0, "high": 199_999}})).unwrap();
        let trials: Vec<Trial> =
            (0..200_000u64).filter(|i| *i != 123_456).map(|i| Trial::new(i, space.grid_point(i))).collect();
        let taken = Taken::new(&space, &trials);
        let got = taken.unused(&space, &mut Rng::new(1, 1), None).unwrap();
        assert_eq!(got["a"], json!(123_456));
    }
}
