//! `read_metrics`: a job's metric points, for `Job.metrics()` and `batchai job metrics`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::engine::Error;
use crate::engine::metrics::{metrics_dir, read_all};

/// The points in the metrics folder of the job whose `stdouterr` output folder is `stdouterr`
/// (its JSONL files and MLflow's file store), oldest first, as `{"name", "step", "value",
/// "time"}` dicts; only those called `name` if given. No folder yet is no points.
#[pyfunction]
#[pyo3(signature = (stdouterr, name = None))]
pub fn read_metrics<'py>(py: Python<'py>, stdouterr: &str, name: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let dir = metrics_dir(std::path::Path::new(stdouterr));
    let read = py.detach(|| read_all(&dir));
    let mut points = read.map_err(|e| Error::file("reading the metrics folder", &dir, e))?;
    if let Some(name) = name {
        points.retain(|p| p.name == name);
    }
    let list = PyList::empty(py);
    for point in points {
        let dict = PyDict::new(py);
        dict.set_item("name", point.name)?;
        dict.set_item("step", point.step)?;
        dict.set_item("value", point.value)?;
        dict.set_item("time", point.time)?;
        list.append(dict)?;
    }
    Ok(list)
}
