//! The sweep values that cross the boundary: settings, trials, decisions and numbers.
//!
//! Theory of operation: settings (parameters, samplers, policies, spaces) are plain Python dicts
//! in the engine's serde shape (`{"type": "tpe", "gamma": 0.15, ...}`), read straight into the
//! engine's types by `pythonize` and written back the same way, so no JSON text and no
//! hand-written conversion exists on either side; serde errors become `ValidationError`s naming
//! the field. Trials and decisions are Python classes wrapping the engine's structs
//! (`batchai.sweep.Trial`, `batchai.sweep.Decision`): a history passes to a sampler or a policy
//! without conversion. Values straight from numpy or torch work: a trial's value is anything
//! Python can turn into a float, and settings and parameters take scalars whose `item()` is a
//! plain number.

use std::collections::BTreeMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pythonize::{Depythonizer, depythonize, pythonize};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::engine::error::{Error, ValidationError};
use crate::engine::model::parse;
use crate::engine::sweep::{Decision, Direction, Report, Space, Trial, TrialState};

/// Read a Python value (dicts, lists, numbers, strings) into an engine type.
pub fn typed<T: DeserializeOwned>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
    let obj = &plain(obj, "")?;
    serde_path_to_error::deserialize(&mut Depythonizer::from_object(obj)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { locate::<T>(obj).unwrap_or_default() } else { path };
        // The value shown in the message: NaN and infinities show as null, which is only display.
        let document: Value = depythonize(obj).unwrap_or(Value::Null);
        Error::from(parse::describe(&path, &e.into_inner().to_string(), &document)).into()
    })
}

fn is_plain(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_none()
        || obj.is_instance_of::<PyBool>()
        || obj.is_instance_of::<PyInt>()
        || obj.is_instance_of::<PyFloat>()
        || obj.is_instance_of::<PyString>()
}

/// `obj` with numpy and torch scalars (anything whose `item()` gives a plain value) replaced by
/// that value, in dicts, lists, tuples and arrays too: serde reads only plain Python values.
/// An int beyond 64 bits is refused here, at its `path`, where serde would name no rule.
fn plain<'py>(obj: &Bound<'py, PyAny>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        if obj.extract::<i64>().is_err() && obj.extract::<u64>().is_err() {
            let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
            let field = if path.is_empty() { "value" } else { path };
            let rule = "must fit in 64 bits (a whole number from -9223372036854775808 to 18446744073709551615)";
            return Err(Error::from(ValidationError::new(field, shown, rule)).into());
        }
        return Ok(obj.clone());
    }
    if is_plain(obj) {
        return Ok(obj.clone());
    }
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    if let Ok(dict) = obj.cast::<PyDict>() {
        let out = PyDict::new(obj.py());
        for (key, value) in dict.iter() {
            let name = key.str().map(|k| k.to_string()).unwrap_or_default();
            out.set_item(key, plain(&value, &at(&name))?)?;
        }
        return Ok(out.into_any());
    }
    match obj.call_method0("item") {
        Ok(scalar) if is_plain(&scalar) => return Ok(scalar),
        _ => {}
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() || obj.hasattr("__array__")? {
        let items: PyResult<Vec<_>> =
            obj.try_iter()?.enumerate().map(|(i, item)| plain(&item?, &format!("{path}[{i}]"))).collect();
        return Ok(PyList::new(obj.py(), items?)?.into_any());
    }
    Ok(obj.clone())
}

/// The field of tagged settings (`{"type": ..., field: value}`) that fails alone. serde reads a
/// tagged enum through a buffer and loses the path, so the error would name no field.
fn locate<T: DeserializeOwned>(obj: &Bound<'_, PyAny>) -> Option<String> {
    let settings = obj.cast::<PyDict>().ok()?;
    let tag = settings.get_item("type").ok()??;
    settings.iter().find_map(|(key, value)| {
        let one = PyDict::new(obj.py());
        one.set_item("type", &tag).ok()?;
        one.set_item(&key, value).ok()?;
        match T::deserialize(&mut Depythonizer::from_object(&one)) {
            Err(e) if !e.to_string().starts_with("missing field") => Some(key.to_string()),
            _ => None,
        }
    })
}

