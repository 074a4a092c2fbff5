//! The agent from Python: its process entry point, and the client calls (start, wait, status, stop).
//!
//! Waiting releases the GIL and blocks in short slices, re-taking the GIL between them only to
//! let Ctrl-C (a pending KeyboardInterrupt) through.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::engine::Error;
use crate::engine::agent::client::{self, Launcher};
use crate::engine::agent::daemon::{self, Options};
use crate::engine::agent::protocol::{Reply, Request};
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

/// Start the workspace's agent if none runs, and have it look at the store. Returns once it has.
#[pyfunction]
pub fn agent_start(py: Python<'_>, workspace_path: String, command: Vec<String>) -> PyResult<()> {
    let launcher = launcher(command)?;
    py.detach(|| client::wake(&Layout::new(workspace_path), &launcher)).map_err(PyErr::from)
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
    let timeout = Duration::from_secs_f64(timeout.max(0.0));
    py.detach(|| client::stop(&Layout::new(workspace_path), timeout)).map_err(PyErr::from)
}

/// One watch: ask the agent to report when each job ends; collect answers until all are in (with
/// `first`, until one is), the deadline passes, `cancelled` is set, or `between` (run every
/// slice) fails.
fn watch(
    layout: &Layout,
    launcher: &Launcher,
    uids: &[String],
    first: bool,
    deadline: Option<Instant>,
    cancelled: &AtomicBool,
    mut between: impl FnMut() -> PyResult<()>,
) -> PyResult<Vec<(String, String)>> {
    let mut ended: Vec<(String, String)> = Vec::new();
    let mut left: HashSet<String> = uids.iter().cloned().collect();
    let slice = Duration::from_millis(50);
    'reconnect: loop {
        let mut connection = client::connect_or_start(layout, launcher)?;
        connection.send(&Request::Watch { jobs: left.iter().cloned().collect() })?;
        while !left.is_empty() && (!first || ended.is_empty()) {
            between()?;
            if cancelled.load(Ordering::Relaxed) {
                return Ok(ended);
            }
            let wait = match deadline {
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        return Err(Error::Timeout(format!(
                            "{} job(s) still running when the wait timed out",
                            left.len()
                        ))
                        .into());
                    }
                    slice.min(at - now)
                }
                None => slice,
            };
            match connection.receive(Some(wait)) {
                Ok(Some(Reply::JobEnded { job, state })) => {
                    if left.remove(&job) {
                        ended.push((job, state));
                    }
                }
                Ok(Some(Reply::Error { message })) => return Err(Error::Agent(message).into()),
                Ok(Some(_)) | Ok(None) => {}
                // The agent went away (stopped or killed): start it again and keep watching.
                Err(_) => continue 'reconnect,
            }
        }
        return Ok(ended);
    }
}

/// Block until every job (by uid) has ended or was deleted, or with `first` until one has;
/// returns `(uid, state)` pairs of those that ended. Raises BatchAITimeoutError after `timeout`
/// seconds, KeyboardInterrupt on Ctrl-C.
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
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
    let never = AtomicBool::new(false);
    // Each slice blocks without the GIL; between slices, pending signals (Ctrl-C) are raised.
    py.detach(|| watch(&layout, &launcher, &uids, first, deadline, &never, || Python::attach(|py| py.check_signals())))
}

/// `await`able twin of `wait_jobs`: runs the wait on a worker thread; cancelling the awaiting
/// task stops it.
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
    let layout = Layout::new(workspace_path);
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t.max(0.0)));
    let cancelled = Arc::new(AtomicBool::new(false));
    let guard = CancelOnDrop(cancelled.clone());
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let _guard = guard;
        let flag = cancelled.clone();
        tokio::task::spawn_blocking(move || watch(&layout, &launcher, &uids, first, deadline, &flag, || Ok(())))
            .await
            .map_err(|e| PyErr::from(Error::Agent(format!("wait task failed: {e}"))))?
    })
}

/// Sets the flag when the future is dropped (its task was cancelled).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
