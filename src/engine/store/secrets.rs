//! Secrets at rest: kept only while they can still be used, and then gone from every file.
//!
//! Theory of operation. A job's secret values (`secrets`, a registry password) live in
//! `job_secrets` and a cluster's setup-task secrets in `cluster_secrets`; specs hold only names.
//! A job's values are erased in the transaction that ends the job (`Change::JobFinished`), not
//! when it starts: a job requeued when its cluster shrinks runs again and needs them. Deleting a
//! job, an experiment, a cluster or every resource of the workspace erases them too.
//!
//! Deleting a row is not enough to forget it: SQLite leaves the bytes in the freed space of the
//! page, and in WAL mode every page image written since the last checkpoint stays in `-wal`.
//! So every connection runs with `secure_delete` (deleted content is overwritten with zeros),
//! and a commit that erased secrets is followed by a checkpoint with `TRUNCATE` ([`Store::scrub`]):
//! the zeroed pages are copied into the database file and the WAL is emptied to zero bytes.
//! (`-shm` holds only the WAL's index, never row content.)
//!
//! A checkpoint syncs the database file, which costs milliseconds: a client's delete scrubs at
//! once, but `Store::apply` (the agent's turns, which end jobs by the hundred per second) only
//! records that a scrub is owed, and the agent decides when to pay for it (`agent::core::scrub`).
//! A checkpoint cannot finish while another connection reads an older snapshot; it waits a
//! moment for readers and otherwise stays owed, so a long reader delays the scrub but never
//! blocks the writer.

use std::time::Duration;

use rusqlite::Transaction;

use crate::engine::error::Result;

use super::Store;

/// How long a scrubbing checkpoint waits for readers of older snapshots before leaving the
/// scrub for the next write.
const SCRUB_WAIT: Duration = Duration::from_millis(200);

/// Erase the secret values of job `id`; returns how many there were.
pub(crate) fn erase_job_secrets(tx: &Transaction<'_>, id: i64) -> Result<usize> {
    Ok(tx.prepare_cached("DELETE FROM job_secrets WHERE job_id = ?1")?.execute([id])?)
}

/// Erase the secret values of the jobs `job_filter` selects (an SQL condition on `jobs`, with
/// the statement's parameters); returns how many there were.
pub(crate) fn erase_secrets_of_jobs(
    tx: &Transaction<'_>,
    job_filter: &str,
    params: impl rusqlite::Params,
) -> Result<usize> {
    let sql = format!("DELETE FROM job_secrets WHERE job_id IN (SELECT id FROM jobs WHERE {job_filter})");
    Ok(tx.execute(&sql, params)?)
}

/// Erase the setup-task secrets of the cluster named `name`.
pub(crate) fn erase_cluster_secrets(tx: &Transaction<'_>, name: &str) -> Result<usize> {
    Ok(tx
        .execute("DELETE FROM cluster_secrets WHERE cluster_id IN (SELECT id FROM clusters WHERE name = ?1)", [name])?)
}

impl Store {
    /// After a client's commit that erased `erased` secret values (or when a scrub is still
    /// owed): scrub now. Best effort: the erasure is committed whatever happens here.
    pub(super) fn scrub_after(&mut self, erased: usize) {
        if erased > 0 || self.scrub_pending {
            self.scrub_pending = true;
            self.scrub();
        }
    }

    /// Whether erased secret values may still be in the database files.
    pub fn scrub_owed(&self) -> bool {
        self.scrub_pending
    }