/// A space (`{name: settings}`), read as a document first so that errors name the parameter.
pub fn space(obj: &Bound<'_, PyAny>) -> PyResult<Space> {
    let obj = &plain(obj, "")?;
    let document: Value = depythonize(obj)
        .map_err(|e| {
            let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
            ValidationError::new("space", shown, format!("must be a dict of names to parameter settings ({e})"))
        })
        .map_err(Error::from)?;
    Ok(Space::from_value(document).map_err(Error::from)?)
}

/// `obj` (numpy scalars made plain) as JSON, for parsers that name paths themselves.
pub fn document(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let obj = &plain(obj, "")?;
    Ok(depythonize(obj).map_err(|e| {
        let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
        Error::from(ValidationError::new("(settings)", shown, format!("must be a dict of settings ({e})")))
    })?)
}

/// An engine value as Python dicts, lists and numbers.
pub fn to_py<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    Ok(pythonize(py, value)?)
}

/// A float from an `int`, a `float` or anything with `__float__` or `__index__` (numpy.float32).
pub fn number(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBool>() {
        return Err(not_a_number(field, obj));
    }
    obj.extract::<f64>().map_err(|_| not_a_number(field, obj))
}

fn not_a_number(field: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
    let rule = format!("must be a number: an int, a float or anything with __float__ (numpy.float32), not {kind}");
    Error::from(ValidationError::new(field, shown, rule)).into()
}

/// A whole number, 0 or more, from an `int` or anything with `__index__` (numpy.int64); a
/// negative or too large one is a `ValidationError`, not Python's `OverflowError`.
pub fn whole(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let shown = || obj.repr().map(|r| r.to_string()).unwrap_or_default();
    if obj.is_instance_of::<PyBool>() {
        return Err(Error::from(ValidationError::new(field, shown(), "must be a whole number, not a boolean")).into());
    }
    let index = obj.call_method0("__index__").map_err(|_| {
        let kind = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        let rule = format!("must be a whole number (an int or numpy.int64), not {kind}");
        PyErr::from(Error::from(ValidationError::new(field, shown(), rule)))
    })?;
    index.extract::<u64>().map_err(|_| {
        let rule = format!("must be a whole number from 0 to {}", u64::MAX);
        Error::from(ValidationError::new(field, shown(), rule)).into()
    })
}

pub fn optional_number(field: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    obj.map(|o| number(field, o)).transpose()
}

/// A trial's id from a `Trial` or an int.
pub fn trial_id(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(trial) = obj.cast::<PyTrial>() {
        return Ok(trial.get().0.id);
    }
    obj.extract::<u64>().map_err(|_| {
        let shown = obj.repr().map(|r| r.to_string()).unwrap_or_default();
        Error::from(ValidationError::new("trial", shown, "must be a Trial or a trial id (a whole number, 0 or more)"))
            .into()
    })
}

pub fn trials(history: &[Bound<'_, PyTrial>]) -> Vec<Trial> {
    history.iter().map(|t| t.get().0.clone()).collect()
}

pub fn direction(mode: &str) -> Result<Direction, Error> {
    Direction::parse(mode)
        .ok_or_else(|| ValidationError::new("mode", format!("{mode:?}"), "must be \"min\" or \"max\"").into())
}

pub fn mode(direction: Direction) -> &'static str {
    match direction {
        Direction::Minimize => "min",
        Direction::Maximize => "max",
    }
}

