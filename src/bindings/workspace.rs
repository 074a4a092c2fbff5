//! `WorkspaceHandle`: one open workspace (`engine::api::Workspace`), shared by the Python
//! resource objects. Each method converts its arguments, releases the GIL, calls the api and
//! maps errors; the use cases themselves (and waking the agent after a commit) are in the api.

use std::time::Duration;

use pyo3::prelude::*;

use super::agent::launcher;
use super::submitter::{Context, warn};
use crate::engine::api::{self, Kind};
use crate::engine::error::ValidationError;
use crate::engine::model::ExecutionState;
use crate::engine::model::stored_job::TimeText;
use crate::engine::paths;
use crate::engine::{Error, Result};

/// `list_jobs`' columns: experiments, names, uids, execution states, the jobs' Batch AI JSON.
type JobColumns = (Vec<String>, Vec<String>, Vec<String>, Vec<&'static str>, Vec<String>);
/// `list_jobs_page`'s columns: the row ids (the last one is where the next page starts), then
/// `list_jobs`' five.
type JobPage = (Vec<i64>, Vec<String>, Vec<String>, Vec<String>, Vec<&'static str>, Vec<String>);

fn to_text(value: serde_json::Value) -> String {
    value.to_string()
}

/// The `$BATCHAI_HOME` folder (default `~/.batchai`).
#[pyfunction]
pub fn home() -> PyResult<String> {
    Ok(paths::home()?.display().to_string())
}

/// The folder of the workspace called `name` under the home.
#[pyfunction]
pub fn named_workspace_path(name: &str) -> PyResult<String> {
    Ok(paths::named_workspace(name)?.display().to_string())
}

#[pyclass(frozen, module = "batchai._core")]
pub struct WorkspaceHandle {
    workspace: api::Workspace,
    path: String,
}

impl WorkspaceHandle {
    fn wrap(workspace: api::Workspace) -> Self {
        WorkspaceHandle { path: workspace.layout().root.display().to_string(), workspace }
    }

    /// Run `f` on the workspace with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&api::Workspace) -> Result<T> + Send) -> PyResult<T> {
        let result = py.detach(|| f(&self.workspace));
        result.map_err(|e| errors_to_py(py, e))
    }
}

fn errors_to_py(py: Python<'_>, e: Error) -> PyErr {
    super::errors::to_py(py, e)
}

fn seconds(field: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| Error::invalid(field, value.to_string(), "must be a number of seconds, 0 or more"))
}

