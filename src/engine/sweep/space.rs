//! Parameter spaces: what each parameter of a sweep may take, and how samplers move through it.
//!
//! Theory of operation: a [`Space`] is an ordered list of named [`Param`]s. Every sampler sees a
//! parameter in one of two shapes ([`Kind`]):
//!
//! * *categorical*: a finite list of options (a `choice`, a tied group of values that vary
//!   together, or the files of a folder); samplers work with the option's index;
//! * *numeric*: an interval, maybe logarithmic, maybe on a grid of `step`; samplers work in the
//!   "internal" coordinate: the number itself, or its logarithm for log scales, on an interval
//!   widened by half a step at each end so that the grid's end points get their fair share.
//!
//! `from_unit` maps a number in [0, 1) to a value (random and Sobol sampling), `grid_value`
//! enumerates finite parameters (grid search), and `to_internal`/`from_internal` convert between
//! values and the coordinate that TPE models. Grid constructors (`linspace`, `arange`,
//! `geomspace`) produce a `choice` of numbers, as Batch AI's `NumericParameter` produced a list.
//! Every constructor and [`Space::new`] validates; errors name the field, value and rule.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::conditional::Branches;
use super::gauss;
use crate::engine::error::ValidationError;
use crate::engine::model::validate::{fail, show};

pub type Check = Result<(), ValidationError>;

/// The most options a grid may enumerate for one parameter, and in all.
pub const MAX_GRID: u64 = 10_000_000;

/// One parameter's distribution, as stored (JSON with a `type` tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Param {
    /// One of a list of strings, numbers or booleans.
    Choice { values: Vec<Value> },
    /// A real number in [low, high]; `log` draws log-uniformly; `q` rounds to low + k·q.
    Uniform {
        low: f64,
        high: f64,
        #[serde(default)]
        log: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q: Option<f64>,
    },
    /// An integer in [low, high] (both included) on a grid of `step`; `log` draws log-uniformly.
    Int {
        low: i64,
        high: i64,
        #[serde(default = "one")]
        step: i64,
        #[serde(default)]
        log: bool,
    },
    /// Several parameters that vary together: each option is an object with the same keys
    /// (Batch AI's `DictParameter`).
    Tied { values: Vec<Map<String, Value>> },
    /// One trial per file: the files under `folder` whose relative path matches `pattern`
    /// (listed once, when the space is built, so that sampling stays pure).
    Files { folder: String, pattern: String, values: Vec<String> },
    /// A real number drawn from a normal distribution of mean `mu` and standard deviation
    /// `sigma` (Azure ML's `normal`); `log` takes exp() of that draw (`lognormal`: `mu` and
    /// `sigma` are the log's); `q` rounds the value to a multiple of q (`qnormal`, `qlognormal`:
    /// round(value / q) * q). Unbounded, so a grid cannot enumerate it.
    Normal {
        mu: f64,
        sigma: f64,
        #[serde(default)]
        log: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        q: Option<f64>,
    },
    /// One of several named options, each with its own sub-space (optimizer → its own
    /// hyperparameters). A trial's value is `{"name": option, ...}` (see `conditional`).
    Conditional { options: Branches },
}

fn one() -> i64 {
    1
}

/// How samplers see a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Categorical {
        n: usize,
    },
    /// `low`/`high` are internal coordinates (logs if `log`), widened by half a step when
    /// `step` is set. `step` is in value units.
    Numeric {
        low: f64,
        high: f64,
        log: bool,
        step: Option<f64>,
        base: f64,
        top: f64,
        int: bool,
    },
}

impl Param {
    pub fn choice(values: Vec<Value>) -> Result<Param, ValidationError> {
        let p = Param::Choice { values };
        p.validate("")?;
        Ok(p)
    }

    /// `num` evenly spaced numbers from `low` to `high`, both included (numpy's linspace).
    pub fn linspace(low: f64, high: f64, num: u64, integer: bool) -> Result<Param, ValidationError> {
        bounds("", low, high, false)?;
        grid_size(num)?;
        grid_choice((0..num).map(|i| low + (high - low) * i as f64 / (num - 1) as f64), integer)
    }

    /// `low`, `low + step`, … up to `high` included (Batch AI's LINEAR scale with a step).
    pub fn arange(low: f64, high: f64, step: f64, integer: bool) -> Result<Param, ValidationError> {
        bounds("", low, high, false)?;
        if !(step.is_finite() && step > 0.0) {
            fail("step", &step, "must be a positive number")?;
        }
        // Counted in floating point: a tiny step gives more values than u64 holds.
        let count = ((high - low) / step + 1e-9).floor() + 1.0;
        if count > MAX_GRID as f64 {
            fail("step", &step, &format!("gives {count:e} values; at most {MAX_GRID} are allowed"))?;
        }
        grid_choice((0..count as u64).map(|i| low + step * i as f64), integer)
    }

    /// `num` numbers from `low` to `high` evenly spaced on a log scale (numpy's geomspace).
    pub fn geomspace(low: f64, high: f64, num: u64, integer: bool) -> Result<Param, ValidationError> {
        bounds("", low, high, true)?;
        grid_size(num)?;
        let (a, b) = (low.ln(), high.ln());
        let values = (0..num).map(|i| match i {
            0 => low,
            _ if i == num - 1 => high,
            _ => (a + (b - a) * i as f64 / (num - 1) as f64).exp(),
        });
        grid_choice(values, integer)
    }

