//! The agent from Python: its process entry point, and the client calls (start, wait, status, stop).
//!
//! A blocking wait releases the GIL and blocks in short slices, re-taking the GIL between them
//! only to let Ctrl-C (a pending KeyboardInterrupt) through; an async wait is a task of
//! `waits`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::Error;
use crate::engine::agent::client::{self, Launcher};
use crate::engine::agent::daemon::{self, Options};
use crate::engine::agent::watch::{Watch, watch_blocking};
use crate::engine::paths::Layout;

/// The launcher from Python's `_agent.command()`: the program, then its arguments.
pub(super) fn launcher(command: Vec<String>) -> PyResult<Launcher> {
    let mut parts = command.into_iter();
    let program = parts
        .next()
        .ok_or_else(|| PyErr::from(Error::invalid("launcher", "[]", "must name the program that starts the agent")))?;
    Ok(Launcher { program, args: parts.collect() })
}

/// The agent process's main: never returns (the process exits with the agent's status).
#[pyfunction]
#[pyo3(signature = (workspace_path, python, core_module=None))]
pub fn agent_main(py: Python<'_>, workspace_path: String, python: String, core_module: Option<String>) -> PyResult<()> {
    let code = py.detach(|| daemon::main(PathBuf::from(workspace_path), Options { python, core_module }));
    // The agent forked: leave without running the interpreter's shutdown in a forked child.
    // SAFETY: _exit ends the process at once; nothing after it runs.
    unsafe { libc::_exit(code) }
}

/// A Slurm node launcher's main (started by `srun` in a batchai job's allocation): returns its
/// exit code.
#[pyfunction]
pub fn node_launcher_main(py: Python<'_>, run_dir: String) -> i32 {
    py.detach(|| crate::engine::launcher::node::main(std::path::Path::new(&run_dir)))
}

/// Start the workspace's agent if none runs, and have it look at the store. Returns once it has;
/// raises AgentError when it has not answered within `timeout` seconds (it is stopped or hung).
#[pyfunction]
#[pyo3(signature = (workspace_path, command, timeout=60.0))]
pub fn agent_start(py: Python<'_>, workspace_path: String, command: Vec<String>, timeout: f64) -> PyResult<()> {
    let launcher = launcher(command)?;
    // Clamped: from_secs_f64 panics past u64 seconds (1e300), as on infinity.
    let answer = Duration::from_secs_f64(if timeout.is_finite() { timeout.clamp(0.001, 1e9) } else { 1e9 });
    py.detach(|| client::wake_within(&Layout::new(workspace_path), &launcher, answer)).map_err(PyErr::from)
}

/// The agent's status as JSON, or None when no agent runs.
#[pyfunction]
pub fn agent_status(py: Python<'_>, workspace_path: String) -> PyResult<Option<String>> {
    let status = py.detach(|| client::status(&Layout::new(workspace_path)))?;
    Ok(status.map(|s| serde_json::to_string(&s).expect("status serializes")))
}

/// Stop the agent; True if one was running.
#[pyfunction]
#[pyo3(signature = (workspace_path, timeout=30.0))]
pub fn agent_stop(py: Python<'_>, workspace_path: String, timeout: f64) -> PyResult<bool> {
    py.detach(|| client::stop(&Layout::new(workspace_path), duration(timeout))).map_err(PyErr::from)
}

/// Seconds from Python as a Duration: NaN and negative as 0, infinity and what no Duration
/// holds as the longest (`Duration::from_secs_f64` panics on those).
fn duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
}

/// The deadline of a wait of `timeout` seconds; None (no deadline) for one too long for the
/// clock (`Instant + Duration` panics past its range).
fn deadline(timeout: Option<f64>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(duration(t)))
}

/// A wait's timeout as given: NaN is refused (it compared false with every clock reading, so
/// such a wait timed out at once); below zero is zero, as before.
fn wait_deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        Some(t) if t.is_nan() => Err(crate::engine::Error::invalid(
            "timeout",
            "NaN",
            "must be a number of seconds (None waits as long as it takes)",
        )
        .into()),
        _ => Ok(deadline(timeout)),
    }
}

/// Block until every job (by uid) has ended or was deleted, or with `first` until one has;
/// returns `(uid, state)` pairs of those that ended (`state` is `deleted` for a deleted job).
/// Raises BatchAITimeoutError after `timeout` seconds (saying so when the agent is not
/// answering), KeyboardInterrupt on Ctrl-C.
#[pyfunction]
#[pyo3(signature = (workspace_path, command, uids, timeout=None, first=false))]
pub fn wait_jobs(
    py: Python<'_>,
    workspace_path: String,
    command: Vec<String>,
    uids: Vec<String>,
    timeout: Option<f64>,
    first: bool,
) -> PyResult<Vec<(String, String)>> {
    let launcher = launcher(command)?;
    let layout = Layout::new(workspace_path);
    let watch = Watch::new(&uids, first, wait_deadline(timeout)?);
    // Each slice blocks without the GIL; between slices, pending signals (Ctrl-C) are raised.
    py.detach(|| watch_blocking(&layout, &launcher, watch, || Python::attach(|py| py.check_signals())))
}

/// `await`able twin of `wait_jobs`: a future of the running loop, served without a thread of its
/// own; cancelling it (or closing its loop) ends the wait and closes its connection at once.
#[pyfunction]
#[pyo3(signature = (workspace_path, command, uids, timeout=None, first=false))]
pub fn wait_jobs_async<'py>(
    py: Python<'py>,
    workspace_path: String,
    command: Vec<String>,
    uids: Vec<String>,
    timeout: Option<f64>,
    first: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let launcher = launcher(command)?;
    let watch = Watch::new(&uids, first, wait_deadline(timeout)?);
    super::waits::start(py, Layout::new(workspace_path), launcher, watch)
}
