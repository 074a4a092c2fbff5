//! PyO3 bindings: the private module `batchai._core`.
//!
//! Only type conversion, GIL release and error mapping live here; behaviour is in `engine`. Specs
//! and resources cross the boundary as JSON text in Batch AI's camelCase shape, which the Python
//! layer wraps in typed classes. Sweeps cross as typed data instead: settings as dicts read into
//! the engine's serde types, trials and decisions as classes (see `sweep_types`).

mod agent;
mod errors;
mod metrics;
mod submitter;
mod sweep;
mod sweep_types;
mod waits;
mod workspace;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(forward_logging, m)?)?;
    m.add_class::<workspace::WorkspaceHandle>()?;
    m.add_function(wrap_pyfunction!(workspace::home, m)?)?;
    m.add_function(wrap_pyfunction!(workspace::named_workspace_path, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_main, m)?)?;
    m.add_function(wrap_pyfunction!(agent::node_launcher_main, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_start, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_status, m)?)?;
    m.add_function(wrap_pyfunction!(agent::agent_stop, m)?)?;
    m.add_function(wrap_pyfunction!(agent::wait_jobs, m)?)?;
    m.add_function(wrap_pyfunction!(agent::wait_jobs_async, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::read_metrics, m)?)?;
    sweep::register(m)?;
    Ok(())
}

/// The engine logs through `tracing` (for example a change committed while the agent could not be
/// woken): forward warnings and errors to Python's `logging` (logger `batchai...`). Nothing below
/// a warning crosses, so no dependency's chatter costs a call into Python. Called by the Python
/// package when it opens a workspace, not at import: it imports `logging` (~20 ms), which the
/// processes that load this module alone (the agent, Slurm node launchers) never need.
#[pyfunction]
fn forward_logging(py: Python<'_>) -> PyResult<()> {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if INSTALLED.get().is_none() {
        let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?.filter(log::LevelFilter::Warn);
        let _ = logger.install();
        let _ = INSTALLED.set(());
    }
    Ok(())
}