    /// Check the parameter; `name` prefixes the fields in errors (`lr.high`).
    pub fn validate(&self, name: &str) -> Check {
        let field = |f: &str| if name.is_empty() { f.to_string() } else { format!("{name}.{f}") };
        match self {
            Param::Choice { values } => {
                if values.is_empty() {
                    fail(&field("values"), values, "must list at least one value")?;
                }
                // Each value's first place, by what `same` compares: a look-up, not a scan of the
                // values before it (a grid may hold millions).
                let mut seen: HashMap<ScalarKey, usize> = HashMap::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    if !(v.is_string() || v.is_number() || v.is_boolean()) {
                        fail(&field(&format!("values[{i}]")), v, "must be a string, a number or a boolean")?;
                    }
                    // 1 and 1.0 are one number to samplers (and equal in Python): one option.
                    let first = scalar_key(v).and_then(|key| match seen.entry(key) {
                        Entry::Occupied(e) => Some(*e.get()),
                        Entry::Vacant(e) => {
                            e.insert(i);
                            None
                        }
                    });
                    if let Some(j) = first {
                        let rule = if values[j] == *v {
                            "is listed twice; each value must be unique".to_string()
                        } else {
                            format!(
                                "equals values[{j}] ({}) as a number, so the two options cannot be told apart; list the number once",
                                show(&values[j])
                            )
                        };
                        fail(&field(&format!("values[{i}]")), v, &rule)?;
                    }
                }
                Ok(())
            }
            Param::Uniform { low, high, log, q } => {
                bounds(name, *low, *high, *log)?;
                if let Some(q) = q.as_ref().filter(|_| low < high) {
                    if !(q.is_finite() && *q > 0.0) {
                        fail(&field("q"), q, "must be a positive number")?;
                    }
                    if *q > high - low {
                        fail(&field("q"), q, &format!("must not exceed high - low ({})", high - low))?;
                    }
                    if (high - low) / q > MAX_GRID as f64 {
                        fail(&field("q"), q, &format!("gives more than {MAX_GRID} values"))?;
                    }
                }
                Ok(())
            }
            Param::Int { low, high, step, log } => {
                if low > high {
                    fail(&field("high"), high, &format!("must be at least low ({low})"))?;
                }
                if *step < 1 {
                    fail(&field("step"), step, "must be a positive integer")?;
                }
                if *log && *low < 1 {
                    fail(&field("low"), low, "must be at least 1 on a log scale (the log of 0 or less is undefined)")?;
                }
                if *log && *step != 1 {
                    fail(&field("step"), step, "must be 1 on a log scale (a log scale has no even grid)")?;
                }
                Ok(())
            }
            Param::Tied { values } => {
                let Some(first) = values.first() else {
                    return fail(&field("values"), values, "must list at least one group of values");
                };
                if first.is_empty() {
                    fail(&field("values[0]"), first, "must name at least one parameter")?;
                }
                for (i, group) in values.iter().enumerate() {
                    let same_keys = group.len() == first.len() && group.keys().all(|k| first.contains_key(k));
                    if !same_keys {
                        let keys: Vec<&String> = first.keys().collect();
                        fail(
                            &field(&format!("values[{i}]")),
                            group,
                            &format!("must have the same keys as the first group ({})", show(&keys)),
                        )?;
                    }
                    for (key, v) in group {
                        if !(v.is_string() || v.is_number() || v.is_boolean()) {
                            fail(&field(&format!("values[{i}].{key}")), v, "must be a string, a number or a boolean")?;
                        }
                    }
                    if values[..i].iter().any(|g| same_group(g, group)) {
                        fail(&field(&format!("values[{i}]")), group, "is listed twice; each group must be unique")?;
                    }
                }
                Ok(())
            }
            Param::Files { folder, pattern, values } => {
                if values.is_empty() {
                    fail(&field("pattern"), pattern, &format!("matches no file under {}", show(folder)))?;
                }
                Ok(())
            }
            Param::Normal { mu, sigma, log, q } => {
                if !mu.is_finite() {
                    return Err(ValidationError::new(field("mu"), mu.to_string(), "must be a finite number"));
                }
                if !(sigma.is_finite() && *sigma > 0.0) {
                    return Err(ValidationError::new(field("sigma"), sigma.to_string(), "must be a positive number"));
                }
                // exp() of mu + 8 sigma (the furthest draw) must stay a finite number.
                if *log && mu.abs() + 8.0 * sigma > 700.0 {
                    fail(
                        &field("sigma"),
                        sigma,
                        &format!(
                            "with mu {mu} reaches exp({}), beyond the largest number; mu and sigma are the log's",
                            mu.abs() + 8.0 * sigma
                        ),
                    )?;
                }
                if let Some(q) = q.filter(|q| !(q.is_finite() && *q > 0.0)) {
                    return Err(ValidationError::new(field("q"), q.to_string(), "must be a positive number"));
                }
                Ok(())
            }
            Param::Conditional { options } => {
                if options.0.is_empty() {
                    fail(&field("options"), &Map::new(), "must name at least one option")?;
                }
                for (i, (option, sub)) in options.0.iter().enumerate() {
                    if option.trim().is_empty() {
                        fail(&field("options"), option, "option names must not be empty")?;
                    }
                    if options.0[..i].iter().any(|(o, _)| o == option) {
                        fail(&field("options"), option, "names an option twice")?;
                    }
                    for (j, (leaf, p)) in sub.params().iter().enumerate() {
                        let path = field(&format!("{option}.{leaf}"));
                        if leaf == super::conditional::NAME {
                            fail(
                                &path,
                                leaf,
                                "is reserved: a trial's value names its option under \"name\"; rename the parameter",
                            )?;
                        }
                        if leaf.trim().is_empty() {
                            fail(&field(option), leaf, "parameter names must not be empty")?;
                        }
                        if sub.params()[..j].iter().any(|(n, _)| n == leaf) {
                            fail(&field(option), leaf, "names a parameter twice")?;
                        }
                        p.validate(&path)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Coordinates random and Sobol sampling draw for this parameter: one, or for a
    /// conditional one for the option and one per leaf of every option.
    pub fn dims(&self) -> usize {
        match self {
            Param::Conditional { options } => options.dims(),
            _ => 1,
        }
    }

    /// Whether the parameter can take one value only (`randint(3, 3)`, `uniform(1, 1)`).
    pub fn is_fixed(&self) -> bool {
        match self {
            Param::Uniform { low, high, .. } => low == high,
            Param::Int { low, high, .. } => low == high,
            _ => false,
        }
    }

    pub fn kind(&self) -> Kind {
        if self.is_fixed() {
            // One value: a one-option categorical (a zero-width interval has no density).
            return Kind::Categorical { n: 1 };
        }
        match self {
            // Samplers move through the quantile of the value (see `gauss`).
            Param::Normal { .. } => Kind::Numeric {
                low: gauss::U_MIN,
                high: gauss::U_MAX,
                log: false,
                step: None,
                base: f64::NEG_INFINITY,
                top: f64::INFINITY,
                int: false,
            },
            Param::Choice { values } => Kind::Categorical { n: values.len() },
            Param::Tied { values } => Kind::Categorical { n: values.len() },
            Param::Files { values, .. } => Kind::Categorical { n: values.len() },
            Param::Conditional { options } => Kind::Categorical { n: options.0.len() },
            Param::Uniform { low, high, log, q } => numeric(*low, *high, *log, *q, false),
            Param::Int { low, high, step, log } => numeric(*low as f64, *high as f64, *log, Some(*step as f64), true),
        }
    }

    /// How many values a grid search enumerates, or `None` for a continuous range.
    pub fn grid_size(&self) -> Option<u64> {
        match self {
            Param::Normal { .. } => return None,
            Param::Conditional { options } => return options.grid_size(),
            _ => {}
        }
        match self.kind() {
            Kind::Categorical { n } => Some(n as u64),
            Kind::Numeric { base, top, step: Some(step), .. } => Some(((top - base) / step + 1e-9).floor() as u64 + 1),
            Kind::Numeric { step: None, .. } => None,
        }
    }

    /// The `i`-th grid value (`i < grid_size`).
    pub fn grid_value(&self, i: u64) -> Value {
        if let Param::Conditional { options } = self {
            return options.grid_value(i);
        }
        match self.kind() {
            Kind::Categorical { .. } => self.option(i as usize),
            Kind::Numeric { base, step, int, .. } => number(base + step.unwrap_or(0.0) * i as f64, int),
        }
    }

    /// Option `i` of a categorical parameter.
    pub fn option(&self, i: usize) -> Value {
        match self {
            Param::Choice { values } => values[i].clone(),
            Param::Tied { values } => Value::Object(values[i].clone()),
            Param::Files { values, .. } => Value::String(values[i].clone()),
            Param::Uniform { low, .. } => number(*low, false),
            Param::Int { low, .. } => Value::from(*low),
            Param::Normal { .. } => Value::Null,
            Param::Conditional { options } => super::conditional::object(&options.0[i].0, Map::new()),
        }
    }

    /// Map `u` in [0, 1) to a value, uniformly over the options or the (log) interval.
    pub fn from_unit(&self, u: f64) -> Value {
        let u = u.clamp(0.0, 1.0);
        if let Param::Conditional { options } = self {
            // One coordinate for the whole tree (Space::from_unit gives each leaf its own).
            return options.from_unit(&vec![u; options.dims()]);
        }
        match self.kind() {
            Kind::Categorical { n } => self.option(((u * n as f64) as usize).min(n - 1)),
            Kind::Numeric { low, high, .. } => self.from_internal(low + u * (high - low)),
        }
    }

    /// The internal coordinate of a value (option index for categoricals), or `None` if the value
    /// is not in this parameter's space (a trial from an older version of the space, say).
    pub fn to_internal(&self, value: &Value) -> Option<f64> {
        if let Param::Normal { mu, sigma, log, .. } = self {
            let x = value.as_f64().filter(|x| x.is_finite())?;
            // A lognormal's value is positive, or 0 once a q rounds it down.
            let z = match log {
                true if x < 0.0 => return None,
                true => x.max(f64::MIN_POSITIVE).ln(),
                false => x,
            };
            return Some(gauss::cdf((z - mu) / sigma));
        }
        match self.kind() {
            // Compared in place: this runs for every trial's every parameter at every suggestion.
            Kind::Categorical { .. } => match self {
                Param::Choice { values } => values.iter().position(|v| same(v, value)),
                Param::Tied { values } => value.as_object().and_then(|o| values.iter().position(|g| same_group(g, o))),
                Param::Files { values, .. } => value.as_str().and_then(|s| values.iter().position(|v| v == s)),
                Param::Conditional { options } => options.split(value).map(|(i, _)| i),
                _ => same(&self.option(0), value).then_some(0),
            }
            .map(|i| i as f64),
            Kind::Numeric { base, top, log, .. } => {
                let x = value.as_f64()?;
                let slack = 1e-9 * (top - base).abs().max(1.0);
                if !(x >= base - slack && x <= top + slack) {
                    return None;
                }
                Some(if log { x.max(f64::MIN_POSITIVE).ln() } else { x })
            }
        }
    }

    /// The value at internal coordinate `x`: rounded to the grid and clamped to the range.
    pub fn from_internal(&self, x: f64) -> Value {
        if let Param::Normal { mu, sigma, log, q } = self {
            let z = mu + sigma * gauss::quantile(x);
            let v = if *log { z.exp() } else { z };
            let v = match q {
                Some(q) => (v / q).round() * q,
                None => v,
            };
            return number(v, false);
        }
        match self.kind() {
            Kind::Categorical { n } => self.option((x.round().max(0.0) as usize).min(n - 1)),
            Kind::Numeric { log, step, base, top, int, .. } => {
                let v = if log { x.exp() } else { x };
                let v = match step {
                    Some(step) => {
                        let k = ((v - base) / step).round().max(0.0);
                        let last = ((top - base) / step + 1e-9).floor();
                        base + k.min(last) * step
                    }
                    None => v.clamp(base, top),
                };
                number(v, int)
            }
        }
    }

    /// A short human description, for reprs and messages.
    pub fn describe(&self) -> String {
        match self {
            Param::Choice { values } => format!("choice({})", show(values)),
            Param::Uniform { low, high, log, q } => {
                let name = if *log { "loguniform" } else { "uniform" };
                match q {
                    Some(q) => format!("q{name}({low}, {high}, q={q})"),
                    None => format!("{name}({low}, {high})"),
                }
            }
            Param::Int { low, high, step, log } => format!("randint({low}, {high}, step={step}, log={log})"),
            Param::Tied { values } => format!("tied({} groups)", values.len()),
            Param::Files { folder, pattern, values } => {
                format!("files({folder:?}, {pattern:?}: {} files)", values.len())
            }
            Param::Normal { mu, sigma, log, q } => {
                let name = if *log { "lognormal" } else { "normal" };
                match q {
                    Some(q) => format!("q{name}({mu}, {sigma}, q={q})"),
                    None => format!("{name}({mu}, {sigma})"),
                }
            }
            Param::Conditional { options } => {
                let names: Vec<&str> = options.0.iter().map(|(n, _)| n.as_str()).collect();
                format!("conditional({})", names.join(", "))
            }
        }
    }

    /// Which point of the parameter `value` is, as a number that two equal values share: the
    /// option's index, the grid index on a `step` or `q`, else the bits of the coordinate. For a
    /// finite parameter it is the grid index. `None` if the value is outside the parameter.
    pub fn key(&self, value: &Value) -> Option<u64> {
        if let Param::Conditional { options } = self {
            return options.key(value);
        }
        Some(self.key_at(self.to_internal(value)?))
    }

    /// [`Param::key`] from the value's internal coordinate `x` (TPE has it already).
    pub fn key_at(&self, x: f64) -> u64 {
        if let Param::Normal { q: Some(q), .. } = self {
            let v = self.from_internal(x).as_f64().unwrap_or(0.0);
            return (v / q).round() as i64 as u64;
        }
        match self.kind() {
            Kind::Categorical { .. } => x as u64,
            Kind::Numeric { base, top, step: Some(step), log, .. } => {
                let v = if log { x.exp() } else { x };
                let last = ((top - base) / step + 1e-9).floor();
                ((v - base) / step).round().clamp(0.0, last) as u64
            }
            Kind::Numeric { step: None, .. } => x.to_bits(),
        }
    }
}

fn numeric(low: f64, high: f64, log: bool, step: Option<f64>, int: bool) -> Kind {
    // Widen by half a step so that rounding gives the end points as much room as inner points.
    let (wl, wh) = match step {
        Some(s) => (low - s / 2.0, high + s / 2.0),
        None => (low, high),
    };
    let (wl, wh) = if log {
        // A half step below a positive low can reach zero or below; keep the log defined.
        (wl.max(low * 0.5).ln(), wh.ln())
    } else {
        (wl, wh)
    };
    Kind::Numeric { low: wl, high: wh, log, step, base: low, top: high, int }
}

fn number(v: f64, int: bool) -> Value {
    if int {
        Value::from(v.round() as i64)
    } else {
        serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// JSON equality that treats 3 and 3.0 as the same number (Python sends either).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => same_group(x, y),
        _ => a == b,
    }
}

fn same_group(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
}

fn bounds(name: &str, low: f64, high: f64, log: bool) -> Check {
    let field = |f: &str| if name.is_empty() { f.to_string() } else { format!("{name}.{f}") };
    if !low.is_finite() {
        return Err(ValidationError::new(field("low"), low.to_string(), "must be a finite number"));
    }
    if !high.is_finite() {
        return Err(ValidationError::new(field("high"), high.to_string(), "must be a finite number"));
    }
    if low > high {
        fail(&field("high"), &high, &format!("must be at least low ({low})"))?;
    }
    if log && low <= 0.0 {
        fail(&field("low"), &low, "must be positive on a log scale (the log of 0 or less is undefined)")?;
    }
    Ok(())
}

fn grid_choice(values: impl Iterator<Item = f64>, integer: bool) -> Result<Param, ValidationError> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        let v = number(v, integer);
        // Rounding to integers can merge neighbours; a grid lists each value once. The values
        // rise, so a repeat is the last one (searching the whole list made big grids quadratic).
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    Ok(Param::Choice { values: out })
}

/// A grid's `num`: at least its two ends, at most MAX_GRID values.
fn grid_size(num: u64) -> Check {
    if num < 2 {
        fail("num", &num, "must be at least 2 (the two end points)")?;
    }
    if num > MAX_GRID {
        fail("num", &num, &format!("must be at most {MAX_GRID}"))?;
    }
    Ok(())
}

/// A choice value as `same` compares it: numbers by their f64 value (1 and 1.0 are one; -0.0
/// is 0.0), strings and booleans as they are; None for anything else.
#[derive(PartialEq, Eq, Hash)]
enum ScalarKey<'a> {
    Number(u64),
    Text(&'a str),
    Bool(bool),
}

fn scalar_key(v: &Value) -> Option<ScalarKey<'_>> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| ScalarKey::Number(if x == 0.0 { 0 } else { x.to_bits() })),
        Value::String(s) => Some(ScalarKey::Text(s)),
        Value::Bool(b) => Some(ScalarKey::Bool(*b)),
        _ => None,
    }
}

/// A sweep's parameters, in order. Serialized as a JSON object `{name: param}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    params: Vec<(String, Param)>,
}

