//! Job rows. Creation validates everything first and writes in one transaction, so a batch of
//! jobs lands whole or not at all.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::common::{EnvironmentVariable, check_environment};
use crate::engine::model::job::{ExecutionInfo, SchedulingPriority};
use crate::engine::model::stored_job::StoredJob;
use crate::engine::model::toolkits::ToolType;
use crate::engine::model::{ClusterSpec, ExecutionState, Job, JobSpec, ProvisioningState, Timestamp, validate};
use crate::engine::scheduler::capacity::check_node_count;

use super::clusters::check_file_server_refs;
use super::columns::Cells;
use super::{Store, us};

/// One job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub name: String,
    pub spec: JobSpec,
}

const COLUMNS: &str = "j.name, j.uid, j.spec, j.tool_type, j.created_us, j.execution_state, j.execution_state_us, \
                       j.start_us, j.end_us, j.exit_code, j.errors, e.name, j.node_names, j.output_paths, \
                       j.wait_reason, j.expected_start_us, j.id";

/// Column 16 of [`COLUMNS`]: the row id, the order of creation.
const ROW_ID: usize = 16;

pub(crate) fn priority_rank(p: SchedulingPriority) -> i64 {
    match p {
        SchedulingPriority::Low => 0,
        SchedulingPriority::Normal => 1,
        SchedulingPriority::High => 2,
    }
}

/// An execution state column, e.g. `running`.
pub(crate) fn execution_state(c: &Cells<'_, '_>, idx: usize) -> rusqlite::Result<ExecutionState> {
    c.parsed(idx, "an execution state", ExecutionState::parse)
}

pub(crate) fn row_to_job(workspace: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let stored = row_to_stored(workspace, r)?;
    let uid = stored.uid.clone();
    stored.parse().map_err(|e| Cells::new(r, "jobs", 1).damaged(2, format!("invalid JSON ({e}) in job {uid}")))
}

