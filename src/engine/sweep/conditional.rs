//! Conditional (nested) parameters: a choice whose options carry their own sub-spaces
//! (`optimizer` → adam with `lr` and `beta1`, or sgd with `lr` and `momentum`).
//!
//! Theory of operation: a [`Branches`] is an ordered list of (option name, sub-space). A trial's
//! value for the parameter is an object `{"name": option, ...that option's parameters}`, so the
//! unused options' parameters never appear (a `tied` value is an object too). Sub-spaces may be
//! empty (an option without parameters) and may nest further conditionals.
//!
//! Each sampler handles the tree natively:
//!
//! * random and Sobol draw one coordinate for the option plus one for every leaf of every option
//!   ([`Param::dims`]); the coordinates of the options not chosen are drawn and ignored, so the
//!   point sequence stays a fixed-width low-discrepancy sequence;
//! * grid enumerates, for each option in turn, that option's sub-grid (the grid size is the sum
//!   over options of their sub-grid sizes, not a product over every leaf);
//! * TPE (`sampler::tpe`) models the option as a categorical jointly with the other top-level
//!   parameters, and each option's parameters only from the trials that chose that option
//!   (Optuna's `group=True` decomposition).
//!
//! A value's identity ([`Branches::key`]) is the option's offset in the grid plus the sub-grid
//! index on a finite tree, else a hash of the option and its sub-configuration.

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::space::{Param, Space};
use crate::engine::error::ValidationError;
use crate::engine::model::validate::show;

/// The options of a conditional parameter, in order: (name, sub-space).
#[derive(Debug, Clone, PartialEq)]
pub struct Branches(pub Vec<(String, Space)>);

/// The key of a trial's value that names the chosen option.
pub const NAME: &str = "name";

impl Branches {
    pub fn names(&self) -> Vec<Value> {
        self.0.iter().map(|(n, _)| Value::String(n.clone())).collect()
    }

    /// The option a value chose and the value's sub-parameters (without `name`), if the value is
    /// an object naming an option and giving exactly that option's parameters, each in range.
    pub fn split(&self, value: &Value) -> Option<(usize, Map<String, Value>)> {
        let object = value.as_object()?;
        let name = object.get(NAME)?.as_str()?;
        let i = self.0.iter().position(|(n, _)| n == name)?;
        let mut rest = object.clone();
        rest.remove(NAME);
        let sub = &self.0[i].1;
        if rest.len() != sub.len() || sub.to_internal(&rest).is_none() {
            return None;
        }
        Some((i, rest))
    }

    /// Grid size: the sum of the options' sub-grid sizes (`None` if one is continuous).
    pub fn grid_size(&self) -> Option<u64> {
        self.0.iter().try_fold(0u64, |total, (_, sub)| total.checked_add(sub.size()?))
    }

    /// Grid value `i`: option by option, each option's sub-grid in its own order.
    pub fn grid_value(&self, mut i: u64) -> Value {
        for (name, sub) in &self.0 {
            let n = sub.size().unwrap_or(1);
            if i < n {
                return object(name, sub.grid_point(i));
            }
            i -= n;
        }
        Value::Null
    }

    /// Coordinates used by random and Sobol sampling: one for the option, one per leaf.
    pub fn dims(&self) -> usize {
        1 + self.0.iter().map(|(_, sub)| sub.dims()).sum::<usize>()
    }

    /// The value at unit coordinates `u` (`u.len() == dims()`): `u[0]` picks the option, the
    /// option's own slice of the rest gives its parameters.
    pub fn from_unit(&self, u: &[f64]) -> Value {
        let n = self.0.len();
        let i = ((u[0].clamp(0.0, 1.0) * n as f64) as usize).min(n - 1);
        let start = 1 + self.0[..i].iter().map(|(_, sub)| sub.dims()).sum::<usize>();
        let (name, sub) = &self.0[i];
        object(name, sub.from_unit(&u[start..start + sub.dims()]))
    }