impl Space {
    pub fn new(params: Vec<(String, Param)>) -> Result<Space, ValidationError> {
        if params.is_empty() {
            fail("space", &Map::new(), "must have at least one parameter")?;
        }
        for (i, (name, param)) in params.iter().enumerate() {
            if name.trim().is_empty() || name.contains('\0') {
                fail("space", name, "parameter names must not be empty")?;
            }
            if params[..i].iter().any(|(n, _)| n == name) {
                fail("space", name, "names a parameter twice")?;
            }
            param.validate(name)?;
        }
        Ok(Space { params })
    }

    /// A space made of parameters validated elsewhere, possibly none: a conditional option's
    /// sub-space (`Param::validate` checks it with the full path).
    pub(crate) fn unchecked(params: Vec<(String, Param)>) -> Space {
        Space { params }
    }

    /// Whether a parameter is conditional (samplers then work through the tree).
    pub fn has_conditional(&self) -> bool {
        self.params.iter().any(|(_, p)| matches!(p, Param::Conditional { .. }))
    }

    /// Coordinates random and Sobol sampling draw (see [`Param::dims`]).
    pub fn dims(&self) -> usize {
        self.params.iter().map(|(_, p)| p.dims()).sum()
    }

    /// Parse `{name: param}` JSON.
    pub fn from_json(text: &str) -> Result<Space, ValidationError> {
        let value = crate::engine::model::parse::parse_text(text)?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Space, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::new("space", show(&value), "must be an object of {name: parameter}"));
        };
        let mut params = Vec::with_capacity(map.len());
        for (name, spec) in map {
            let param = super::conditional::parse_param(spec).map_err(|e| {
                let field = if e.field.is_empty() || e.field == "(document)" {
                    name.clone()
                } else {
                    format!("{name}.{}", e.field)
                };
                ValidationError::new(field, e.value, e.rule)
            })?;
            params.push((name, param));
        }
        Space::new(params)
    }

    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        for (name, param) in &self.params {
            map.insert(name.clone(), serde_json::to_value(param).unwrap_or(Value::Null));
        }
        Value::Object(map)
    }

    pub fn params(&self) -> &[(String, Param)] {
        &self.params
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The number of grid combinations, or an error naming the first continuous parameter.
    pub fn grid_size(&self) -> Result<u64, ValidationError> {
        let mut total: u64 = 1;
        for (name, param) in &self.params {
            if let Param::Conditional { options } = param {
                // Name the continuous leaf (`optimizer.adam.lr`), not the whole tree.
                for (option, sub) in &options.0 {
                    sub.grid_size().map_err(|e| match e.field.as_str() {
                        "space" => e,
                        leaf => ValidationError::new(format!("{name}.{option}.{leaf}"), e.value, e.rule),
                    })?;
                }
            }
            let Some(n) = param.grid_size() else {
                let rule = match param {
                    Param::Normal { .. } => {
                        "is unbounded (a normal distribution has no end points) and cannot be enumerated by a grid search; use choice, linspace, arange or geomspace"
                    }
                    _ => {
                        "is continuous and cannot be enumerated by a grid search; use choice, linspace, arange, geomspace, a q-step or an integer range"
                    }
                };
                return Err(ValidationError::new(name.clone(), param.describe(), rule));
            };
            total = total.checked_mul(n).filter(|t| *t <= MAX_GRID).ok_or_else(|| {
                ValidationError::new(
                    "space",
                    format!("{name}: {n} values"),
                    format!("has more than {MAX_GRID} grid combinations"),
                )
            })?;
        }
        Ok(total)
    }

    /// Grid combination `index` in Cartesian order: the first parameter varies slowest.
    pub fn grid_point(&self, index: u64) -> Map<String, Value> {
        let sizes: Vec<u64> = self.params.iter().map(|(_, p)| p.grid_size().unwrap_or(1)).collect();
        let mut rest = index;
        let mut picks = vec![0u64; sizes.len()];
        for i in (0..sizes.len()).rev() {
            picks[i] = rest % sizes[i];
            rest /= sizes[i];
        }
        self.params.iter().zip(picks).map(|((name, p), k)| (name.clone(), p.grid_value(k))).collect()
    }

    /// How many distinct configurations the space has, or `None` if a parameter is continuous
    /// or unbounded (then no two samples are expected to coincide).
    pub fn size(&self) -> Option<u64> {
        self.grid_size().ok()
    }

    /// A configuration's identity: one [`Param::key`] per parameter (equal keys, same
    /// configuration), or `None` if a parameter is missing or outside the space.
    pub fn key(&self, params: &Map<String, Value>) -> Option<Vec<u64>> {
        let mut in_order = params.iter();
        self.params
            .iter()
            .map(|(name, p)| {
                let value = match in_order.next() {
                    Some((key, value)) if key == name => Some(value),
                    _ => params.get(name),
                };
                value.and_then(|v| p.key(v))
            })
            .collect()
    }

    /// One number per configuration: on a finite space its grid index (exact), otherwise a
    /// 64-bit mix of its keys (two configurations share one with odds of about 2^-64).
    pub fn point_id(&self, params: &Map<String, Value>, finite: bool) -> Option<u64> {
        if self.has_conditional() {
            // An option's index alone does not tell two sub-configurations apart: use the keys.
            return self.point_id_of(self.key(params)?.into_iter(), finite);
        }
        self.point_id_at(&self.to_internal(params)?, finite)
    }

    /// [`Space::point_id`] from a configuration's internal coordinates.
    pub fn point_id_at(&self, x: &[f64], finite: bool) -> Option<u64> {
        self.point_id_of(self.params.iter().zip(x).map(|((_, p), x)| p.key_at(*x)), finite)
    }

    fn point_id_of(&self, keys: impl Iterator<Item = u64>, finite: bool) -> Option<u64> {
        if finite {
            let mut index: u64 = 0;
            for ((_, p), k) in self.params.iter().zip(keys) {
                index = index.checked_mul(p.grid_size()?)?.checked_add(k)?;
            }
            return Some(index);
        }
        // SplitMix64's finaliser over the running combination.
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Some(keys.fold(0x9e37_79b9_7f4a_7c15, |h, k| mix(h ^ mix(k))))
    }

    /// The grid index of a configuration of a finite space (the inverse of `grid_point`).
    pub fn grid_index(&self, params: &Map<String, Value>) -> Option<u64> {
        let keys = self.key(params)?;
        let mut index: u64 = 0;
        for ((_, p), k) in self.params.iter().zip(keys) {
            index = index.checked_mul(p.grid_size()?)?.checked_add(k)?;
        }
        Some(index)
    }

    /// Internal coordinates of a trial's parameters, or `None` if any is missing or outside.
    pub fn to_internal(&self, params: &Map<String, Value>) -> Option<Vec<f64>> {
        // Trials usually list their parameters in the space's order: walking both together
        // avoids hashing every name (this runs for every trial at every TPE suggestion).
        let mut in_order = params.iter();
        self.params
            .iter()
            .map(|(name, p)| {
                let value = match in_order.next() {
                    Some((key, value)) if key == name => Some(value),
                    _ => params.get(name),
                };
                value.and_then(|v| p.to_internal(v))
            })
            .collect()
    }

    pub fn from_internal(&self, x: &[f64]) -> Map<String, Value> {
        self.params.iter().zip(x).map(|((name, p), x)| (name.clone(), p.from_internal(*x))).collect()
    }

    /// The configuration at unit coordinates `u` (`u.len() == dims()`; a conditional takes
    /// its own slice, see `conditional`).
    pub fn from_unit(&self, u: &[f64]) -> Map<String, Value> {
        let mut at = 0;
        let mut out = Map::with_capacity(self.params.len());
        for (name, p) in &self.params {
            let value = match p {
                Param::Conditional { options } => options.from_unit(&u[at..at + options.dims()]),
                _ => p.from_unit(u[at]),
            };
            at += p.dims();
            out.insert(name.clone(), value);
        }
        out
    }
}