/// A row read as it is stored, its spec left as text (see [`StoredJob`]). Every other column is
/// checked: a damaged value is an error, never a default.
pub(crate) fn row_to_stored(workspace: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredJob> {
    let c = Cells::new(r, "jobs", 1);
    let name: String = c.get(0)?;
    let uid: String = c.get(1)?;
    let created = c.time(4)?;
    let experiment: String = c.get(11)?;
    let execution_state = execution_state(&c, 5)?;
    let queued = execution_state == ExecutionState::Queued;
    let running = execution_state == ExecutionState::Running;
    Ok(StoredJob {
        job_output_directory_path_segment: format!("{workspace}/experiments/{experiment}/jobs/{name}/{uid}"),
        workspace: workspace.to_string(),
        experiment,
        name,
        uid,
        spec_json: c.get(2)?,
        tool_type: c.parsed(3, "a tool type", ToolType::parse)?,
        creation_time: created,
        provisioning_state: ProvisioningState::Succeeded,
        provisioning_state_transition_time: created,
        execution_state,
        execution_state_transition_time: c.time(6)?,
        execution_info: ExecutionInfo {
            start_time: c.optional_time(7)?,
            end_time: c.optional_time(8)?,
            exit_code: c.get(9)?,
            errors: json_column(&c, 10)?,
            node_ids: json_column(&c, 12)?,
            output_paths: json_column(&c, 13)?,
        },
        // A queued job waits for nodes; a running one may wait for its engine (Slurm has it
        // pending). Reasons are cleared when a job starts or ends, so none is stale.
        wait_reason: if queued || running { c.get(14)? } else { None },
        expected_start: if queued { c.optional_time(15)? } else { None },
    })
}

/// A JSON column the agent writes (errors, node names, output paths). Most are `[]` or `{}`,
/// which need no parser.
fn json_column<T: Default + serde::de::DeserializeOwned>(c: &Cells<'_, '_>, idx: usize) -> rusqlite::Result<T> {
    match c.get_ref_str(idx)? {
        "[]" | "{}" => Ok(T::default()),
        _ => c.json(idx),
    }
}

fn experiment_id(tx: &Transaction<'_>, experiment: &str) -> Result<i64> {
    tx.query_row("SELECT id FROM experiments WHERE name = ?1", [experiment], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(ResourceKind::Experiment, experiment))
}

/// Job uids for a batch, in the layout of UUID version 7: 48 bits of Unix milliseconds, then a
/// random value that counts up within the batch. Successive uids sort after each other, so the
/// uid index grows at its end instead of taking inserts all over (a large part of a bulk
/// insert's cost). One `getrandom` per batch seeds it.
struct UidSource {
    millis: u64,
    next: u64,
}

impl UidSource {
    fn new() -> Self {
        let millis = chrono::Utc::now().timestamp_millis().max(0) as u64;
        UidSource { millis, next: uuid::Uuid::new_v4().as_u64_pair().0 >> 2 }
    }

    fn next(&mut self) -> String {
        // 48-bit time, version 7, 12 bits of the counter's top; variant 10, 62 bits of counter.
        let count = self.next;
        self.next = self.next.wrapping_add(1);
        let high = (self.millis & 0xffff_ffff_ffff) << 16 | 0x7000 | ((count >> 50) & 0x0fff);
        let low = (0b10 << 62) | (count & 0x3fff_ffff_ffff_ffff);
        uuid::Uuid::from_u64_pair(high, low).simple().to_string()
    }
}

/// A validated job, ready to insert: the parts a template's jobs share are behind `Arc`s.
#[derive(Clone)]
struct Prepared {
    name: String,
    spec_json: std::sync::Arc<str>,
    cluster: String,
    given_cluster: String,
    node_count: u32,
    priority: i64,
    tool: ToolType,
    mounts: Option<crate::engine::model::mounts::MountVolumes>,
    secrets: std::sync::Arc<Vec<(&'static str, String, String)>>,
}

impl Prepared {
    fn new(workspace: &str, name: &str, spec: &JobSpec) -> Result<Prepared, crate::engine::ValidationError> {
        let tool = spec.toolkit()?.tool_type();
        let cluster = local_cluster(workspace, spec)?;
        // Stored with the canonical cluster id, whatever form the caller used.
        let mut stored = spec.clone();
        stored.cluster = crate::engine::model::ResourceId::local(workspace, "clusters", &cluster);
        let mut secrets: Vec<(&'static str, String, String)> =
            spec.secrets.iter().map(|s| ("env", s.name.clone(), s.value.clone().unwrap_or_default())).collect();
        let password = spec
            .container_settings
            .as_ref()
            .and_then(|c| c.image_source_registry.credentials.as_ref())
            .and_then(|c| c.password.clone());
        if let Some(password) = password {
            secrets.push(("registry", "password".into(), password));
        }
        Ok(Prepared {
            name: name.to_string(),
            spec_json: serde_json::to_string(&stored).expect("job spec serializes").into(),
            cluster,
            given_cluster: spec.cluster.id.clone(),
            node_count: spec.node_count,
            priority: priority_rank(spec.scheduling_priority),
            tool,
            mounts: spec.mount_volumes.clone(),
            secrets: std::sync::Arc::new(secrets),
        })
    }
}

/// Rows per INSERT statement in a batch (10 parameters each, far below SQLite's limit).
const INSERT_CHUNK: usize = 64;

/// `INSERT INTO jobs ... VALUES (...), (...)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)";
    format!(
        "INSERT INTO jobs (experiment_id, name, uid, spec, cluster_name, node_count, priority, tool_type, \
         created_us, execution_state, execution_state_us) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// A chunk's insert failed: name the job whose name was taken, if that was the cause.
fn taken_name(tx: &Transaction<'_>, experiment_id: i64, chunk: &[Prepared], e: rusqlite::Error) -> Error {
    if !e.to_string().contains("UNIQUE") {
        return e.into();
    }
    let taken = chunk.iter().find(|job| {
        tx.query_row(
            "SELECT 1 FROM jobs WHERE experiment_id = ?1 AND name = ?2",
            params![experiment_id, job.name],
            |_| Ok(()),
        )
        .is_ok()
    });
    match taken {
        Some(job) => {
            let experiment: String = tx
                .query_row("SELECT name FROM experiments WHERE id = ?1", [experiment_id], |r| r.get(0))
                .unwrap_or_default();
            Error::already_exists_in(ResourceKind::Job, &job.name, experiment)
        }
        None => e.into(),
    }
}

/// The name of the job's cluster, which must belong to this workspace.
fn local_cluster(workspace: &str, spec: &JobSpec) -> Result<String, crate::engine::ValidationError> {
    let target = spec.cluster.parse("cluster", "clusters")?;
    if target.workspace.as_deref().is_some_and(|ws| ws != workspace) {
        validate::fail(
            "cluster",
            &spec.cluster.id,
            &format!(
                "must name a cluster of this workspace ('{workspace}'): clusters of other workspaces cannot run its jobs yet"
            ),
        )?;
    }
    Ok(target.name)
}

/// The spec of the cluster called `name`, if it exists; looked up once per batch.
fn cluster_spec<'a>(
    tx: &Transaction<'_>,
    name: &str,
    known: &'a mut HashMap<String, Option<ClusterSpec>>,
) -> Result<Option<&'a ClusterSpec>> {
    if !known.contains_key(name) {
        let spec: Option<String> =
            tx.query_row("SELECT spec FROM clusters WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        known.insert(name.to_string(), spec.map(|s| serde_json::from_str(&s).unwrap_or_default()));
    }
    Ok(known[name].as_ref())
}

impl Store {
    pub fn create_job(&mut self, experiment: &str, name: &str, spec: &JobSpec, now: Timestamp) -> Result<Job> {
        self.create_jobs(experiment, &[NewJob { name: name.to_string(), spec: spec.clone() }], now)?;
        self.job(experiment, name)
    }

    /// Create many jobs in one transaction; any invalid job or taken name rejects them all.
    pub fn create_jobs(&mut self, experiment: &str, jobs: &[NewJob], now: Timestamp) -> Result<usize> {
        let mut prepared = Vec::with_capacity(jobs.len());
        for job in jobs {
            let context = |e: crate::engine::ValidationError| -> Error {
                if jobs.len() == 1 {
                    e.into()
                } else {
                    Error::invalid(format!("jobs['{}'].{}", job.name, e.field), e.value, e.rule)
                }
            };
            validate::name("name", &job.name).map_err(context)?;
            job.spec.validate().map_err(context)?;
            prepared.push(Prepared::new(&self.name, &job.name, &job.spec).map_err(context)?);
        }
        self.insert_jobs(experiment, &prepared, now)
    }

    /// Create one job per name from a template spec, optionally with extra environment variables
    /// per job (how a sweep varies its trials). The template is validated once.
    pub fn create_jobs_from_template(
        &mut self,
        experiment: &str,
        template: &JobSpec,
        names: &[String],
        environments: Option<&[Vec<EnvironmentVariable>]>,
        now: Timestamp,
    ) -> Result<usize> {
        template.validate()?;
        if let Some(envs) = environments.filter(|e| e.len() != names.len()) {
            return Err(Error::invalid(
                "environment_variables",
                envs.len().to_string(),
                format!("must give one list per job ({} names)", names.len()),
            ));
        }
        let shared = Prepared::new(&self.name, "", template)?;
        let mut prepared = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let context = |e: crate::engine::ValidationError| -> Error {
                Error::invalid(format!("jobs['{name}'].{}", e.field), e.value, e.rule)
            };
            validate::name("name", name).map_err(context)?;
            let mut job = shared.clone();
            job.name = name.clone();
            if let Some(extra) = environments.map(|e| &e[i]).filter(|e| !e.is_empty()) {
                let mut spec = template.clone();
                spec.environment_variables.extend(extra.iter().cloned());
                check_environment("", &spec.environment_variables, &spec.secrets).map_err(context)?;
                job = Prepared::new(&self.name, name, &spec).map_err(context)?;
            }
            prepared.push(job);
        }
        self.insert_jobs(experiment, &prepared, now)
    }

    /// Create one job (already validated by its caller) and, in the same transaction, what
    /// `after` writes with the job's row id.
    pub(crate) fn create_job_with(
        &mut self,
        experiment: &str,
        name: &str,
        spec: &JobSpec,
        now: Timestamp,
        after: impl FnOnce(&Transaction<'_>, i64) -> Result<()>,
    ) -> Result<()> {
        let prepared = Prepared::new(&self.name, name, spec)?;
        self.insert_jobs_with(experiment, &[prepared], now, after).map(|_| ())
    }

    fn insert_jobs(&mut self, experiment: &str, jobs: &[Prepared], now: Timestamp) -> Result<usize> {
        self.insert_jobs_with(experiment, jobs, now, |_, _| Ok(()))
    }

    /// Insert `jobs`, then run `after` with the first new row id in the same transaction (a
    /// sweep records the trial a job belongs to with the job, so neither exists alone).
    fn insert_jobs_with(
        &mut self,
        experiment: &str,
        jobs: &[Prepared],
        now: Timestamp,
        after: impl FnOnce(&Transaction<'_>, i64) -> Result<()>,
    ) -> Result<usize> {
        let mut seen = std::collections::HashSet::with_capacity(jobs.len());
        for job in jobs {
            if !seen.insert(job.name.as_str()) {
                return Err(Error::invalid(
                    "name",
                    validate::show(&job.name),
                    "is given twice in one batch; job names are unique within an experiment",
                ));
            }
        }
        let workspace = self.name.clone();
        let machine = self.machine.clone();
        let mut uids = UidSource::new();
        self.write(|tx| {
            Store::ensure_usable(tx, &workspace)?;
            let experiment_id = experiment_id(tx, experiment)?;
            let mut clusters = HashMap::new();
            // (cluster, node count) pairs checked against the machine: a template's jobs share one.
            let mut fits: std::collections::HashSet<(String, u32)> = std::collections::HashSet::new();
            let mut checked_mounts = false;
            let mut secret =
                tx.prepare_cached("INSERT INTO job_secrets (job_id, kind, name, value) VALUES (?1, ?2, ?3, ?4)")?;
            let mut last_spec: Option<std::sync::Arc<str>> = None;
            let created = us(now);
            let mut first_id: Option<i64> = None;
            for chunk in jobs.chunks(INSERT_CHUNK) {
                for job in chunk {
                    let Some(cluster) = cluster_spec(tx, &job.cluster, &mut clusters)? else {
                        let shown = validate::show(&job.given_cluster);
                        let mut statement = tx.prepare("SELECT name FROM clusters ORDER BY id LIMIT 20")?;
                        let names =
                            statement.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
                        let known = if names.is_empty() {
                            format!("there are no clusters in workspace '{workspace}': create one first")
                        } else {
                            format!("clusters: {}", names.join(", "))
                        };
                        let rule = format!("must name an existing cluster ({known})");
                        return Err(Error::invalid("cluster", shown, rule));
                    };
                    if let Some((machine, policy)) = &machine
                        && !fits.contains(&(job.cluster.clone(), job.node_count))
                    {
                        check_node_count(job.node_count, &job.cluster, cluster, machine, *policy).map_err(|e| {
                            if jobs.len() == 1 {
                                e.into()
                            } else {
                                Error::invalid(format!("jobs['{}'].{}", job.name, e.field), e.value, e.rule)
                            }
                        })?;
                        fits.insert((job.cluster.clone(), job.node_count));
                    }
                    // Jobs from one template share their mounts: check them once.
                    let same_spec = last_spec.as_ref().is_some_and(|last| std::sync::Arc::ptr_eq(last, &job.spec_json));
                    if !(same_spec && checked_mounts) {
                        check_file_server_refs(tx, &workspace, job.mounts.as_ref(), "mountVolumes.")?;
                        checked_mounts = true;
                    }
                    last_spec = Some(job.spec_json.clone());
                }
                let chunk_uids: Vec<String> = chunk.iter().map(|_| uids.next()).collect();
                let tools: Vec<&str> = chunk.iter().map(|j| j.tool.as_str()).collect();
                let specs: Vec<&str> = chunk.iter().map(|j| &*j.spec_json).collect();
                // One statement per chunk: SQLite runs its program once for many rows.
                let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 10);
                for (i, job) in chunk.iter().enumerate() {
                    values.extend_from_slice(&[
                        &experiment_id,
                        &job.name,
                        &chunk_uids[i],
                        &specs[i],
                        &job.cluster,
                        &job.node_count,
                        &job.priority,
                        &tools[i],
                        &created,
                        &created,
                    ]);
                }
                let mut insert = tx.prepare_cached(&insert_sql(chunk.len()))?;
                if let Err(e) = insert.execute(rusqlite::params_from_iter(values)) {
                    return Err(taken_name(tx, experiment_id, chunk, e));
                }
                let last = tx.last_insert_rowid();
                first_id.get_or_insert(last - chunk.len() as i64 + 1);
                if chunk.iter().any(|j| !j.secrets.is_empty()) {
                    // Row ids of one statement's rows are consecutive, ending at the last one.
                    let first = last - chunk.len() as i64 + 1;
                    for (i, job) in chunk.iter().enumerate() {
                        for (kind, name, value) in job.secrets.iter() {
                            secret.execute(params![first + i as i64, kind, name, value])?;
                        }
                    }
                }
            }
            if let Some(first) = first_id {
                // One statement for the whole batch's `queued` events: the transaction holds the
                // write lock, so the ids from the first row on are exactly this batch's.
                tx.prepare_cached(
                    "INSERT INTO events (time, kind, resource, uid, from_state, to_state, reason)
                     SELECT ?1, 'job', ?2 || '/' || name, uid, NULL, 'queued', 'submitted' FROM jobs WHERE id >= ?3",
                )?
                .execute(params![created, experiment, first])?;
                after(tx, first)?;
            }
            Ok(jobs.len())
        })
    }

    pub fn job(&mut self, experiment: &str, name: &str) -> Result<Job> {
        let workspace = self.name.clone();
        let found = self.read(|tx| {
            experiment_id(tx, experiment)?;
            Ok(tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM jobs j JOIN experiments e ON e.id = j.experiment_id WHERE e.name = ?1 AND j.name = ?2"),
                    params![experiment, name],
                    |r| row_to_job(&workspace, r),
                )
                .optional()?)
        })?;
        found.ok_or_else(|| Error::not_found_in(ResourceKind::Job, name, experiment))
    }

    /// Jobs of one experiment, or of the whole workspace, oldest first.
    pub fn jobs(&mut self, experiment: Option<&str>) -> Result<Vec<Job>> {
        self.stored_jobs_unchecked(experiment)?
            .into_iter()
            .map(|job| {
                let uid = job.uid.clone();
                job.parse().map_err(|e| Error::Store {
                    path: String::new(),
                    message: format!(
                        "jobs row uid='{uid}', column spec: invalid JSON ({e}); the workspace database is damaged: restore it from a backup or delete the job"
                    ),
                })
            })
            .collect()
    }

    /// [`Store::jobs`] with the specs left as stored text: what listing needs, at a fraction of
    /// the cost for many jobs. A spec that is not an object's text is an error (damaged row).
    pub fn stored_jobs(&mut self, experiment: Option<&str>) -> Result<Vec<StoredJob>> {
        let jobs = self.stored_jobs_unchecked(experiment)?;
        check_specs(jobs.iter())?;
        Ok(jobs)
    }

    /// One page of [`Store::stored_jobs`]: at most `limit` jobs created after the row `after`
    /// (0: from the first), oldest first, each with its row id, which is the next page's `after`.
    /// Keyset paging on the row id: every page is an index range however deep the listing goes,
    /// and a reader that pages through 200,000 jobs holds one page at a time.
    pub fn stored_jobs_page(
        &mut self,
        experiment: Option<&str>,
        state: Option<ExecutionState>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, StoredJob)>> {
        let workspace = self.name.clone();
        let jobs = self.read(|tx| {
            let experiment_id = match experiment {
                Some(e) => Some(experiment_id(tx, e)?),
                None => None,
            };
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS} FROM jobs j JOIN experiments e ON e.id = j.experiment_id \
                 WHERE j.id > ?1 AND (?2 IS NULL OR j.experiment_id = ?2) AND (?3 IS NULL OR j.execution_state = ?3) \
                 ORDER BY j.id LIMIT ?4"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![after, experiment_id, state.map(|s| s.as_str()), limit], |r| {
                Ok((r.get::<_, i64>(ROW_ID)?, row_to_stored(&workspace, r)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        // A listing reads each page of the table once: without this, the pages it went through
        // stay in the connection's cache (up to 64 MiB, sized for bulk inserts), so a reader's
        // memory grew with the number of jobs listed until the cache was full.
        self.conn.execute_batch("PRAGMA shrink_memory")?;
        check_specs(jobs.iter().map(|(_, j)| j))?;
        Ok(jobs)
    }

    fn stored_jobs_unchecked(&mut self, experiment: Option<&str>) -> Result<Vec<StoredJob>> {
        let workspace = self.name.clone();
        self.read(|tx| {
            let read = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(ROW_ID)?, row_to_stored(&workspace, r)?));
            let mut jobs = match experiment {
                Some(e) => {
                    // The (experiment, name) index finds the rows; sorting them here is much
                    // cheaper than SQLite's ORDER BY, which sorts whole rows, specs and all.
                    let id = experiment_id(tx, e)?;
                    let mut stmt = tx.prepare(&format!(
                        "SELECT {COLUMNS} FROM jobs j JOIN experiments e ON e.id = j.experiment_id WHERE j.experiment_id = ?1"
                    ))?;
                    stmt.query_map([id], read)?.collect::<rusqlite::Result<Vec<_>>>()?
                }
                None => {
                    let mut stmt =
                        tx.prepare(&format!("SELECT {COLUMNS} FROM jobs j JOIN experiments e ON e.id = j.experiment_id ORDER BY j.id"))?;
                    stmt.query_map([], read)?.collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            jobs.sort_unstable_by_key(|(id, _)| *id);
            Ok(jobs.into_iter().map(|(_, job)| job).collect())
        })
    }

    pub fn delete_job(&mut self, experiment: &str, name: &str) -> Result<()> {
        let erased = self.write(|tx| {
            let experiment_id = experiment_id(tx, experiment)?;
            let erased = super::secrets::erase_secrets_of_jobs(
                tx,
                "experiment_id = ?1 AND name = ?2",
                params![experiment_id, name],
            )?;
            let uid: Option<String> = tx
                .query_row(
                    "DELETE FROM jobs WHERE experiment_id = ?1 AND name = ?2 RETURNING uid",
                    params![experiment_id, name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(uid) = uid else { return Err(Error::not_found_in(ResourceKind::Job, name, experiment)) };
            // Its events go with it (see `events.rs`).
            super::events::delete_events(tx, &uid)?;
            Ok(erased)
        })?;
        self.scrub_after(erased);
        Ok(())
    }
}

/// A listed job whose stored spec is not an object's text is a damaged row: say which, and what
/// to do, rather than hand the caller text it cannot parse.
fn check_specs<'a>(jobs: impl Iterator<Item = &'a StoredJob>) -> Result<()> {
    for job in jobs {
        if let Some(why) = job.spec_problem() {
            return Err(Error::Store {
                path: String::new(),
                message: format!(
                    "jobs row uid='{}', column spec: invalid JSON ({why}); the workspace database is damaged: \
                     restore it from a backup or delete the job",
                    job.uid
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::ClusterSpec;
    use crate::engine::store::testing::{at, new_store};

    fn spec(json: &str) -> JobSpec {
        serde_json::from_str(json).unwrap()
    }

    fn store_with_cluster(dir: &tempfile::TempDir) -> Store {
        let mut store = new_store(dir);
        store.create_cluster("c", &ClusterSpec::default(), at(0)).unwrap();
        store.create_experiment("e", at(0)).unwrap();
        store
    }

    #[test]
    fn job_round_trip_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        let s = spec(
            r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {"commandLine": "echo $T"}, "secrets": [{"name": "T", "value": "hunter2"}]}"#,
        );
        let job = store.create_job("e", "j", &s, at(5)).unwrap();
        assert_eq!(job.execution_state, ExecutionState::Queued);
        assert_eq!(job.tool_type, ToolType::Custom);
        assert!(job.job_output_directory_path_segment.starts_with("ws/experiments/e/jobs/j/"));
        assert!(!job.to_resource().to_string().contains("hunter2"));
        assert_eq!(store.jobs(Some("e")).unwrap().len(), 1);
        assert!(matches!(store.create_job("e", "j", &s, at(6)), Err(Error::AlreadyExists { .. })));
    }

    #[test]
    fn batch_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        let good = spec(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}}"#);
        let bad = spec(r#"{"cluster": "missing", "nodeCount": 1, "customToolkitSettings": {}}"#);
        let batch = vec![NewJob { name: "a".into(), spec: good.clone() }, NewJob { name: "b".into(), spec: bad }];
        let err = store.create_jobs("e", &batch, at(1)).unwrap_err();
        assert!(err.to_string().contains("existing cluster"), "{err}");
        assert!(store.jobs(None).unwrap().is_empty());
        let batch: Vec<NewJob> = (0..100).map(|i| NewJob { name: format!("j{i}"), spec: good.clone() }).collect();
        assert_eq!(store.create_jobs("e", &batch, at(1)).unwrap(), 100);
    }

    #[test]
    fn batch_uids_are_distinct_ordered_version_7_uuids() {
        let mut source = UidSource::new();
        let uids: Vec<String> = (0..10_000).map(|_| source.next()).collect();
        let mut sorted = uids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 10_000, "distinct");
        let one = uuid::Uuid::parse_str(&uids[0]).unwrap();
        assert_eq!(one.get_version_num(), 7);
        assert_eq!(one.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(UidSource::new().next(), UidSource::new().next());
    }

    #[test]
    fn bulk_inserts_keep_each_jobs_secrets_and_name_a_taken_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        let template = spec(
            r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}, "secrets": [{"name": "T", "value": "v"}]}"#,
        );
        let names: Vec<String> = (0..150).map(|i| format!("j{i}")).collect();
        let envs: Vec<Vec<EnvironmentVariable>> =
            (0..150).map(|i| vec![EnvironmentVariable { name: "I".into(), value: i.to_string() }]).collect();
        assert_eq!(store.create_jobs_from_template("e", &template, &names, Some(&envs), at(1)).unwrap(), 150);
        for job in store.active_jobs(0).unwrap() {
            // Each job's secret belongs to that job's row, and its own variable came with it.
            assert_eq!(store.job_secrets(job.id).unwrap(), vec![("env".into(), "T".into(), "v".into())]);
            let detail = store.job_detail(job.id).unwrap().unwrap();
            let i: usize = detail.name[1..].parse().unwrap();
            assert_eq!(detail.spec.environment_variables[0].value, i.to_string());
        }
        let again: Vec<String> = vec!["new-1".into(), "j77".into(), "new-2".into()];
        let err = store.create_jobs_from_template("e", &template, &again, None, at(2)).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { ref name, .. } if name == "j77"), "{err}");
        assert_eq!(store.active_jobs(0).unwrap().len(), 150, "nothing of the failed batch was kept");
    }

    #[test]
    fn ids_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        let s = spec(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}}"#);
        store.create_job("e", "a", &s, at(1)).unwrap();
        let first = store.active_jobs(0).unwrap()[0].id;
        store.delete_job("e", "a").unwrap();
        store.create_job("e", "b", &s, at(2)).unwrap();
        let second = store.active_jobs(first).unwrap();
        assert_eq!(second.len(), 1, "the new job must have a larger id than the deleted one");
    }

    #[test]
    fn specs_cannot_change_and_experiments_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        let s = spec(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}}"#);
        store.create_job("e", "j", &s, at(1)).unwrap();
        let err = store.write(|tx| Ok(tx.execute("UPDATE jobs SET spec = '{}'", [])?)).unwrap_err();
        assert!(err.to_string().contains("cannot be changed"), "{err}");
        store.delete_experiment("e").unwrap();
        let left: i64 =
            store.read(|tx| Ok(tx.query_row("SELECT count(*) FROM job_secrets", [], |r| r.get(0))?)).unwrap();
        assert_eq!(left, 0);
        assert!(matches!(store.jobs(Some("e")), Err(Error::NotFound { .. })));
    }

    #[test]
    fn pages_cover_every_job_once_in_order_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_cluster(&dir);
        store.create_experiment("f", at(0)).unwrap();
        let good = spec(r#"{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {}}"#);
        let batch: Vec<NewJob> = (0..25).map(|i| NewJob { name: format!("j{i:02}"), spec: good.clone() }).collect();
        store.create_jobs("e", &batch, at(1)).unwrap();
        store.create_jobs("f", &batch[..5], at(1)).unwrap();
        let mut after = 0;
        let mut names = Vec::new();
        loop {
            let page = store.stored_jobs_page(Some("e"), None, after, 10).unwrap();
            assert!(page.len() <= 10);
            let Some((last, _)) = page.last() else { break };
            after = *last;
            names.extend(page.into_iter().map(|(_, j)| j.name));
        }
        assert_eq!(names, batch.iter().map(|j| j.name.clone()).collect::<Vec<_>>());
        assert_eq!(store.stored_jobs_page(None, None, 0, 1000).unwrap().len(), 30);
        assert_eq!(store.stored_jobs_page(None, Some(ExecutionState::Queued), 0, 1000).unwrap().len(), 30);
        assert!(store.stored_jobs_page(None, Some(ExecutionState::Running), 0, 1000).unwrap().is_empty());
        assert!(matches!(store.stored_jobs_page(Some("nope"), None, 0, 1), Err(Error::NotFound { .. })));
    }
}
