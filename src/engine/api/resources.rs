//! Creating, reading, changing and deleting the workspace's resources.
//!
//! Every change to what should run wakes the agent after its commit: jobs created, terminated or
//! deleted; clusters created, resized or deleted; experiments deleted (with their jobs). File
//! servers and experiments created change nothing that runs and leave the agent asleep.

use super::{Woken, Workspace, now};
use crate::engine::error::{Error, Result};
use crate::engine::model::{self, azure_json, parse};
use crate::engine::store::NewJob;

/// The kinds of resource a workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cluster,
    FileServer,
    Experiment,
    Job,
}

impl Kind {
    pub fn parse(kind: &str) -> Result<Kind> {
        match kind {
            "cluster" => Ok(Kind::Cluster),
            "file_server" => Ok(Kind::FileServer),
            "experiment" => Ok(Kind::Experiment),
            "job" => Ok(Kind::Job),
            other => Err(Error::invalid(
                "kind",
                format!("\"{other}\""),
                "must be one of cluster, file_server, experiment, job",
            )),
        }
    }
}

fn require_parent(parent: Option<&str>) -> Result<&str> {
    parent.ok_or_else(|| Error::invalid("experiment", "null", "is required for jobs"))
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

/// Per-job environment variables: one JSON list of `{name, value}` objects per job.
fn parse_environments(texts: &[String]) -> Result<Vec<Vec<model::common::EnvironmentVariable>>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
                Error::invalid(
                    format!("environment_variables[{i}]"),
                    model::validate::truncate(text, 80),
                    format!("must be a list of {{name, value}} objects ({})", e.inner()),
                )
            })
        })
        .collect()
}

/// What a job takes from the process that submits it, applied to its spec before it is stored
/// (relative script paths resolved against the submitter's folder, its Python recorded: see
/// `engine::submitter`); returns warnings for the caller to show.
pub type JobSubmitter<'a> = &'a (dyn Fn(&mut model::JobSpec) -> Vec<String> + Sync);

/// For callers with no submitting process to speak for (tests, a server).
pub fn as_is(_: &mut model::JobSpec) -> Vec<String> {
    Vec::new()
}

impl Workspace {
    /// Wake the agent after a commit that changes what runs (see `wake`).
    fn committed<T>(&self, value: T) -> Result<T> {
        let _: Woken = self.wake();
        Ok(value)
    }

    /// Create a resource of `kind` from its spec (camelCase JSON). `parent` is a job's experiment.
    /// A job's spec goes through `submitter` first (see [`JobSubmitter`]); its warnings come
    /// back with the resource.
    pub fn create(
        &self,
        kind: Kind,
        parent: Option<&str>,
        name: &str,
        spec_json: &str,
        submitter: JobSubmitter<'_>,
    ) -> Result<(serde_json::Value, Vec<String>)> {
        let mut warnings = Vec::new();
        let resource = self.with(|s| {
            let now = now();
            Ok(match kind {
                Kind::Cluster => s.create_cluster(name, &parse::from_text(spec_json)?, now)?.to_resource(),
                Kind::FileServer => s.create_file_server(name, &parse::from_text(spec_json)?, now)?.to_resource(),
                Kind::Experiment => s.create_experiment(name, now)?.to_resource(),
                Kind::Job => {
                    let experiment = require_parent(parent)?;
                    let mut spec = parse::from_text(spec_json)?;
                    warnings = submitter(&mut spec);
                    s.create_job(experiment, name, &spec, now)?.to_resource()
                }
            })
        })?;
        match kind {
            // The agent allocates a cluster's nodes and starts jobs.
            Kind::Cluster | Kind::Job => self.committed((resource, warnings)),
            Kind::FileServer | Kind::Experiment => Ok((resource, warnings)),
        }
    }