#[pymethods]
impl WorkspaceHandle {
    /// Create a workspace in `path`; fails if one exists there. `command` starts its agent.
    #[staticmethod]
    fn create_workspace(
        py: Python<'_>,
        path: String,
        name: String,
        tags_json: String,
        command: Vec<String>,
    ) -> PyResult<Self> {
        let launcher = launcher(command)?;
        let workspace = py
            .detach(|| api::Workspace::create_workspace(path, &name, &tags_json, launcher))
            .map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(workspace))
    }

    /// Open the workspace in `path`.
    #[staticmethod]
    fn open_workspace(py: Python<'_>, path: String, command: Vec<String>) -> PyResult<Self> {
        let launcher = launcher(command)?;
        let workspace =
            py.detach(|| api::Workspace::open_workspace(path, launcher)).map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(workspace))
    }

    /// Open the workspace in `path`, creating it if needed.
    #[staticmethod]
    fn open_or_create_workspace(py: Python<'_>, path: String, name: String, command: Vec<String>) -> PyResult<Self> {
        let launcher = launcher(command)?;
        let workspace = py
            .detach(|| api::Workspace::open_or_create_workspace(path, &name, launcher))
            .map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(workspace))
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    #[getter]
    fn name(&self) -> &str {
        self.workspace.name()
    }

    /// The workspace resource as JSON.
    fn workspace(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |w| w.workspace().map(to_text))
    }

    fn set_tags(&self, py: Python<'_>, tags_json: String) -> PyResult<String> {
        self.with(py, |w| w.set_tags(&tags_json).map(to_text))
    }

    /// Delete the workspace: its agent stops what runs and removes its files.
    #[pyo3(signature = (timeout=60.0))]
    fn delete_workspace(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds("timeout", timeout).map_err(|e| errors_to_py(py, e))?;
        self.with(py, |w| w.delete_workspace(timeout))
    }

    /// Create a resource of `kind` from its spec (camelCase JSON). `parent` is the experiment of a job.
    #[pyo3(signature = (kind, parent, name, spec_json))]
    fn create(
        &self,
        py: Python<'_>,
        kind: &str,
        parent: Option<String>,
        name: String,
        spec_json: String,
    ) -> PyResult<String> {
        let kind = Kind::parse(kind).map_err(|e| errors_to_py(py, e))?;
        let submitter = Context::here(py);
        let (resource, warnings) =
            self.with(py, |w| w.create(kind, parent.as_deref(), &name, &spec_json, &|spec| submitter.apply(spec)))?;
        warn(py, &warnings)?;
        Ok(to_text(resource))
    }

    /// Create a resource from Batch AI's JSON (`az batchai ... create -f`). Returns the resource and
    /// the warnings about Azure-only fields that were not carried over. `cluster` overrides the
    /// job's cluster, like the CLI's `-c`.
    #[pyo3(signature = (kind, parent, name, text, cluster=None))]
    fn create_from_batchai_json(
        &self,
        py: Python<'_>,
        kind: &str,
        parent: Option<String>,
        name: String,
        text: String,
        cluster: Option<String>,
    ) -> PyResult<(String, Vec<String>)> {
        let kind = Kind::parse(kind).map_err(|e| errors_to_py(py, e))?;
        let submitter = Context::here(py);
        self.with(py, |w| {
            let (resource, warnings) =
                w.create_from_batchai_json(kind, parent.as_deref(), &name, &text, cluster.as_deref(), &|spec| {
                    submitter.apply(spec)
                })?;
            Ok((to_text(resource), warnings))
        })
    }

    /// Create many jobs in one transaction (all or none). Returns how many were created.
    fn create_jobs(
        &self,
        py: Python<'_>,
        experiment: String,
        names: Vec<String>,
        specs_json: Vec<String>,
    ) -> PyResult<usize> {
        let submitter = Context::here(py);
        let (count, warnings) =
            self.with(py, |w| w.create_jobs(&experiment, names, specs_json, &|spec| submitter.apply(spec)))?;
        warn(py, &warnings)?;
        Ok(count)
    }

    /// Create one job per name from a template spec (camelCase JSON), all or none; with
    /// `environments`, each job also gets its own environment variables (a JSON list of
    /// `{name, value}` per job). `wake=False` leaves the agent asleep. Returns how many were created.
    #[pyo3(signature = (experiment, spec_json, names, environments=None, wake=true))]
    fn create_jobs_from_template(
        &self,
        py: Python<'_>,
        experiment: String,
        spec_json: String,
        names: Vec<String>,
        environments: Option<Vec<String>>,
        wake: bool,
    ) -> PyResult<usize> {
        let submitter = Context::here(py);
        let (count, warnings) = self.with(py, |w| {
            w.create_jobs_from_template(&experiment, &spec_json, &names, environments.as_deref(), wake, &|spec| {
                submitter.apply(spec)
            })
        })?;
        warn(py, &warnings)?;
        Ok(count)
    }

    #[pyo3(signature = (kind, parent, name))]
    fn get(&self, py: Python<'_>, kind: &str, parent: Option<String>, name: String) -> PyResult<String> {
        let kind = Kind::parse(kind).map_err(|e| errors_to_py(py, e))?;
        self.with(py, |w| w.get(kind, parent.as_deref(), &name).map(to_text))
    }

    /// A JSON array of resources; for jobs, `parent` narrows to one experiment.
    #[pyo3(signature = (kind, parent=None))]
    fn list(&self, py: Python<'_>, kind: &str, parent: Option<String>) -> PyResult<String> {
        let kind = Kind::parse(kind).map_err(|e| errors_to_py(py, e))?;
        self.with(py, |w| match kind {
            // Jobs are many: their stored text is spliced, not parsed and printed again.
            Kind::Job => w.jobs_text(parent.as_deref()),
            _ => Ok(to_text(serde_json::Value::Array(w.list(kind, parent.as_deref())?))),
        })
    }

    /// Jobs of one experiment (or all), oldest first, as five lists of the same length:
    /// experiments, names, uids, execution states and each job's resource JSON. Python reads the
    /// first four without parsing the JSON, and parses a job's JSON only when something else of it
    /// is read. Columns rather than one tuple per job: 100,000 tuples alive at once keep Python's
    /// cycle collector busy while the list is built.
    #[pyo3(signature = (parent=None))]
    fn list_jobs(&self, py: Python<'_>, parent: Option<String>) -> PyResult<JobColumns> {
        self.with(py, move |s| {
            let jobs = s.stored_jobs(parent.as_deref())?;
            let mut columns: JobColumns = Default::default();
            let mut times = TimeText::default();
            for job in jobs {
                let mut text = Vec::with_capacity(job.spec_json.len() + 640);
                job.write_resource(&mut text, &mut times);
                columns.4.push(String::from_utf8(text).expect("JSON text is UTF-8"));
                columns.3.push(job.execution_state.as_str());
                columns.0.push(job.experiment);
                columns.1.push(job.name);
                columns.2.push(job.uid);
            }
            Ok(columns)
        })
    }

    /// One page of `list_jobs`: at most `limit` jobs of one experiment (or all), in `state` if
    /// given, created after the row `after` (0: from the first), oldest first. The same five
    /// columns with the row ids in front; the last id is the next page's `after`. Lets Python
    /// iterate over any number of jobs holding one page at a time.
    #[pyo3(signature = (parent=None, state=None, after=0, limit=1000))]
    fn list_jobs_page(
        &self,
        py: Python<'_>,
        parent: Option<String>,
        state: Option<String>,
        after: i64,
        limit: usize,
    ) -> PyResult<JobPage> {
        let state = match state.as_deref() {
            None => None,
            Some(text) => Some(ExecutionState::parse(text).ok_or_else(|| {
                Error::from(ValidationError::new(
                    "state",
                    serde_json::Value::from(text).to_string(),
                    "must be one of queued, running, terminating, succeeded or failed",
                ))
            })?),
        };
        self.with(py, move |s| {
            let jobs = s.stored_jobs_page(parent.as_deref(), state, after, limit)?;
            let mut ids = Vec::with_capacity(jobs.len());
            let mut columns: JobColumns = Default::default();
            let mut times = TimeText::default();
            for (id, job) in jobs {
                let mut text = Vec::with_capacity(job.spec_json.len() + 640);
                job.write_resource(&mut text, &mut times);
                ids.push(id);
                columns.4.push(String::from_utf8(text).expect("JSON text is UTF-8"));
                columns.3.push(job.execution_state.as_str());
                columns.0.push(job.experiment);
                columns.1.push(job.name);
                columns.2.push(job.uid);
            }
            Ok((ids, columns.0, columns.1, columns.2, columns.3, columns.4))
        })
    }

    #[pyo3(signature = (kind, parent, name))]
    fn delete(&self, py: Python<'_>, kind: &str, parent: Option<String>, name: String) -> PyResult<()> {
        let kind = Kind::parse(kind).map_err(|e| errors_to_py(py, e))?;
        self.with(py, |w| w.delete(kind, parent.as_deref(), &name))
    }

    /// Create a sweep from its spec (camelCase JSON); returns its record as JSON. With
    /// `exist_ok`, the same definition re-attaches and another one is a conflict.
    #[pyo3(signature = (experiment, name, spec_json, exist_ok=false))]
    fn create_sweep(
        &self,
        py: Python<'_>,
        experiment: String,
        name: String,
        spec_json: String,
        exist_ok: bool,
    ) -> PyResult<String> {
        let submitter = Context::here(py);
        let (record, warnings) =
            self.with(py, |w| w.create_sweep(&experiment, &name, &spec_json, exist_ok, &|spec| submitter.apply(spec)))?;
        warn(py, &warnings)?;
        Ok(to_text(record))
    }

    /// A sweep's record (JSON), or with `name=None` the experiment's sweeps (a JSON array).
    #[pyo3(signature = (experiment, name=None))]
    fn sweep(&self, py: Python<'_>, experiment: String, name: Option<String>) -> PyResult<String> {
        self.with(py, |w| match &name {
            Some(name) => w.sweep(&experiment, name),
            None => w.sweeps(&experiment),
        })
        .map(to_text)
    }

    /// A sweep's trials as a JSON array.
    fn sweep_trials(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<String> {
        self.with(py, |w| w.sweep_trials(&experiment, &name)).map(to_text)
    }

    /// A sweep's stored metric points as a JSON array.
    #[pyo3(signature = (experiment, name, trial=None, metric=None))]
    fn sweep_metrics(
        &self,
        py: Python<'_>,
        experiment: String,
        name: String,
        trial: Option<u64>,
        metric: Option<String>,
    ) -> PyResult<String> {
        self.with(py, |w| w.sweep_metrics(&experiment, &name, trial, metric.as_deref())).map(to_text)
    }

    /// Ask the agent to cancel a sweep. False if it had ended.
    fn cancel_sweep(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<bool> {
        self.with(py, |w| w.cancel_sweep(&experiment, &name))
    }

    /// Delete an ended sweep with its trials and their jobs.
    fn delete_sweep(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<()> {
        self.with(py, |w| w.delete_sweep(&experiment, &name))
    }

    /// Raise a sweep's trial limit; returns its record as JSON.
    fn extend_sweep(&self, py: Python<'_>, experiment: String, name: String, max_trials: u64) -> PyResult<String> {
        self.with(py, |w| w.extend_sweep(&experiment, &name, max_trials)).map(to_text)
    }

    /// Ask the agent to terminate a job (an intent recorded in the store). False if it had ended.
    fn terminate_job(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<bool> {
        self.with(py, |w| w.terminate_job(&experiment, &name))
    }

    /// The events of one job, oldest first, as a JSON array of `{seq, time, kind, resource, uid,
    /// from, to, reason}`.
    fn job_events(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<String> {
        self.with(py, move |s| Ok(serde_json::to_string(&s.job_events(&experiment, &name)?).expect("events serialize")))
    }

    /// The nodes of one cluster (or all) as a JSON array.
    #[pyo3(signature = (cluster=None))]
    fn nodes(&self, py: Python<'_>, cluster: Option<String>) -> PyResult<String> {
        self.with(py, |w| Ok(serde_json::to_string(&w.nodes(cluster.as_deref())?).expect("nodes serialize")))
    }

    /// The nodes of a Slurm cluster's partition, as `sinfo` reports them, as a JSON array of
    /// `{name, state, slurmState, cpus, memoryMb, gres, address, reason}`. Runs `sinfo` (up to
    /// its timeout) with the GIL released.
    fn slurm_nodes(&self, py: Python<'_>, cluster: String) -> PyResult<String> {
        self.with(py, |w| Ok(serde_json::to_string(&w.slurm_nodes(&cluster)?).expect("partition nodes serialize")))
    }

    /// New scale settings for a cluster (resize or switch between manual and auto-scale).
    fn set_scale_settings(&self, py: Python<'_>, cluster: String, settings_json: String) -> PyResult<String> {
        self.with(py, |w| w.set_scale_settings(&cluster, &settings_json).map(to_text))
    }

    /// Run `command` through bash on a node of `cluster` (the first by default): `(exit code,
    /// stdout, stderr)`, the code negative when a signal ended it.
    #[pyo3(signature = (cluster, node, command, timeout=None))]
    fn node_exec(
        &self,
        py: Python<'_>,
        cluster: String,
        node: Option<String>,
        command: String,
        timeout: Option<f64>,
    ) -> PyResult<(i32, String, String)> {
        let timeout = timeout.map(|t| seconds("timeout", t)).transpose().map_err(|e| errors_to_py(py, e))?;
        self.with(py, |w| {
            let output = w.node_exec(&cluster, node.as_deref(), &command, timeout)?;
            Ok((output.code, output.stdout, output.stderr))
        })
    }
}
