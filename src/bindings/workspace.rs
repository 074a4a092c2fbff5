//! `WorkspaceHandle`: one open workspace store, shared by the Python resource objects.

use std::sync::Mutex;

use pyo3::prelude::*;

use super::submitter::{Context, warn};
use crate::engine::model::{self, azure_json, parse};
use crate::engine::paths::{self, Layout};
use crate::engine::store::{NewJob, Store};
use crate::engine::{Error, Result};

fn now() -> model::Timestamp {
    chrono::Utc::now()
}

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
    store: Mutex<Store>,
    path: String,
    name: String,
}

impl WorkspaceHandle {
    fn wrap(store: Store) -> Self {
        WorkspaceHandle {
            path: store.layout().root.display().to_string(),
            name: store.workspace_name().to_string(),
            store: Mutex::new(store),
        }
    }

    /// Run `f` on the store with the GIL released.
    fn with<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Store) -> Result<T> + Send) -> PyResult<T> {
        let result = py.detach(|| {
            let mut store = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut store)
        });
        result.map_err(|e| errors_to_py(py, e))
    }
}

fn errors_to_py(py: Python<'_>, e: Error) -> PyErr {
    super::errors::to_py(py, e)
}

#[pymethods]
impl WorkspaceHandle {
    /// Create a workspace in `path`; fails if one exists there.
    #[staticmethod]
    fn create_workspace(py: Python<'_>, path: String, name: String, tags_json: String) -> PyResult<Self> {
        let tags: model::workspace::Tags = parse::from_text(&format!("{{\"tags\": {tags_json}}}"))
            .map(|w: TagsOnly| w.tags)
            .map_err(|e| errors_to_py(py, e.into()))?;
        let store =
            py.detach(|| Store::create(Layout::new(path), &name, &tags, now())).map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(store))
    }

    /// Open the workspace in `path`.
    #[staticmethod]
    fn open_workspace(py: Python<'_>, path: String) -> PyResult<Self> {
        let store = py.detach(|| Store::open(Layout::new(path))).map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(store))
    }

    /// Open the workspace in `path`, creating it if needed.
    #[staticmethod]
    fn open_or_create_workspace(py: Python<'_>, path: String, name: String) -> PyResult<Self> {
        let store =
            py.detach(|| Store::open_or_create(Layout::new(path), &name, now())).map_err(|e| errors_to_py(py, e))?;
        Ok(WorkspaceHandle::wrap(store))
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The workspace resource as JSON.
    fn workspace(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |s| Ok(to_text(s.workspace()?.to_resource())))
    }

    fn set_tags(&self, py: Python<'_>, tags_json: String) -> PyResult<String> {
        let tags: model::workspace::Tags = parse::from_text(&format!("{{\"tags\": {tags_json}}}"))
            .map(|w: TagsOnly| w.tags)
            .map_err(|e| errors_to_py(py, e.into()))?;
        self.with(py, |s| Ok(to_text(s.set_tags(&tags)?.to_resource())))
    }

    fn mark_deleting(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |s| s.mark_deleting(now()))
    }

    /// Delete all experiments, jobs and clusters (first step of deleting the workspace).
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |s| s.clear())
    }

    /// Whether a job may be running or a node exists.
    fn has_running(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |s| s.has_running())
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
        let kind = kind.to_string();
        let submitter = Context::here(py);
        let (text, warnings) = self.with(py, move |s| {
            let now = now();
            let mut warnings = Vec::new();
            let resource = match kind.as_str() {
                "cluster" => s.create_cluster(&name, &parse::from_text(&spec_json)?, now)?.to_resource(),
                "file_server" => s.create_file_server(&name, &parse::from_text(&spec_json)?, now)?.to_resource(),
                "experiment" => s.create_experiment(&name, now)?.to_resource(),
                "job" => {
                    let mut spec: model::JobSpec = parse::from_text(&spec_json)?;
                    warnings = submitter.apply(&mut spec);
                    s.create_job(&require_parent(&parent)?, &name, &spec, now)?.to_resource()
                }
                other => return Err(unknown_kind(other)),
            };
            Ok((to_text(resource), warnings))
        })?;
        warn(py, &warnings)?;
        Ok(text)
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
        let kind = kind.to_string();
        let submitter = Context::here(py);
        self.with(py, move |s| {
            let now = now();
            Ok(match kind.as_str() {
                "job" => {
                    let mut imported = match &cluster {
                        // The override replaces a missing or foreign cluster before parsing.
                        Some(c) => azure_json::job(&with_cluster(&text, c)?)?,
                        None => azure_json::job(&text)?,
                    };
                    if let Some(c) = cluster {
                        imported.spec.cluster = model::ResourceId::new(c);
                    }
                    let resolved = submitter.apply(&mut imported.spec);
                    imported.warnings.extend(resolved);
                    (
                        to_text(s.create_job(&require_parent(&parent)?, &name, &imported.spec, now)?.to_resource()),
                        imported.warnings,
                    )
                }
                "cluster" => {
                    let imported = azure_json::cluster(&text)?;
                    (to_text(s.create_cluster(&name, &imported.spec, now)?.to_resource()), imported.warnings)
                }
                "file_server" => {
                    let imported = azure_json::file_server(&text)?;
                    (to_text(s.create_file_server(&name, &imported.spec, now)?.to_resource()), imported.warnings)
                }
                other => return Err(unknown_kind(other)),
            })
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
        if names.len() != specs_json.len() {
            return Err(errors_to_py(
                py,
                Error::invalid(
                    "names",
                    names.len().to_string(),
                    format!("must have one name per spec ({} specs)", specs_json.len()),
                ),
            ));
        }
        let submitter = Context::here(py);
        let (count, warnings) = self.with(py, move |s| {
            let mut jobs = Vec::with_capacity(names.len());
            let mut warnings = Vec::new();
            for (name, spec) in names.into_iter().zip(specs_json) {
                let mut spec: model::JobSpec = parse::from_text(&spec)
                    .map_err(|e| Error::invalid(format!("jobs['{name}'].{}", e.field), e.value, e.rule))?;
                warnings.extend(submitter.apply(&mut spec).into_iter().map(|w| format!("jobs['{name}'].{w}")));
                jobs.push(NewJob { name, spec });
            }
            Ok((s.create_jobs(&experiment, &jobs, now())?, warnings))
        })?;
        warn(py, &warnings)?;
        Ok(count)
    }

    /// Create one job per name from a template spec (camelCase JSON), all or none; with
    /// `environments`, each job also gets its own environment variables (a JSON list of
    /// `{name, value}` per job). Returns how many were created.
    #[pyo3(signature = (experiment, spec_json, names, environments=None))]
    fn create_jobs_from_template(
        &self,
        py: Python<'_>,
        experiment: String,
        spec_json: String,
        names: Vec<String>,
        environments: Option<Vec<String>>,
    ) -> PyResult<usize> {
        let submitter = Context::here(py);
        let (count, warnings) = self.with(py, move |s| {
            let mut template: model::JobSpec = parse::from_text(&spec_json)?;
            let warnings = submitter.apply(&mut template);
            let environments = match environments {
                None => None,
                Some(texts) => Some(
                    texts
                        .iter()
                        .enumerate()
                        .map(|(i, text)| {
                            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(
                                |e| {
                                    Error::invalid(
                                        format!("environment_variables[{i}]"),
                                        model::validate::truncate(text, 80),
                                        format!("must be a list of {{name, value}} objects ({})", e.inner()),
                                    )
                                },
                            )
                        })
                        .collect::<Result<Vec<Vec<model::common::EnvironmentVariable>>>>()?,
                ),
            };
            Ok((s.create_jobs_from_template(&experiment, &template, &names, environments.as_deref(), now())?, warnings))
        })?;
        warn(py, &warnings)?;
        Ok(count)
    }

    #[pyo3(signature = (kind, parent, name))]
    fn get(&self, py: Python<'_>, kind: &str, parent: Option<String>, name: String) -> PyResult<String> {
        let kind = kind.to_string();
        self.with(py, move |s| {
            Ok(to_text(match kind.as_str() {
                "cluster" => s.cluster(&name)?.to_resource(),
                "file_server" => s.file_server(&name)?.to_resource(),
                "experiment" => s.experiment(&name)?.to_resource(),
                "job" => s.job(&require_parent(&parent)?, &name)?.to_resource(),
                other => return Err(unknown_kind(other)),
            }))
        })
    }

    /// A JSON array of resources; for jobs, `parent` narrows to one experiment.
    #[pyo3(signature = (kind, parent=None))]
    fn list(&self, py: Python<'_>, kind: &str, parent: Option<String>) -> PyResult<String> {
        let kind = kind.to_string();
        self.with(py, move |s| {
            let items: Vec<serde_json::Value> = match kind.as_str() {
                "cluster" => s.clusters()?.iter().map(model::Cluster::to_resource).collect(),
                "file_server" => s.file_servers()?.iter().map(model::FileServer::to_resource).collect(),
                "experiment" => s.experiments()?.iter().map(model::Experiment::to_resource).collect(),
                "job" => s.jobs(parent.as_deref())?.iter().map(model::Job::to_resource).collect(),
                other => return Err(unknown_kind(other)),
            };
            Ok(to_text(serde_json::Value::Array(items)))
        })
    }

    #[pyo3(signature = (kind, parent, name))]
    fn delete(&self, py: Python<'_>, kind: &str, parent: Option<String>, name: String) -> PyResult<()> {
        let kind = kind.to_string();
        self.with(py, move |s| match kind.as_str() {
            "cluster" => s.delete_cluster(&name),
            "file_server" => s.delete_file_server(&name),
            "experiment" => s.delete_experiment(&name),
            "job" => s.delete_job(&require_parent(&parent)?, &name),
            other => Err(unknown_kind(other)),
        })
    }

    /// Ask the agent to terminate a job (an intent recorded in the store). False if it had ended.
    fn terminate_job(&self, py: Python<'_>, experiment: String, name: String) -> PyResult<bool> {
        self.with(py, move |s| s.request_terminate(&experiment, &name, now()))
    }

    /// The nodes of one cluster (or all) as a JSON array.
    #[pyo3(signature = (cluster=None))]
    fn nodes(&self, py: Python<'_>, cluster: Option<String>) -> PyResult<String> {
        self.with(py, move |s| {
            if let Some(name) = &cluster {
                s.cluster(name)?;
            }
            Ok(serde_json::to_string(&s.nodes(cluster.as_deref())?).expect("nodes serialize"))
        })
    }

    /// New scale settings for a cluster (resize or switch between manual and auto-scale).
    fn set_scale_settings(&self, py: Python<'_>, cluster: String, settings_json: String) -> PyResult<String> {
        self.with(py, move |s| {
            let settings: model::cluster::ScaleSettings = parse::from_text(&settings_json)?;
            Ok(to_text(s.set_scale_settings(&cluster, &settings, now())?.to_resource()))
        })
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsOnly {
    tags: model::workspace::Tags,
}

fn require_parent(parent: &Option<String>) -> Result<String> {
    parent.clone().ok_or_else(|| Error::invalid("experiment", "null", "is required for jobs"))
}

fn unknown_kind(kind: &str) -> Error {
    Error::invalid("kind", format!("\"{kind}\""), "must be one of cluster, file_server, experiment, job")
}

/// Put `cluster` into a job document (wrapped or not) so a file without one still parses.
fn with_cluster(text: &str, cluster: &str) -> Result<String> {
    let mut document = parse::parse_text(text)?;
    let target = match document.get_mut("properties") {
        Some(p) if p.is_object() => p,
        _ => &mut document,
    };
    if let Some(object) = target.as_object_mut() {
        object.insert("cluster".into(), serde_json::Value::String(cluster.to_string()));
    }
    Ok(document.to_string())
}
