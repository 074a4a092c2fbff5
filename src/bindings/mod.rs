//! PyO3 bindings: the private module `batchai._core`.
//!
//! Only type conversion, GIL release and error mapping live here; behaviour is in `engine`. Specs
//! and resources cross the boundary as JSON text in Batch AI's camelCase shape, which the Python
//! layer wraps in typed classes.

mod agent;
mod errors;
mod submitter;
mod sweep;
mod workspace;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<workspace::WorkspaceHandle>()?;
    m.add_function(wrap_pyfunction!(workspace::home, m)?)?;
    m.add_function(wrap_pyfunction!(workspace::named_workspace_path, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_main, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_wake, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_status, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_stop, m)?)?;
    m.add_function(wrap_pyfunction!(agent::wait_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(agent::wait_jobs_async, m)?)?;
    sweep::register(m)?;
    Ok(())
}