/// A trial state by name; `finished` refuses "running" (what `tell` and `add` record).
pub fn state(name: &str, finished: bool) -> Result<TrialState, Error> {
    match serde_json::from_value::<TrialState>(Value::String(name.to_string())) {
        Ok(state) if !(finished && state == TrialState::Running) => Ok(state),
        _ if finished => {
            Err(ValidationError::new("state", format!("{name:?}"), "must be \"completed\", \"failed\" or \"stopped\"")
                .into())
        }
        _ => Err(ValidationError::new(
            "state",
            format!("{name:?}"),
            "must be \"running\", \"completed\", \"failed\" or \"stopped\"",
        )
        .into()),
    }
}

/// A string given where a list of options belongs would be read as its characters.
pub fn refuse_string_options(settings: &Bound<'_, PyAny>) -> Result<(), Error> {
    let Ok(values) = settings.get_item("values") else { return Ok(()) };
    let Ok(text) = values.cast::<PyString>() else { return Ok(()) };
    let text = text.to_string();
    let rule = format!("must be a list of options, not a string (a string is one option: write [{text:?}])");
    Err(ValidationError::new("values", format!("{text:?}"), rule).into())
}

/// One configuration of a sweep. `params` maps each parameter to its value (a tied group's value
/// is a dict); `intermediate` maps step to the value reported there.
#[pyclass(frozen, eq, module = "batchai.sweep", name = "Trial")]
#[derive(Clone, PartialEq)]
pub struct PyTrial(pub Trial);

#[pymethods]
impl PyTrial {
    #[new]
    #[pyo3(signature = (id, params, state = "running", value = None, intermediate = None))]
    fn new(
        id: u64,
        params: &Bound<'_, PyAny>,
        state: &str,
        value: Option<&Bound<'_, PyAny>>,
        intermediate: Option<BTreeMap<u64, f64>>,
    ) -> PyResult<Self> {
        let mut trial = Trial::new(id, typed::<Map<String, Value>>(params)?);
        trial.state = self::state(state, false)?;
        trial.value = optional_number("value", value)?;
        trial.intermediate =
            intermediate.unwrap_or_default().into_iter().map(|(step, value)| Report { step, value }).collect();
        Ok(PyTrial(trial))
    }

    #[getter]
    fn id(&self) -> u64 {
        self.0.id
    }

    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.0.params)
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.0.state.as_str()
    }

    #[getter]
    fn value(&self) -> Option<f64> {
        self.0.value
    }

    #[getter]
    fn intermediate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for r in &self.0.intermediate {
            out.set_item(r.step, r.value)?;
        }
        Ok(out)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Trial(id={}, params={}, state='{}', value={}, intermediate={})",
            self.0.id,
            self.params(py)?.repr()?,
            self.state(),
            self.0.value.into_pyobject(py)?.repr()?,
            self.intermediate(py)?.repr()?
        ))
    }

    /// Pickling and copying rebuild the trial from its fields.
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (u64, Bound<'py, PyAny>, &'static str, Option<f64>, Bound<'py, PyDict>))> {
        let (py, this) = (slf.py(), slf.get());
        Ok((slf.get_type(), (this.0.id, this.params(py)?, this.state(), this.0.value, this.intermediate(py)?)))
    }
}

/// An early-termination policy's verdict on one trial, with the reason to record and show.
#[pyclass(frozen, eq, get_all, module = "batchai.sweep", name = "Decision")]
#[derive(Clone, PartialEq)]
pub struct PyDecision {
    trial: u64,
    stop: bool,
    reason: String,
}

#[pymethods]
impl PyDecision {
    #[new]
    fn new(trial: u64, stop: bool, reason: String) -> Self {
        PyDecision { trial, stop, reason }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let stop = if self.stop { "True" } else { "False" };
        Ok(format!("Decision(trial={}, stop={stop}, reason={})", self.trial, PyString::new(py, &self.reason).repr()?))
    }
}

impl From<Decision> for PyDecision {
    fn from(d: Decision) -> Self {
        PyDecision { trial: d.trial, stop: d.stop, reason: d.reason }
    }
}
