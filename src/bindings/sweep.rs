//! `batchai.sweep`'s native half: spaces, samplers, policies and the ask/tell search.
//!
//! Settings cross as dicts in the engine's serde shapes and trials and decisions as the classes
//! of `sweep_types`; the Python layer (`batchai/sweep/`) keeps frozen dataclasses whose fields
//! are those dicts' keys and whose defaults come from `sweep_defaults`, so each default is
//! written once, in the engine. Validation errors become `batchai.ValidationError` with field,
//! value and rule. `SweepSearch` keeps the history on the Rust side so that `ask` after
//! thousands of trials costs no conversion.

use std::sync::Mutex;

use pyo3::prelude::*;
use serde_json::{Map, Value, json};

use super::sweep_types::{
    PyDecision, PyTrial, direction, document, mode, number, optional_number, refuse_string_options, space, state,
    to_py, trial_id, trials, typed, whole,
};
use crate::engine::error::{Error, ValidationError};
use crate::engine::sweep::conditional::parse_param;
use crate::engine::sweep::files::files_param;
use crate::engine::sweep::{Param, Policy, Sampler, Search, Space, Trial};

/// The values a kind of sampler, policy or numeric parameter (`"tpe"`, `"bandit"`, `"int"`, ...)
/// takes for the fields left out: what serde fills in, that is the engine's `Default`s.
#[pyfunction]
pub fn sweep_defaults<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyAny>> {
    let spec = json!({ "type": kind });
    let range = json!({ "type": kind, "low": 1, "high": 2 });
    let normal = json!({ "type": kind, "mu": 0, "sigma": 1 });
    let filled = None
        .or_else(|| serde_json::from_value::<Sampler>(spec.clone()).ok().map(|s| serde_json::to_value(s).ok()))
        .or_else(|| serde_json::from_value::<Policy>(spec).ok().map(|p| serde_json::to_value(p).ok()))
        .or_else(|| serde_json::from_value::<Param>(range).ok().map(|p| serde_json::to_value(p).ok()))
        .or_else(|| serde_json::from_value::<Param>(normal).ok().map(|p| serde_json::to_value(p).ok()));
    let Some(Some(Value::Object(mut fields))) = filled else {
        let rule = "must name a sampler, a policy or a numeric parameter (tpe, random, sobol, grid, bandit, median_stopping, truncation_selection, asha, hyperband, uniform, int, normal)";
        return Err(Error::from(ValidationError::new("kind", format!("{kind:?}"), rule)).into());
    };
    for given in ["type", "low", "high", "mu", "sigma"] {
        fields.remove(given);
    }
    to_py(py, &fields)
}

/// Validate one parameter's settings and return them normalized.
#[pyfunction]
pub fn sweep_param<'py>(settings: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    refuse_string_options(settings)?;
    let kind = settings.get_item("type").ok().and_then(|t| t.extract::<String>().ok());
    let param: Param = match kind.as_deref() {
        // Parsed leaf by leaf, so that an error names its path (`adam.lr.type`).
        Some("conditional") => parse_param(document(settings)?).map_err(Error::from)?,
        _ => typed(settings)?,
    };
    param.validate("").map_err(Error::from)?;
    to_py(settings.py(), &param)
}

/// `linspace`, `arange` or `geomspace` as a choice of numbers.
#[pyfunction]
#[pyo3(signature = (kind, low, high, num=None, step=None, integer=false))]
pub fn sweep_grid_param<'py>(
    py: Python<'py>,
    kind: &str,
    low: &Bound<'py, PyAny>,
    high: &Bound<'py, PyAny>,
    num: Option<&Bound<'py, PyAny>>,
    step: Option<&Bound<'py, PyAny>>,
    integer: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (low, high) = (number("low", low)?, number("high", high)?);
    let num = num.map(|n| whole("num", n)).transpose()?;
    let step = optional_number("step", step)?;
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
    to_py(py, &param)
}