impl Serialize for Space {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Space {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Space::from_value(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space(v: Value) -> Result<Space, ValidationError> {
        Space::from_value(v)
    }

    #[test]
    fn grids_too_big_for_memory_or_u64_are_refused_not_panics() {
        // A tiny step counted past u64::MAX and overflowed (a panic in debug builds).
        let e = Param::arange(0.0, 1.0, 1e-300, false).unwrap_err();
        assert_eq!(e.field, "step");
        let e = Param::linspace(0.0, 1.0, 1_000_000_000_000, false).unwrap_err();
        assert_eq!((e.field.as_str(), e.rule.as_str()), ("num", "must be at most 10000000"));
        assert!(Param::geomspace(1.0, 2.0, u64::MAX, false).is_err());
    }

    #[test]
    fn a_big_choice_is_checked_in_linear_time() {
        // Each value was compared with every one before it: a million took minutes.
        let started = std::time::Instant::now();
        let grid = Param::linspace(0.0, 1.0, 1_000_000, false).unwrap();
        grid.validate("x").unwrap();
        let values: Vec<Value> = (0..1_000_000).map(|i| json!(format!("v{i}"))).collect();
        Param::choice(values).unwrap();
        assert!(started.elapsed().as_secs_f64() < 20.0, "{:?}", started.elapsed());
        // What `same` says is one value still is: 1 and 1.0, 0 and -0.0.
        let e = Param::choice(vec![json!(1), json!("1"), json!(1.0)]).unwrap_err();
        assert_eq!((e.field.as_str(), e.value.as_str()), ("values[2]", "1.0"));
        assert!(Param::choice(vec![json!(0.0), json!(-0.0)]).is_err());
        assert!(Param::choice(vec![json!(true), json!("true"), json!(1)]).is_ok());
    }

    #[test]
    fn invalid_spaces_name_field_value_and_rule() {
        let cases = [
            (json!({}), "space", "at least one parameter"),
            (json!({"lr": {"type": "uniform", "low": 1.0, "high": 0.5}}), "lr.high", "at least low"),
            (
                json!({"lr": {"type": "uniform", "low": 0.0, "high": 1.0, "log": true}}),
                "lr.low",
                "positive on a log scale",
            ),
            (json!({"lr": {"type": "uniform", "low": 0.0, "high": 1.0, "q": 0.0}}), "lr.q", "positive"),
            (json!({"n": {"type": "int", "low": 5, "high": 2}}), "n.high", "at least low"),
            (json!({"n": {"type": "int", "low": 0, "high": 9, "log": true}}), "n.low", "at least 1"),
            (json!({"n": {"type": "int", "low": 1, "high": 9, "step": 0}}), "n.step", "positive integer"),
            (json!({"opt": {"type": "choice", "values": []}}), "opt.values", "at least one"),
            (json!({"opt": {"type": "choice", "values": ["a", "a"]}}), "opt.values[1]", "twice"),
            (json!({"opt": {"type": "choice", "values": [2, 1, 1.0]}}), "opt.values[2]", "cannot be told apart"),
            (json!({"g": {"type": "tied", "values": [{"a": 1}, {"a": 1.0}]}}), "g.values[1]", "twice"),
            (json!({"opt": {"type": "choice", "values": [[1]]}}), "opt.values[0]", "string, a number"),
            (json!({"g": {"type": "tied", "values": [{"a": 1}, {"b": 2}]}}), "g.values[1]", "same keys"),
            (json!({"g": {"type": "tied", "values": []}}), "g.values", "at least one group"),
            (json!({"x": {"type": "normal"}}), "x", "mu"),
            (json!({"x": {"type": "gamma"}}), "x.type", ""),
            (json!({"x": {"type": "normal", "mu": 0, "sigma": 0}}), "x.sigma", "positive"),
            (json!({"x": {"type": "normal", "mu": 0, "sigma": 1, "q": -1}}), "x.q", "positive"),
            (json!({"x": {"type": "normal", "mu": 600, "sigma": 20, "log": true}}), "x.sigma", "largest number"),
            (json!({"x": {"type": "uniform", "low": 0}}), "x", "high"),
        ];
        for (spec, field, rule) in cases {
            let err = space(spec.clone()).unwrap_err();
            assert!(err.field.starts_with(field), "{spec}: {err:?}");
            assert!(err.rule.contains(rule) || err.to_string().contains(rule), "{spec}: {err:?}");
        }
    }

    #[test]
    fn grid_constructors_follow_numpy_and_batch_ai() {
        let lin = Param::linspace(0.0, 1.0, 5, false).unwrap();
        assert_eq!(lin, Param::Choice { values: vec![json!(0.0), json!(0.25), json!(0.5), json!(0.75), json!(1.0)] });
        let ar = Param::arange(1.0, 2.0, 0.5, false).unwrap();
        assert_eq!(ar, Param::Choice { values: vec![json!(1.0), json!(1.5), json!(2.0)] });
        let geo = Param::geomspace(1e-4, 1e-1, 4, false).unwrap();
        let Param::Choice { values } = geo else { panic!() };
        let got: Vec<f64> = values.iter().map(|v| v.as_f64().unwrap()).collect();
        for (g, want) in got.iter().zip([1e-4, 1e-3, 1e-2, 1e-1]) {
            assert!((g / want - 1.0).abs() < 1e-12, "{got:?}");
        }
        let ints = Param::linspace(1.0, 3.0, 5, true).unwrap();
        assert_eq!(ints, Param::Choice { values: vec![json!(1), json!(2), json!(3)] });
        assert_eq!(Param::linspace(0.0, 1.0, 1, false).unwrap_err().field, "num");
        assert_eq!(Param::geomspace(0.0, 1.0, 3, false).unwrap_err().field, "low");
        assert_eq!(Param::arange(0.0, 1.0, -1.0, false).unwrap_err().field, "step");
    }

    #[test]
    fn grid_enumerates_in_cartesian_order() {
        let s = space(json!({
            "a": {"type": "choice", "values": ["x", "y"]},
            "b": {"type": "int", "low": 1, "high": 3},
        }))
        .unwrap();
        assert_eq!(s.grid_size().unwrap(), 6);
        let points: Vec<Value> = (0..6).map(|i| Value::Object(s.grid_point(i))).collect();
        assert_eq!(points[0], json!({"a": "x", "b": 1}));
        assert_eq!(points[2], json!({"a": "x", "b": 3}));
        assert_eq!(points[3], json!({"a": "y", "b": 1}));
        let cont = space(json!({"lr": {"type": "uniform", "low": 0.0, "high": 1.0}})).unwrap();
        let err = cont.grid_size().unwrap_err();
        assert_eq!(err.field, "lr");
        assert!(err.rule.contains("continuous"));
        let q = space(json!({"lr": {"type": "uniform", "low": 0.0, "high": 1.0, "q": 0.25}})).unwrap();
        assert_eq!(q.grid_size().unwrap(), 5);
        assert_eq!(q.grid_point(4)["lr"], json!(1.0));
    }

    #[test]
    fn unit_and_internal_maps_stay_in_range_and_on_the_grid() {
        let p = Param::Int { low: 1, high: 8, step: 1, log: true };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let v = p.from_unit(i as f64 / 1000.0);
            let n = v.as_i64().unwrap();
            assert!((1..=8).contains(&n));
            seen.insert(n);
            assert_eq!(p.from_internal(p.to_internal(&v).unwrap()), v);
        }
        assert_eq!(seen.len(), 8, "every integer is reachable, ends included");
        let q = Param::Uniform { low: 0.0, high: 1.0, log: false, q: Some(0.3) };
        for i in 0..100 {
            let v = q.from_unit(i as f64 / 100.0).as_f64().unwrap();
            assert!([0.0, 0.3, 0.6, 0.9].iter().any(|g| (g - v).abs() < 1e-12), "{v}");
        }
        let lu = Param::Uniform { low: 1e-5, high: 1e-1, log: true, q: None };
        let mid = lu.from_unit(0.5).as_f64().unwrap();
        assert!((mid / 1e-3 - 1.0).abs() < 1e-9, "log-uniform midpoint is the geometric mean");
        assert_eq!(lu.to_internal(&json!(1.0)), None, "outside the range");
        let c = Param::Choice { values: vec![json!(1), json!("a")] };
        assert_eq!(c.to_internal(&json!(1.0)), Some(0.0), "3 and 3.0 are the same number");
        assert_eq!(c.to_internal(&json!("b")), None);
    }

