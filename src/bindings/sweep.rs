//! `batchai.sweep`'s native half: spaces, samplers, policies and the ask/tell search.
//!
//! Everything crosses as JSON text in the engine's serde shapes (see `engine::sweep`); the Python
//! layer (`batchai/sweep/`) wraps it in dataclasses. Validation errors become
//! `batchai.ValidationError` with field, value and rule. `SweepSearch` keeps the history on the
//! Rust side so that `ask` after thousands of trials costs no conversion.

use std::sync::Mutex;

use pyo3::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engine::error::{Error, ValidationError};
use crate::engine::model::parse;
use crate::engine::sweep::files::files_param;
use crate::engine::sweep::{Direction, Param, Policy, Sampler, Search, Space, Trial, TrialState};

fn text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

fn typed<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    Ok(parse::from_text::<T>(json)?)
}

fn trials(json: &str) -> Result<Vec<Trial>, Error> {
    let value = parse::parse_text(json)?;
    let wrapped = serde_json::json!({ "trials": value });
    #[derive(serde::Deserialize)]
    struct Wrapper {
        trials: Vec<Trial>,
    }
    Ok(parse::from_value::<Wrapper>(wrapped)?.trials)
}

fn direction(mode: &str) -> Result<Direction, Error> {
    Direction::parse(mode)
        .ok_or_else(|| ValidationError::new("mode", format!("{mode:?}"), "must be \"min\" or \"max\"").into())
}

fn state(name: &str) -> Result<TrialState, Error> {
    match name {
        "completed" => Ok(TrialState::Completed),
        "failed" => Ok(TrialState::Failed),
        "stopped" => Ok(TrialState::Stopped),
        other => {
            Err(ValidationError::new("state", format!("{other:?}"), "must be \"completed\", \"failed\" or \"stopped\"")
                .into())
        }
    }
}

/// Validate one parameter's JSON and return it normalized (defaults filled in).
#[pyfunction]
pub fn sweep_param(json: &str) -> PyResult<String> {
    let param: Param = typed(json)?;
    param.validate("").map_err(Error::from)?;
    Ok(text(&param))
}

/// `linspace`, `arange` or `geomspace` as a choice of numbers.
#[pyfunction]
#[pyo3(signature = (kind, low, high, num=None, step=None, integer=false))]
pub fn sweep_grid_param(
    kind: &str,
    low: f64,
    high: f64,
    num: Option<u64>,
    step: Option<f64>,
    integer: bool,
) -> PyResult<String> {
    let param = match (kind, num, step) {
        ("linspace", Some(num), None) => Param::linspace(low, high, num, integer),
        ("geomspace", Some(num), None) => Param::geomspace(low, high, num, integer),
        ("arange", None, Some(step)) => Param::arange(low, high, step, integer),
        _ => Err(ValidationError::new(
            "kind",
            format!("{kind:?}"),
            "must be linspace or geomspace with num, or arange with step",
        )),
    }
    .map_err(Error::from)?;
    Ok(text(&param))
}

/// The `files` parameter: lists `folder` now (the only I/O of the sweep engine).
#[pyfunction]
pub fn sweep_files_param(py: Python<'_>, folder: String, pattern: String) -> PyResult<String> {
    let param = py.detach(|| files_param(&folder, &pattern))?;
    Ok(text(&param))
}

/// Validate a space (`{name: param}`) and return it normalized.
#[pyfunction]
pub fn sweep_space(json: &str) -> PyResult<String> {
    Ok(text(&Space::from_json(json).map_err(Error::from)?))
}

/// The number of grid combinations of a space.
#[pyfunction]
pub fn sweep_grid_size(space_json: &str) -> PyResult<u64> {
    Ok(Space::from_json(space_json).and_then(|s| s.grid_size()).map_err(Error::from)?)
}

/// Grid combination `index` (Cartesian order, first parameter slowest).
#[pyfunction]
pub fn sweep_grid_point(space_json: &str, index: u64) -> PyResult<String> {
    let space = Space::from_json(space_json).map_err(Error::from)?;
    let size = space.grid_size().map_err(Error::from)?;
    if index >= size {
        return Err(Error::from(ValidationError::new(
            "index",
            index.to_string(),
            format!("must be below the grid size {size}"),
        ))
        .into());
    }
    Ok(text(&space.grid_point(index)))
}

/// Validate a sampler's settings and return them normalized.
#[pyfunction]
pub fn sweep_sampler(json: &str) -> PyResult<String> {
    let sampler: Sampler = typed(json)?;
    if let Sampler::Tpe(tpe) = &sampler {
        tpe.validate().map_err(Error::from)?;
    }
    Ok(text(&sampler))
}