/// The `files` parameter: lists `folder` now (the only I/O of the sweep engine).
#[pyfunction]
pub fn sweep_files_param(py: Python<'_>, folder: String, pattern: String) -> PyResult<Bound<'_, PyAny>> {
    let param = py.detach(|| files_param(&folder, &pattern))?;
    to_py(py, &param)
}

/// Validate a space (`{name: settings}`).
#[pyfunction]
pub fn sweep_space(space: &Bound<'_, PyAny>) -> PyResult<()> {
    self::space(space)?;
    Ok(())
}

/// The number of grid combinations of a space.
#[pyfunction]
pub fn sweep_grid_size(space: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(self::space(space)?.grid_size().map_err(Error::from)?)
}

/// Grid combination `index` (Cartesian order, first parameter slowest).
#[pyfunction]
pub fn sweep_grid_point<'py>(space: &Bound<'py, PyAny>, index: u64) -> PyResult<Bound<'py, PyAny>> {
    let py = space.py();
    let space = self::space(space)?;
    let size = space.grid_size().map_err(Error::from)?;
    if index >= size {
        let rule = format!("must be below the grid size {size}");
        return Err(Error::from(ValidationError::new("index", index.to_string(), rule)).into());
    }
    to_py(py, &space.grid_point(index))
}

/// Validate a sampler's settings and return them normalized.
#[pyfunction]
pub fn sweep_sampler<'py>(settings: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let sampler: Sampler = typed(settings)?;
    if let Sampler::Tpe(tpe) = &sampler {
        tpe.validate().map_err(Error::from)?;
    }
    to_py(settings.py(), &sampler)
}

fn policy(settings: &Bound<'_, PyAny>) -> PyResult<Policy> {
    let policy = typed::<Policy>(settings)?.normalized();
    policy.validate().map_err(Error::from)?;
    Ok(policy)
}

/// Validate a policy's settings and return them normalized (implied values made explicit).
#[pyfunction]
pub fn sweep_policy<'py>(settings: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    to_py(settings.py(), &policy(settings)?)
}

/// The next parameters after `history`, or `None` when a grid is done.
#[pyfunction]
pub fn sweep_suggest<'py>(
    space: &Bound<'py, PyAny>,
    sampler: &Bound<'py, PyAny>,
    history: Vec<Bound<'py, PyTrial>>,
    mode: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = space.py();
    let (space, sampler): (Space, Sampler) = (self::space(space)?, typed(sampler)?);
    let (history, d) = (trials(&history), direction(mode)?);
    let params = py.detach(|| sampler.suggest(&space, &history, d)).map_err(Error::from)?;
    params.map(|p| to_py(py, &p)).transpose()
}

/// A policy's decision for `trial` at its latest report.
#[pyfunction]
pub fn sweep_decide(
    settings: &Bound<'_, PyAny>,
    history: Vec<Bound<'_, PyTrial>>,
    trial: &Bound<'_, PyAny>,
    mode: &str,
    metric: &str,
) -> PyResult<PyDecision> {
    let policy = policy(settings)?;
    let decision = policy.decide(&trials(&history), trial_id(trial)?, direction(mode)?, metric)?;
    Ok(decision.into())
}

#[pyclass(frozen, module = "batchai._core")]
pub struct SweepSearch {
    inner: Mutex<Search>,
    /// The Python `Trial` made for each trial last time `trials()` ran: reused while the trial
    /// is unchanged, so listing thousands of trials does not copy them all again.
    shown: Mutex<Vec<Py<PyTrial>>>,
}