    /// A value's identity (see the module doc); `None` if the value is not in the tree.
    pub fn key(&self, value: &Value) -> Option<u64> {
        let (i, rest) = self.split(value)?;
        if self.grid_size().is_some() {
            let offset: u64 = self.0[..i].iter().map(|(_, sub)| sub.size().unwrap_or(1)).sum();
            return Some(offset + self.0[i].1.grid_index(&rest).unwrap_or(0));
        }
        let sub = self.0[i].1.point_id(&rest, false).unwrap_or(0);
        Some(sub.rotate_left(17) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// `{"name": option, ...params}`.
pub fn object(name: &str, params: Map<String, Value>) -> Value {
    let mut out = Map::with_capacity(params.len() + 1);
    out.insert(NAME.to_string(), Value::String(name.to_string()));
    out.extend(params);
    Value::Object(out)
}

/// Parse one parameter's JSON; a conditional's leaves are parsed one by one so that an error
/// names its path (`adam.lr.type`, relative to the parameter) rather than the whole tree.
pub fn parse_param(spec: Value) -> Result<Param, ValidationError> {
    if spec.get("type").and_then(Value::as_str) != Some("conditional") {
        return crate::engine::model::parse::from_value(spec);
    }
    let Value::Object(mut fields) = spec else { unreachable!("has a type, so it is an object") };
    fields.remove("type");
    let options = fields.remove("options");
    if let Some(extra) = fields.keys().next() {
        let rule = "is not a known field of a conditional parameter (it takes type and options)";
        return Err(ValidationError::new(extra.clone(), show(&fields[extra]), rule));
    }
    let Some(Value::Object(options)) = options else {
        let rule = "must be an object of {option: {name: parameter}}, e.g. {\"adam\": {\"lr\": ...}, \"sgd\": {}}";
        return Err(ValidationError::new("options", show(&options.unwrap_or(Value::Null)), rule));
    };
    let mut branches = Vec::with_capacity(options.len());
    for (option, sub) in options {
        let Value::Object(sub) = sub else {
            return Err(ValidationError::new(option, show(&sub), "must be an object of {name: parameter}"));
        };
        let mut params = Vec::with_capacity(sub.len());
        for (leaf, spec) in sub {
            let param = parse_param(spec).map_err(|e| {
                let field = match e.field.as_str() {
                    "" | "(document)" => format!("{option}.{leaf}"),
                    f => format!("{option}.{leaf}.{f}"),
                };
                ValidationError::new(field, e.value, e.rule)
            })?;
            params.push((leaf, param));
        }
        branches.push((option, Space::unchecked(params)));
    }
    Ok(Param::Conditional { options: Branches(branches) })
}

impl Serialize for Branches {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: Map<String, Value> = self.0.iter().map(|(n, sub)| (n.clone(), sub.to_value())).collect();
        map.serialize(serializer)
    }
}

/// `{name: T}` in the document's order, parsed through serde so that errors keep their path
/// (`options.adam.lr.high`). Validation (with the full path) is left to `Param::validate`.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of {name: value}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Branches {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Ordered(options) = Ordered::<Ordered<Param>>::deserialize(deserializer)?;
        Ok(Branches(options.into_iter().map(|(name, Ordered(params))| (name, Space::unchecked(params))).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sweep::sampler::{Sampler, TpeSampler};
    use crate::engine::sweep::search::Search;
    use crate::engine::sweep::trial::{Direction, Trial, TrialState};
    use serde_json::json;

    fn optimizer() -> Value {
        json!({"optimizer": {"type": "conditional", "options": {
            "adam": {"lr": {"type": "uniform", "low": 1e-4, "high": 1e-1, "log": true},
                     "beta1": {"type": "uniform", "low": 0.8, "high": 0.99, "log": false}},
            "sgd": {"lr": {"type": "uniform", "low": 1e-3, "high": 1.0, "log": true},
                    "momentum": {"type": "uniform", "low": 0.0, "high": 0.99, "log": false}},
            "none": {},
        }}, "batch": {"type": "choice", "values": [16, 32]}})
    }

    /// The value's keys are exactly its option's, each in range.
    fn check(v: &Value) -> (String, f64) {
        let o = v["optimizer"].as_object().unwrap();
        let name = o["name"].as_str().unwrap().to_string();
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort();
        let lr = o.get("lr").and_then(Value::as_f64).unwrap_or(f64::NAN);
        match name.as_str() {
            "adam" => {
                assert_eq!(keys, ["beta1", "lr", "name"], "{v}");
                assert!((1e-4..=1e-1).contains(&lr) && (0.8..=0.99).contains(&o["beta1"].as_f64().unwrap()), "{v}");
            }
            "sgd" => {
                assert_eq!(keys, ["lr", "momentum", "name"], "{v}");
                assert!((1e-3..=1.0).contains(&lr) && (0.0..=0.99).contains(&o["momentum"].as_f64().unwrap()), "{v}");
            }
            "none" => assert_eq!(keys, ["name"], "{v}"),
            other => panic!("unknown option {other}"),
        }
        (name, lr)
    }

    #[test]
    fn conditional_spaces_round_trip_in_order_and_name_paths_in_errors() {
        let space = Space::from_value(optimizer()).unwrap();
        assert_eq!(space.to_value(), optimizer());
        let text = serde_json::to_string(&space).unwrap();
        assert!(
            text.find("adam").unwrap() < text.find("sgd").unwrap()
                && text.find("sgd").unwrap() < text.find("none").unwrap()
        );
        assert_eq!(serde_json::from_str::<Space>(&text).unwrap(), space);
        assert_eq!(space.dims(), 6, "the option, adam's two, sgd's two, none's none, batch");

        let bad = |edit: &dyn Fn(&mut Value)| {
            let mut v = optimizer();
            edit(&mut v);
            Space::from_value(v).unwrap_err()
        };
        let e = bad(&|v| v["optimizer"]["options"]["adam"]["lr"]["high"] = json!(1e-5));
        assert_eq!(e.field, "optimizer.adam.lr.high", "{e}");
        let e = bad(&|v| v["optimizer"]["options"]["sgd"]["momentum"]["type"] = json!("uniformm"));
        assert_eq!(e.field, "optimizer.sgd.momentum.type", "{e}");
        assert!(e.rule.contains("conditional"), "{e}");
        let e = bad(&|v| v["optimizer"]["options"]["sgd"] = json!([]));
        assert_eq!(e.field, "optimizer.sgd", "{e}");
        let e = bad(&|v| v["optimizer"]["option"] = json!({}));
        assert_eq!(e.field, "optimizer.option", "{e}");
        let e = bad(&|v| v["optimizer"]["options"]["sgd"]["name"] = json!({"type": "choice", "values": [1]}));
        assert_eq!(e.field, "optimizer.sgd.name", "{e}");
        assert!(e.rule.contains("reserved"), "{e}");
        let e = bad(&|v| v["optimizer"]["options"] = json!({}));
        assert_eq!(e.field, "optimizer.options", "{e}");
        // Nested conditionals name the whole path.
        let e = bad(&|v| {
            v["optimizer"]["options"]["none"] = json!({"sched": {"type": "conditional", "options": {
                "step": {"gamma": {"type": "int", "low": 3, "high": 1}}}}})
        });
        assert_eq!(e.field, "optimizer.none.sched.step.gamma.high", "{e}");
    }

    #[test]
    fn grids_enumerate_each_options_sub_grid_exactly() {
        let space = Space::from_value(json!({
            "opt": {"type": "conditional", "options": {
                "adam": {"lr": {"type": "choice", "values": [1, 2]}, "b": {"type": "choice", "values": ["x", "y"]}},
                "sgd": {"lr": {"type": "int", "low": 1, "high": 3}},
                "none": {},
            }},
            "bs": {"type": "choice", "values": [16, 32]},
        }))
        .unwrap();
        assert_eq!(space.grid_size().unwrap(), (4 + 3 + 1) * 2);
        let mut s = Search::new(space.clone(), Sampler::grid(), None, Direction::Minimize, "loss").unwrap();
        let mut seen = Vec::new();
        while let Some(t) = s.ask().unwrap() {
            seen.push(Value::Object(t.params.clone()).to_string());
            s.tell(t.id, Some(1.0), TrialState::Completed).unwrap();
        }
        assert_eq!(seen.len(), 16, "{seen:#?}");
        assert_eq!(seen[0], r#"{"opt":{"name":"adam","lr":1,"b":"x"},"bs":16}"#);
        assert_eq!(seen[15], r#"{"opt":{"name":"none"},"bs":32}"#);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 16);
        assert!(seen.iter().any(|p| p == r#"{"opt":{"name":"sgd","lr":3},"bs":32}"#));
        for i in 0..16 {
            assert_eq!(space.grid_index(&space.grid_point(i)), Some(i));
        }
        // A value from another option, an unused option's parameter, or a missing one is not in
        // the space.
        for bad in [
            json!({"opt": {"name": "sgd", "lr": 1, "b": "x"}, "bs": 16}),
            json!({"opt": {"name": "adam", "lr": 1}, "bs": 16}),
            json!({"opt": {"name": "rmsprop"}, "bs": 16}),
            json!({"opt": "none", "bs": 16}),
        ] {
            let err = s.add(bad.as_object().unwrap().clone(), Some(1.0), TrialState::Completed).unwrap_err();
            assert!(err.to_string().contains("params.opt"), "{err}");
        }
        let continuous = Space::from_value(optimizer()).unwrap();
        let err = Sampler::grid().suggest(&continuous, &[], Direction::Minimize).unwrap_err();
        assert_eq!(err.field, "optimizer.adam.lr", "{err}");
        assert!(err.rule.contains("continuous"), "{err}");
    }

    #[test]
    fn random_and_sobol_give_only_valid_combinations_of_every_option() {
        let space = Space::from_value(optimizer()).unwrap();
        for sampler in [Sampler::Random { seed: 5 }, Sampler::Sobol { seed: 5 }] {
            let mut s = Search::new(space.clone(), sampler.clone(), None, Direction::Minimize, "loss").unwrap();
            let mut counts = std::collections::HashMap::new();
            for _ in 0..60 {
                let t = s.ask().unwrap().unwrap();
                let (name, _) = check(&Value::Object(t.params.clone()));
                *counts.entry(name).or_insert(0) += 1;
                // What a sampler gives, a warm start accepts.
                s.add(t.params.clone(), Some(1.0), TrialState::Completed).unwrap();
            }
            for name in ["adam", "sgd", "none"] {
                assert!(counts.get(name).copied().unwrap_or(0) >= 10, "{sampler:?}: {counts:?}");
            }
        }
    }

    /// Adam is best near lr 1e-3, sgd near lr 0.3 (so one lr model for both would mislead), and
    /// adam is better overall; "none" is bad.
    fn loss(p: &Map<String, Value>) -> f64 {
        let o = &p["optimizer"];
        let lr = o.get("lr").and_then(Value::as_f64).unwrap_or(0.0);
        match o["name"].as_str().unwrap() {
            "adam" => (lr.log10() + 3.0).powi(2) + (o["beta1"].as_f64().unwrap() - 0.9).powi(2) * 10.0,
            "sgd" => 0.5 + (lr.log10() - 0.3f64.log10()).powi(2),
            _ => 3.0,
        }
    }

    #[test]
    fn tpe_models_each_options_parameters_from_its_own_trials() {
        let space = Space::from_value(optimizer()).unwrap();
        // A hand-made history: 40 random configurations with their losses.
        let mut history: Vec<Trial> = Vec::new();
        for i in 0..40 {
            let mut t = Trial::new(i, super::super::sampler::random_point(&space, i, 11));
            t.value = Some(loss(&t.params));
            t.state = TrialState::Completed;
            history.push(t);
        }
        let tpe = Sampler::Tpe(TpeSampler { seed: 2, ..Default::default() });
        let (mut adam, mut adam_near, mut sgd_near, mut sgd) = (0, 0, 0, 0);
        for i in 0..40 {
            let p = tpe.suggest(&space, &history, Direction::Minimize).unwrap().unwrap();
            let (name, lr) = check(&Value::Object(p.clone()));
            match name.as_str() {
                "adam" => {
                    adam += 1;
                    adam_near += usize::from((2e-4..5e-3).contains(&lr));
                }
                "sgd" => {
                    sgd += 1;
                    sgd_near += usize::from((0.06..1.0).contains(&lr));
                }
                _ => {}
            }
            let mut t = Trial::new(40 + i, p);
            t.value = Some(loss(&t.params));
            t.state = TrialState::Completed;
            history.push(t);
        }
        assert!(adam >= 28, "adam {adam}, sgd {sgd} of 40");
        assert!(adam_near * 10 >= adam * 8, "adam near its optimum: {adam_near} of {adam}");
        assert!(sgd_near == sgd, "sgd near its own optimum, not adam's: {sgd_near} of {sgd}");
        let best = history.iter().map(|t| t.value.unwrap()).fold(f64::INFINITY, f64::min);
        assert!(best < 0.05, "best {best}");
    }

    #[test]
    fn nested_conditionals_work_in_every_sampler() {
        let tree = json!({"model": {"type": "conditional", "options": {
            "mlp": {"layers": {"type": "int", "low": 1, "high": 3},
                    "opt": {"type": "conditional", "options": {
                        "adam": {"lr": {"type": "choice", "values": [1, 2]}},
                        "sgd": {}}}},
            "tree": {"depth": {"type": "choice", "values": [4, 8]}},
        }}});
        let space = Space::from_value(tree).unwrap();
        assert_eq!(space.grid_size().unwrap(), 3 * (2 + 1) + 2);
        assert_eq!(space.dims(), 1 + 1 + (1 + 1) + 1);
        let valid = |p: &Map<String, Value>| {
            let m = &p["model"];
            match m["name"].as_str().unwrap() {
                "mlp" => {
                    let opt = m["opt"].as_object().unwrap();
                    m.as_object().unwrap().len() == 3
                        && (1..=3).contains(&m["layers"].as_i64().unwrap())
                        && match opt["name"].as_str().unwrap() {
                            "adam" => opt.len() == 2 && [1, 2].contains(&opt["lr"].as_i64().unwrap()),
                            _ => opt.len() == 1,
                        }
                }
                _ => m.as_object().unwrap().len() == 2 && [4, 8].contains(&m["depth"].as_i64().unwrap()),
            }
        };
        for sampler in [
            Sampler::grid(),
            Sampler::Random { seed: 3 },
            Sampler::Sobol { seed: 3 },
            Sampler::Tpe(TpeSampler { seed: 3, n_startup_trials: 4, ..Default::default() }),
        ] {
            let mut s = Search::new(space.clone(), sampler.clone(), None, Direction::Minimize, "loss").unwrap();
            let mut seen = std::collections::HashSet::new();
            for _ in 0..11 {
                let t = s.ask().unwrap().unwrap();
                assert!(valid(&t.params), "{sampler:?}: {:?}", t.params);
                seen.insert(Value::Object(t.params.clone()).to_string());
                let depth = t.params["model"].get("depth").and_then(Value::as_f64).unwrap_or(0.0);
                s.tell(t.id, Some(depth), TrialState::Completed).unwrap();
            }
            if matches!(sampler, Sampler::Grid { .. } | Sampler::Tpe(_)) {
                assert_eq!(seen.len(), 11, "{sampler:?} covers the tree once");
                assert!(s.ask().unwrap().is_none(), "{sampler:?}");
            }
        }
    }

    #[test]
    fn tpe_never_repeats_a_configuration_of_a_finite_tree_and_then_ends() {
        let space = Space::from_value(json!({"opt": {"type": "conditional", "options": {
            "adam": {"lr": {"type": "choice", "values": [1, 2, 3]}},
            "sgd": {"lr": {"type": "choice", "values": [1, 2]}, "m": {"type": "choice", "values": [0, 1]}},
        }}}))
        .unwrap();
        let mut s = Search::new(
            space,
            Sampler::Tpe(TpeSampler { seed: 1, n_startup_trials: 3, ..Default::default() }),
            None,
            Direction::Minimize,
            "loss",
        )
        .unwrap();
        assert_eq!(s.remaining(), Some(7));
        let mut seen = Vec::new();
        while let Some(t) = s.ask().unwrap() {
            seen.push(Value::Object(t.params.clone()).to_string());
            s.tell(t.id, Some(seen.len() as f64), TrialState::Completed).unwrap();
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (7, 7), "{seen:#?}");
        let resumed: Search = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(resumed, s);
    }
}
