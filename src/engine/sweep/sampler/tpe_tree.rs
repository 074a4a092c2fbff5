//! TPE on a space with conditional parameters (Optuna's `group=True` decomposition).
//!
//! Theory of operation: the tree is sampled top-down. First the top level, where each
//! conditional stands for a categorical over its option names, is suggested by the ordinary
//! multivariate TPE from every trial (so the option is learnt jointly with the other top-level
//! parameters). Then, for each conditional, the chosen option's sub-space is suggested from the
//! trials that chose that option only, seen through their sub-parameters: an option's `lr` is
//! never modelled from trials that ran another option, whose `lr` meant something else or did not
//! exist. Nested conditionals recurse. Each part draws from its own random stream (the seed mixed
//! with the option's path), so suggestions stay a pure function of (settings, seed, history).
//!
//! Repeats are excluded for the whole configuration, not per part: a part may repeat (the top
//! level of `optimizer` alone has two values) while the whole is new. On a finite tree a whole
//! configuration already taken is replaced by the best unused one, and an exhausted tree ends the
//! search, as on flat spaces.

use serde_json::{Map, Value};

use super::taken::Taken;
use super::tpe::TpeSampler;
use crate::engine::sweep::conditional::{NAME, object};
use crate::engine::sweep::rng::Rng;
use crate::engine::sweep::space::{Param, Space};
use crate::engine::sweep::trial::{Direction, Trial};

pub fn suggest(tpe: &TpeSampler, space: &Space, trials: &[Trial], direction: Direction) -> Option<Map<String, Value>> {
    let taken = Taken::new(space, trials);
    if taken.exhausted() {
        return None;
    }
    let point = tree(tpe, space, trials, direction, tpe.seed);
    if !taken.contains(space, &point) {
        return Some(point);
    }
    taken.unused(space, &mut Rng::new(tpe.seed, trials.len() as u64), None)
}

fn tree(tpe: &TpeSampler, space: &Space, trials: &[Trial], direction: Direction, seed: u64) -> Map<String, Value> {
    if space.is_empty() {
        return Map::new();
    }
    // The top level: each conditional as a choice of its option names.
    let top = Space::unchecked(
        space
            .params()
            .iter()
            .map(|(name, p)| match p {
                Param::Conditional { options } => (name.clone(), Param::Choice { values: options.names() }),
                _ => (name.clone(), p.clone()),
            })
            .collect(),
    );
    let top_trials: Vec<Trial> = trials
        .iter()
        .map(|t| {
            let mut params = t.params.clone();
            for (name, p) in space.params() {
                if let (Param::Conditional { .. }, Some(v)) = (p, params.get_mut(name)) {
                    *v = v.get(NAME).cloned().unwrap_or(Value::Null);
                }
            }
            Trial { params, ..t.clone() }
        })
        .collect();
    let part = TpeSampler { seed, ..tpe.clone() };
    let mut point = part.suggest_flat(&top, &top_trials, direction, false).unwrap_or_default();
    for (name, p) in space.params() {
        let Param::Conditional { options } = p else { continue };
        let chosen = point.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        let Some((option, sub)) = options.0.iter().find(|(o, _)| *o == chosen).or(options.0.first()) else { continue };
        let sub_trials: Vec<Trial> = trials
            .iter()
            .filter_map(|t| {
                let (i, rest) = options.split(t.params.get(name)?)?;
                (options.0[i].0 == *option).then(|| Trial { params: rest, ..t.clone() })
            })
            .collect();
        let sub_seed = mix(mix(seed ^ hash(name)) ^ hash(option));
        let sub_point = tree(tpe, sub, &sub_trials, direction, sub_seed);
        point.insert(name.clone(), object(option, sub_point));
    }
    point
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