    #[test]
    fn fixed_values_are_one_option() {
        let s = space(json!({
            "n": {"type": "int", "low": 3, "high": 3},
            "lr": {"type": "uniform", "low": 0.1, "high": 0.1, "log": true},
            "c": {"type": "choice", "values": ["only"]},
        }))
        .unwrap();
        assert_eq!(s.grid_size().unwrap(), 1);
        let want = json!({"n": 3, "lr": 0.1, "c": "only"});
        for u in [0.0, 0.5, 0.999] {
            assert_eq!(Value::Object(s.from_unit(&[u, u, u])), want);
        }
        assert_eq!(Value::Object(s.grid_point(0)), want);
        assert_eq!(s.to_internal(want.as_object().unwrap()), Some(vec![0.0, 0.0, 0.0]));
        assert_eq!(s.to_internal(json!({"n": 4, "lr": 0.1, "c": "only"}).as_object().unwrap()), None);
    }

    #[test]
    fn normals_follow_azure_ml() {
        let n = Param::Normal { mu: 1.0, sigma: 2.0, log: false, q: None };
        // from_unit is the quantile: the median is mu, the 84th percentile mu + sigma.
        assert!((n.from_unit(0.5).as_f64().unwrap() - 1.0).abs() < 1e-9);
        assert!((n.from_unit(0.841_344_746_068_542_9).as_f64().unwrap() - 3.0).abs() < 1e-6);
        assert!((n.to_internal(&json!(3.0)).unwrap() - 0.841_344_746_068_542_9).abs() < 1e-9);
        assert!(n.grid_size().is_none());
        let ln = Param::Normal { mu: 0.0, sigma: 1.0, log: true, q: None };
        assert!((ln.from_unit(0.5).as_f64().unwrap() - 1.0).abs() < 1e-9, "exp(normal(0, 1)) has median 1");
        assert_eq!(ln.to_internal(&json!(-1.0)), None, "a lognormal is positive");
        let qln = Param::Normal { mu: 0.0, sigma: 1.0, log: true, q: Some(2.0) };
        for u in [0.01, 0.3, 0.5, 0.9, 0.999] {
            let v = qln.from_unit(u).as_f64().unwrap();
            assert_eq!(v % 2.0, 0.0, "round(exp(normal) / q) * q: {v}");
            assert_eq!(qln.from_internal(qln.to_internal(&json!(v)).unwrap()), json!(v), "{v}");
        }
        let qn = Param::Normal { mu: 10.0, sigma: 3.0, log: false, q: Some(0.5) };
        assert_eq!(qn.key(&json!(10.5)), Some(21));
        assert_eq!(qn.describe(), "qnormal(10, 3, q=0.5)");
        let s = space(json!({"x": {"type": "normal", "mu": 0, "sigma": 1}})).unwrap();
        let err = s.grid_size().unwrap_err();
        assert!(err.field == "x" && err.rule.contains("unbounded"), "{err:?}");
    }