/// Whether a `Trial` shown earlier still shows `trial`. Parameters never change after a trial
/// is made and reports are only appended, so the id, state, value and report count decide.
fn unchanged(shown: &Trial, trial: &Trial) -> bool {
    shown.id == trial.id
        && shown.state == trial.state
        && shown.value.map(f64::to_bits) == trial.value.map(f64::to_bits)
        && shown.intermediate.len() == trial.intermediate.len()
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
    fn new(
        space: &Bound<'_, PyAny>,
        sampler: &Bound<'_, PyAny>,
        policy: Option<&Bound<'_, PyAny>>,
        mode: &str,
        metric: &str,
    ) -> PyResult<Self> {
        let policy = policy.map(self::policy).transpose()?;
        let search =
            Search::new(self::space(space)?, typed(sampler)?, policy, direction(mode)?, metric).map_err(Error::from)?;
        Ok(SweepSearch { inner: Mutex::new(search), shown: Mutex::default() })
    }

    /// A search saved with `to_json`.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        let search: Search = crate::engine::model::parse::from_text(json).map_err(Error::from)?;
        search.validate().map_err(Error::from)?;
        Ok(SweepSearch { inner: Mutex::new(search), shown: Mutex::default() })
    }

    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| Ok(serde_json::to_string(&*s).unwrap_or_else(|_| "null".to_string())))
    }

    /// Space, sampler, policy, mode and metric (not the trials), as settings dicts.
    fn settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (space, sampler, policy, direction, metric) = self
            .with(py, |s| Ok((s.space.clone(), s.sampler.clone(), s.policy.clone(), s.direction, s.metric.clone())))?;
        to_py(
            py,
            &json!({"space": space, "sampler": sampler, "policy": policy, "mode": mode(direction), "metric": metric}),
        )
    }

    /// The next trial, recorded as running; `ConflictError` once a grid or a discrete space is
    /// exhausted.
    fn ask(&self, py: Python<'_>) -> PyResult<PyTrial> {
        self.with(py, |s| match s.ask()? {
            Some(trial) => Ok(PyTrial(trial)),
            None => {
                let n = s.sampler.capacity(&s.space).unwrap_or(0);
                Err(Error::Conflict(match s.sampler {
                    Sampler::Grid { .. } => format!(
                        "the grid search has suggested all {n} combinations (each is done, running or failed with no retry left)"
                    ),
                    _ => format!(
                        "every one of the space's {n} configurations has been suggested (each is done, running or failed): the space is exhausted"
                    ),
                }))
            }
        })
    }

    #[pyo3(signature = (trial, value=None, state="completed"))]
    fn tell(
        &self,
        py: Python<'_>,
        trial: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        state: &str,
    ) -> PyResult<PyTrial> {
        let (id, value, state) = (trial_id(trial)?, optional_number("value", value)?, self::state(state, true)?);
        self.with(py, |s| Ok(PyTrial(s.tell(id, value, state)?)))
    }

    /// Record a value at `step`; returns the policy's decision.
    fn report(
        &self,
        py: Python<'_>,
        trial: &Bound<'_, PyAny>,
        step: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<PyDecision> {
        let (id, step, value) = (trial_id(trial)?, whole("step", step)?, number("value", value)?);
        self.with(py, |s| Ok(s.report(id, step, value)?.into()))
    }

    /// Add a trial evaluated elsewhere.
    #[pyo3(signature = (params, value=None, state="completed"))]
    fn add(
        &self,
        py: Python<'_>,
        params: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        state: &str,
    ) -> PyResult<PyTrial> {
        let params: Map<String, Value> = typed(params)?;
        let (value, state) = (optional_number("value", value)?, self::state(state, true)?);
        self.with(py, |s| Ok(PyTrial(s.add(params, value, state)?)))
    }

    fn best(&self, py: Python<'_>) -> PyResult<Option<PyTrial>> {
        self.with(py, |s| Ok(s.best().cloned().map(PyTrial)))
    }

    fn trial(&self, py: Python<'_>, trial: &Bound<'_, PyAny>) -> PyResult<PyTrial> {
        let id = trial_id(trial)?;
        self.with(py, |s| Ok(PyTrial(s.trial(id)?.clone())))
    }

    fn trials(&self, py: Python<'_>) -> PyResult<Vec<Py<PyTrial>>> {
        // Locked with the GIL held: every other holder of `inner` runs detached and never waits
        // for the GIL, so this cannot deadlock.
        let search = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut shown = self.shown.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        shown.truncate(search.trials.len());
        for (i, trial) in search.trials.iter().enumerate() {
            if shown.get(i).is_some_and(|s| unchanged(&s.get().0, trial)) {
                continue;
            }
            let made = Py::new(py, PyTrial(trial.clone()))?;
            match shown.get_mut(i) {
                Some(slot) => *slot = made,
                None => shown.push(made),
            }
        }
        Ok(shown.iter().map(|t| t.clone_ref(py)).collect())
    }

    /// How many trials the sampler can suggest in all (`None`: unlimited).
    fn capacity(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with(py, |s| Ok(s.sampler.capacity(&s.space)))
    }

    /// How many more trials `ask` can suggest (`None`: unlimited).
    fn remaining(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with(py, |s| Ok(s.remaining()))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |s| Ok(s.trials.len()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SweepSearch>()?;
    m.add_class::<PyTrial>()?;
    m.add_class::<PyDecision>()?;
    m.add_function(wrap_pyfunction!(sweep_defaults, m)?)?;
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