    /// Checkpoint so no copy of an erased secret is left in the database files; true when done
    /// (or nothing was owed), false when a reader of an older snapshot kept the WAL.
    pub fn scrub(&mut self) -> bool {
        if self.scrub_pending {
            self.scrub_pending = !self.checkpoint_truncate().unwrap_or(false);
        }
        !self.scrub_pending
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`, waiting at most [`SCRUB_WAIT`] for readers; true
    /// when every frame was copied and the WAL emptied.
    fn checkpoint_truncate(&mut self) -> Result<bool> {
        self.conn.busy_timeout(SCRUB_WAIT)?;
        let result: rusqlite::Result<(i64, i64, i64)> =
            self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)));
        self.conn.busy_timeout(self.busy_timeout)?;
        let (busy, _log, _checkpointed) = result?;
        Ok(busy == 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::model::{ClusterSpec, JobSpec};
    use crate::engine::store::testing::{at, new_store};
    use crate::engine::store::{Change, Store};

    /// Every byte of the database's files, to look for a value in.
    fn raw_files(store: &Store) -> Vec<(String, Vec<u8>)> {
        let db = store.layout().db();
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let path = format!("{}{suffix}", db.display());
                std::fs::read(&path).ok().map(|bytes| (path, bytes))
            })
            .collect()
    }

    fn found_in_files(store: &Store, value: &str) -> Vec<String> {
        raw_files(store)
            .into_iter()
            .filter(|(_, bytes)| bytes.windows(value.len()).any(|w| w == value.as_bytes()))
            .map(|(path, _)| path)
            .collect()
    }

    fn job_spec(secret: &str) -> JobSpec {
        serde_json::from_str(&format!(
            r#"{{"cluster": "c", "nodeCount": 1, "customToolkitSettings": {{"commandLine": "true"}},
                "secrets": [{{"name": "TOKEN", "value": "{secret}"}}],
                "containerSettings": {{"imageSourceRegistry": {{"image": "i",
                    "credentials": {{"username": "u", "password": "{secret}-registry"}}}}}}}}"#
        ))
        .unwrap()
    }

    fn setup(store: &mut Store) {
        store.create_cluster("c", &ClusterSpec::default(), at(0)).unwrap();
        store.create_experiment("e", at(0)).unwrap();
    }

    #[test]
    fn a_finished_jobs_secrets_are_gone_from_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        setup(&mut store);
        // Many jobs, so the secrets span several pages and the WAL holds many page images; the
        // store checkpoints as the agent's does, so some are in the database file already.
        store.checkpoint_often().unwrap();
        let values: Vec<String> = (0..300).map(|i| format!("zq-secret-{i:04}-{}", "x".repeat(40))).collect();
        for (i, value) in values.iter().enumerate() {
            store.create_job("e", &format!("j{i}"), &job_spec(value), at(1)).unwrap();
        }
        assert!(!found_in_files(&store, &values[7]).is_empty(), "the test must see a stored value");
        let ids: Vec<i64> = store.active_jobs(0).unwrap().iter().map(|j| j.id).collect();
        // Requeueing keeps the secrets: the job runs again.
        store
            .apply(&[Change::JobRunning { id: ids[0], attempt: 1, nodes: vec![], outputs: Default::default() }], at(2))
            .unwrap();
        store.apply(&[Change::JobRequeued { id: ids[0] }], at(3)).unwrap();
        assert_eq!(store.job_secrets(ids[0]).unwrap().len(), 2);
        // One turn ends half of the jobs, another the rest.
        let finish = |ids: &[i64]| -> Vec<Change> {
            ids.iter()
                .map(|&id| Change::JobFinished { id, succeeded: true, exit_code: Some(0), errors: vec![] })
                .collect()
        };
        store.apply(&finish(&ids[..150]), at(4)).unwrap();
        assert_eq!(store.job_secrets(ids[0]).unwrap(), vec![]);
        assert!(store.scrub_owed(), "the agent's commit leaves the checkpoint to the agent");
        assert!(store.scrub());
        for value in &values[..150] {
            assert_eq!(found_in_files(&store, value), Vec::<String>::new(), "{value}");
            assert_eq!(found_in_files(&store, &format!("{value}-registry")), Vec::<String>::new());
        }
        assert!(!found_in_files(&store, &values[200]).is_empty(), "running jobs keep theirs");
        store.apply(&finish(&ids[150..]), at(5)).unwrap();
        assert!(store.scrub());
        for value in &values {
            assert_eq!(found_in_files(&store, value), Vec::<String>::new(), "{value}");
        }
        assert!(!store.scrub_owed());
    }

    #[test]
    fn deleting_jobs_experiments_clusters_and_everything_erases_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        setup(&mut store);
        store.create_experiment("f", at(0)).unwrap();
        store.create_job("e", "a", &job_spec("zq-job-delete-value"), at(1)).unwrap();
        store.create_job("f", "b", &job_spec("zq-experiment-delete-value"), at(1)).unwrap();
        store.create_job("e", "c", &job_spec("zq-clear-value"), at(1)).unwrap();
        let setup_task: ClusterSpec = serde_json::from_str(
            r#"{"nodeSetup": {"setupTask": {"commandLine": "true", "secrets": [{"name": "K", "value": "zq-cluster-value"}]}}}"#,
        )
        .unwrap();
        store.create_cluster("d", &setup_task, at(1)).unwrap();
        store.create_cluster("g", &setup_task, at(1)).unwrap();
        for value in ["zq-job-delete-value", "zq-experiment-delete-value", "zq-clear-value", "zq-cluster-value"] {
            assert!(!found_in_files(&store, value).is_empty(), "{value} must be stored first");
        }

        store.delete_job("e", "a").unwrap();
        assert_eq!(found_in_files(&store, "zq-job-delete-value"), Vec::<String>::new());
        store.delete_experiment("f").unwrap();
        assert_eq!(found_in_files(&store, "zq-experiment-delete-value"), Vec::<String>::new());
        store.delete_cluster("d").unwrap();
        assert!(!found_in_files(&store, "zq-cluster-value").is_empty(), "cluster g still has it");
        store.delete_cluster("g").unwrap();
        assert_eq!(found_in_files(&store, "zq-cluster-value"), Vec::<String>::new());
        assert!(!found_in_files(&store, "zq-clear-value").is_empty());
        store.clear().unwrap();
        assert_eq!(found_in_files(&store, "zq-clear-value"), Vec::<String>::new());
    }

    #[test]
    fn a_reader_on_an_old_snapshot_delays_the_scrub() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        setup(&mut store);
        store.create_job("e", "a", &job_spec("zq-delayed-value"), at(1)).unwrap();
        let id = store.active_jobs(0).unwrap()[0].id;
        // Another process reads the store while the job ends.
        let reader = rusqlite::Connection::open(store.layout().db()).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM jobs;").unwrap();
        store.apply(&[Change::JobFinished { id, succeeded: true, exit_code: Some(0), errors: vec![] }], at(2)).unwrap();
        assert!(!store.scrub(), "the reader's snapshot keeps the WAL");
        assert!(store.scrub_owed());
        assert!(!found_in_files(&store, "zq-delayed-value").is_empty());
        reader.execute_batch("COMMIT").unwrap();
        drop(reader);
        assert!(store.scrub());
        assert!(!store.scrub_owed());
        assert_eq!(found_in_files(&store, "zq-delayed-value"), Vec::<String>::new());
    }
}