    /// Create a resource from Batch AI's JSON (`az batchai ... create -f`). Returns the resource
    /// and warnings about Azure-only fields that were not carried over. `cluster` overrides a
    /// job's cluster, like the CLI's `-c`.
    pub fn create_from_batchai_json(
        &self,
        kind: Kind,
        parent: Option<&str>,
        name: &str,
        text: &str,
        cluster: Option<&str>,
        submitter: JobSubmitter<'_>,
    ) -> Result<(serde_json::Value, Vec<String>)> {
        let created = self.with(|s| {
            let now = now();
            Ok(match kind {
                Kind::Job => {
                    let mut imported = match cluster {
                        // The override replaces a missing or foreign cluster before parsing.
                        Some(c) => azure_json::job(&with_cluster(text, c)?)?,
                        None => azure_json::job(text)?,
                    };
                    if let Some(c) = cluster {
                        imported.spec.cluster = model::ResourceId::new(c.to_string());
                    }
                    let resolved = submitter(&mut imported.spec);
                    imported.warnings.extend(resolved);
                    let job = s.create_job(require_parent(parent)?, name, &imported.spec, now)?;
                    (job.to_resource(), imported.warnings)
                }
                Kind::Cluster => {
                    let imported = azure_json::cluster(text)?;
                    (s.create_cluster(name, &imported.spec, now)?.to_resource(), imported.warnings)
                }
                Kind::FileServer => {
                    let imported = azure_json::file_server(text)?;
                    (s.create_file_server(name, &imported.spec, now)?.to_resource(), imported.warnings)
                }
                Kind::Experiment => {
                    return Err(Error::invalid(
                        "kind",
                        "\"experiment\"",
                        "must be one of cluster, file_server, job (experiments have no Batch AI JSON)",
                    ));
                }
            })
        })?;
        match kind {
            Kind::FileServer => Ok(created),
            _ => self.committed(created),
        }
    }

    /// Create many jobs in one transaction (all or none). Returns how many were created, and
    /// the submitter's warnings.
    pub fn create_jobs(
        &self,
        experiment: &str,
        names: Vec<String>,
        specs_json: Vec<String>,
        submitter: JobSubmitter<'_>,
    ) -> Result<(usize, Vec<String>)> {
        if names.len() != specs_json.len() {
            return Err(Error::invalid(
                "names",
                names.len().to_string(),
                format!("must have one name per spec ({} specs)", specs_json.len()),
            ));
        }
        let mut jobs = Vec::with_capacity(names.len());
        let mut warnings = Vec::new();
        for (name, spec) in names.into_iter().zip(specs_json) {
            let mut spec: model::JobSpec = parse::from_text(&spec)
                .map_err(|e| Error::invalid(format!("jobs['{name}'].{}", e.field), e.value, e.rule))?;
            warnings.extend(submitter(&mut spec).into_iter().map(|w| format!("jobs['{name}'].{w}")));
            jobs.push(NewJob { name, spec });
        }
        let count = self.with(|s| s.create_jobs(experiment, &jobs, now()))?;
        self.committed((count, warnings))
    }

    /// Create one job per name from a template spec (camelCase JSON), all or none; with
    /// `environments`, each job also gets its own variables (a JSON list of `{name, value}` per
    /// job). `wake: false` leaves the agent asleep: the jobs start at its next wake-up. Returns
    /// how many were created.
    pub fn create_jobs_from_template(
        &self,
        experiment: &str,
        spec_json: &str,
        names: &[String],
        environments: Option<&[String]>,
        wake: bool,
        submitter: JobSubmitter<'_>,
    ) -> Result<(usize, Vec<String>)> {
        let mut template: model::JobSpec = parse::from_text(spec_json)?;
        let warnings = submitter(&mut template);
        let environments = environments.map(parse_environments).transpose()?;
        let count =
            self.with(|s| s.create_jobs_from_template(experiment, &template, names, environments.as_deref(), now()))?;
        if wake { self.committed((count, warnings)) } else { Ok((count, warnings)) }
    }