/// Validate a policy's settings and return them normalized.
#[pyfunction]
pub fn sweep_policy(json: &str) -> PyResult<String> {
    let policy: Policy = typed(json)?;
    policy.validate().map_err(Error::from)?;
    Ok(text(&policy))
}

/// The next parameters for `trials_json` (a JSON list of trials), or `None` when a grid is done.
#[pyfunction]
pub fn sweep_suggest(
    py: Python<'_>,
    space_json: &str,
    sampler_json: &str,
    trials_json: &str,
    mode: &str,
) -> PyResult<Option<String>> {
    let space = Space::from_json(space_json).map_err(Error::from)?;
    let sampler: Sampler = typed(sampler_json)?;
    let history = trials(trials_json)?;
    let d = direction(mode)?;
    let params = py.detach(|| sampler.suggest(&space, &history, d)).map_err(Error::from)?;
    Ok(params.map(|p| text(&p)))
}

/// A policy's decision for trial `trial` at its latest report.
#[pyfunction]
pub fn sweep_decide(policy_json: &str, trials_json: &str, trial: u64, mode: &str, metric: &str) -> PyResult<String> {
    let policy: Policy = typed(policy_json)?;
    let history = trials(trials_json)?;
    Ok(text(&policy.decide(&history, trial, direction(mode)?, metric)?))
}

#[pyclass(frozen, module = "batchai._core")]
pub struct SweepSearch {
    inner: Mutex<Search>,
}

impl SweepSearch {
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Search) -> Result<T, Error> + Send) -> PyResult<T> {
        Ok(py.detach(|| {
            let mut search = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut search)
        })?)
    }
}

#[pymethods]
impl SweepSearch {
    #[new]
    #[pyo3(signature = (space_json, sampler_json, policy_json, mode, metric))]
    fn new(
        space_json: &str,
        sampler_json: &str,
        policy_json: Option<&str>,
        mode: &str,
        metric: &str,
    ) -> PyResult<Self> {
        let space = Space::from_json(space_json).map_err(Error::from)?;
        let sampler: Sampler = typed(sampler_json)?;
        let policy: Option<Policy> = policy_json.map(typed).transpose()?;
        let search = Search::new(space, sampler, policy, direction(mode)?, metric).map_err(Error::from)?;
        Ok(SweepSearch { inner: Mutex::new(search) })
    }

    /// A search saved with `to_json`.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        let search: Search = typed(json)?;
        search.validate().map_err(Error::from)?;
        Ok(SweepSearch { inner: Mutex::new(search) })
    }

    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| Ok(text(&*s)))
    }

    /// The next trial as JSON, or `None` when a grid is exhausted.
    fn ask(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |s| Ok(s.ask()?.map(|t| text(&t))))
    }

    #[pyo3(signature = (trial, value, state))]
    fn tell(&self, py: Python<'_>, trial: u64, value: Option<f64>, state: &str) -> PyResult<String> {
        let state = self::state(state)?;
        self.with(py, |s| Ok(text(&s.tell(trial, value, state)?)))
    }

    /// Record a value at `step`; returns the policy's decision as JSON.
    fn report(&self, py: Python<'_>, trial: u64, step: u64, value: f64) -> PyResult<String> {
        self.with(py, |s| Ok(text(&s.report(trial, step, value)?)))
    }

    /// Add a trial evaluated elsewhere.
    #[pyo3(signature = (params_json, value, state))]
    fn add(&self, py: Python<'_>, params_json: &str, value: Option<f64>, state: &str) -> PyResult<String> {
        let state = self::state(state)?;
        let params: serde_json::Map<String, serde_json::Value> = typed(params_json)?;
        self.with(py, |s| Ok(text(&s.add(params, value, state)?)))
    }

    fn best(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with(py, |s| Ok(s.best().map(text)))
    }

    fn trial(&self, py: Python<'_>, trial: u64) -> PyResult<String> {
        self.with(py, |s| Ok(text(s.trial(trial)?)))
    }

    fn trials(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| Ok(text(&s.trials)))
    }

    /// How many trials the sampler can suggest in all (`None`: unlimited).
    fn capacity(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with(py, |s| Ok(s.sampler.capacity(&s.space)))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| Ok(s.trials.len()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SweepSearch>()?;
    m.add_function(wrap_pyfunction!(sweep_param, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_grid_param, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_files_param, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_space, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_grid_size, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_grid_point, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_sampler, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_policy, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_suggest, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_decide, m)?)?;
    Ok(())
}