    #[test]
    fn keys_identify_configurations() {
        let s = space(json!({
            "a": {"type": "int", "low": 2, "high": 10, "step": 2},
            "b": {"type": "choice", "values": [1, "x"]},
            "c": {"type": "uniform", "low": 0.0, "high": 1.0},
        }))
        .unwrap();
        let p = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(s.key(&p(json!({"a": 6, "b": 1.0, "c": 0.5}))), s.key(&p(json!({"a": 6.0, "b": 1, "c": 0.5}))));
        assert_ne!(s.key(&p(json!({"a": 6, "b": 1, "c": 0.5}))), s.key(&p(json!({"a": 6, "b": 1, "c": 0.25}))));
        assert_eq!(s.key(&p(json!({"a": 6, "b": "y", "c": 0.5}))), None);
        let g = space(
            json!({"a": {"type": "int", "low": 2, "high": 10, "step": 2}, "b": {"type": "choice", "values": [1, "x"]}}),
        )
        .unwrap();
        for i in 0..g.grid_size().unwrap() {
            assert_eq!(g.grid_index(&g.grid_point(i)), Some(i));
        }
    }

    #[test]
    fn spaces_round_trip_through_json_in_order() {
        let s = space(json!({
            "z": {"type": "uniform", "low": 0.0, "high": 1.0},
            "a": {"type": "tied", "values": [{"lr": 0.1, "bs": 32}, {"lr": 0.01, "bs": 64}]},
        }))
        .unwrap();
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.starts_with("{\"z\""), "{text}");
        let back: Space = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