    pub fn get(&self, kind: Kind, parent: Option<&str>, name: &str) -> Result<serde_json::Value> {
        self.with(|s| {
            Ok(match kind {
                Kind::Cluster => s.cluster(name)?.to_resource(),
                Kind::FileServer => s.file_server(name)?.to_resource(),
                Kind::Experiment => s.experiment(name)?.to_resource(),
                Kind::Job => s.job(require_parent(parent)?, name)?.to_resource(),
            })
        })
    }

    /// The resources of `kind`, oldest first; for jobs, `parent` narrows to one experiment.
    pub fn list(&self, kind: Kind, parent: Option<&str>) -> Result<Vec<serde_json::Value>> {
        self.with(|s| {
            Ok(match kind {
                Kind::Cluster => s.clusters()?.iter().map(model::Cluster::to_resource).collect(),
                Kind::FileServer => s.file_servers()?.iter().map(model::FileServer::to_resource).collect(),
                Kind::Experiment => s.experiments()?.iter().map(model::Experiment::to_resource).collect(),
                Kind::Job => s.jobs(parent)?.iter().map(model::Job::to_resource).collect(),
            })
        })
    }

    /// Jobs as stored, their specs left as text (see `model::stored_job`).
    pub fn stored_jobs(&self, experiment: Option<&str>) -> Result<Vec<crate::engine::model::stored_job::StoredJob>> {
        self.with(|s| s.stored_jobs(experiment))
    }

    /// One page of jobs (see [`crate::engine::store::Store::stored_jobs_page`]).
    pub fn stored_jobs_page(
        &self,
        experiment: Option<&str>,
        state: Option<crate::engine::model::ExecutionState>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, crate::engine::model::stored_job::StoredJob)>> {
        self.with(|s| s.stored_jobs_page(experiment, state, after, limit))
    }

    /// The jobs' Batch AI JSON, one array, without parsing their specs.
    pub fn jobs_text(&self, experiment: Option<&str>) -> Result<String> {
        let jobs = self.stored_jobs(experiment)?;
        let mut text = b"[".to_vec();
        let mut times = crate::engine::model::stored_job::TimeText::default();
        for (i, job) in jobs.iter().enumerate() {
            if i > 0 {
                text.push(b',');
            }
            job.write_resource(&mut text, &mut times);
        }
        text.push(b']');
        Ok(String::from_utf8(text).expect("JSON text is UTF-8"))
    }

    /// Delete a resource (and what it holds); the agent stops what ran in it.
    pub fn delete(&self, kind: Kind, parent: Option<&str>, name: &str) -> Result<()> {
        self.with(|s| match kind {
            Kind::Cluster => s.delete_cluster(name),
            Kind::FileServer => s.delete_file_server(name),
            Kind::Experiment => s.delete_experiment(name),
            Kind::Job => s.delete_job(require_parent(parent)?, name),
        })?;
        match kind {
            Kind::FileServer => Ok(()),
            _ => self.committed(()),
        }
    }

    /// Ask the agent to terminate a job (an intent recorded in the store). False if it had ended.
    pub fn terminate_job(&self, experiment: &str, name: &str) -> Result<bool> {
        let requested = self.with(|s| s.request_terminate(experiment, name, now()))?;
        if requested { self.committed(true) } else { Ok(false) }
    }

    /// The nodes of one cluster (or of all) as Batch AI's remote login information described them.
    pub fn nodes(&self, cluster: Option<&str>) -> Result<Vec<crate::engine::store::Node>> {
        self.with(|s| {
            if let Some(name) = cluster {
                s.cluster(name)?;
            }
            s.nodes(cluster)
        })
    }

    /// New scale settings for a cluster (resize, or switch between manual and auto-scale).
    pub fn set_scale_settings(&self, cluster: &str, settings_json: &str) -> Result<serde_json::Value> {
        let settings: model::cluster::ScaleSettings = parse::from_text(settings_json)?;
        let cluster = self.with(|s| Ok(s.set_scale_settings(cluster, &settings, now())?.to_resource()))?;
        self.committed(cluster)
    }
}
