//! The workspace store: one SQLite file per workspace, the single source of truth.
//!
//! Theory of operation:
//! - WAL journal, foreign keys on, a long busy timeout, and every write in one `BEGIN IMMEDIATE`
//!   transaction: writers from several processes queue for the lock instead of failing, and a
//!   reader never sees half of a change. A crash mid-write rolls the whole change back.
//! - The schema is versioned by `PRAGMA user_version` (see `migrations`); opening a store brings
//!   it up to date, in a transaction.
//! - Times are stored as integer microseconds since the epoch (the precision Python's datetime
//!   keeps); specs as JSON text without secrets, which live in their own tables.
//! - Functions that change state take `now` as an argument so tests can pin time.
//! - The workspace is private to its owner (`permissions`), and secret values are erased when
//!   they are no longer needed, leaving no copy in the database files (`secrets`).

mod agent;
mod change_events;
mod clusters;
mod columns;
mod events;
mod experiments;
mod file_servers;
mod jobs;
pub mod migrations;
mod nodes;
pub mod permissions;
pub mod reserve;
mod secrets;
mod sweeps;
mod workspace;

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::Timestamp;
use crate::engine::paths::Layout;
use crate::engine::scheduler::slices::{Machine, SlicePolicy};

pub use agent::{ActiveJob, Change, ClusterRow, JobDetail, Notice};
pub use events::Event;
pub use jobs::NewJob;
pub use nodes::{Node, NodeState};
pub use sweeps::{StoredPoint, SweepChange, SweepRow, TrialRow};

/// How a store error caused by a full file system starts (see [`Error::is_no_space`]).
pub const NO_SPACE: &str = "no space left on device";

/// How long a writer waits for another process's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Store {
    conn: Connection,
    layout: Layout,
    name: String,
    /// The machine jobs run on, when the caller gave it: creates then reject node shapes and
    /// node counts it can never host (see `scheduler::capacity`).
    machine: Option<(Machine, SlicePolicy)>,
    /// The connection's busy timeout, restored after a scrub waited less (see `secrets`).
    busy_timeout: Duration,
    /// Secrets were erased but a checkpoint could not yet empty the WAL (see `secrets`).
    scrub_pending: bool,
    /// The agent's store keeps space back for its commits (see `reserve`): when to look at the
    /// reserve file next. None for clients.
    reserve_check: Option<Instant>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("workspace", &self.name).field("root", &self.layout.root).finish()
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let message = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                format!("another process held the workspace database for more than {} s", BUSY_TIMEOUT.as_secs())
            }
            Some(rusqlite::ErrorCode::DiskFull) => format!(
                "{NO_SPACE}: the file system holding it is full, so nothing of this change was written \
                 (free some space there and try again)"
            ),
            _ => match columns::damaged(&e) {
                Some(damaged) => damaged.to_string(),
                None => e.to_string(),
            },
        };
        Error::Store { path: String::new(), message }
    }
}

pub(crate) fn us(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

fn open_connection(path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
        // SQLite gives `-wal` and `-shm` the mode of the database file: make that 0600 first.
        permissions::create_private_file(path)
            .map_err(|e| Error::Store { path: String::new(), message: format!("creating the database file: {e}") })?;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers run beside the one writer; NORMAL sync is crash-safe for the process
    // (a killed writer loses nothing committed) and fsyncs at checkpoints.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Deleted content is overwritten with zeros, so an erased secret leaves no bytes behind in
    // the page it was on (see `secrets`).
    conn.pragma_update(None, "secure_delete", true)?;
    // Up to 64 MiB of pages in memory (allocated as used): the uid index takes random inserts,
    // and a workspace with 100k jobs should not reread it from disk on every batch.
    conn.pragma_update(None, "cache_size", -65_536)?;
    // A checkpoint copies the WAL into the database and syncs; whoever commits past the
    // threshold pays for it. Clients only do it past 64 MiB, a safety net: the agent, which
    // writes after every wake-up, keeps SQLite's 4 MiB (see `Store::checkpoint_often`), so
    // submitting returns once the jobs are committed, without the background copy.
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    Ok(conn)
}

impl Store {
    /// Create a new workspace in `layout.root`. Fails if one is there already.
    pub fn create(
        layout: Layout,
        name: &str,
        tags: &crate::engine::model::workspace::Tags,
        now: Timestamp,
    ) -> Result<Store> {
        crate::engine::model::validate::name("name", name)?;
        crate::engine::model::workspace::validate_tags(tags)?;
        if crate::engine::paths::exists(&layout.root) {
            return Err(Error::AlreadyExists {
                kind: ResourceKind::Workspace,
                name: name.to_string(),
                parent: None,
                detail: Some(format!("workspace '{name}' already exists at {}", layout.root.display())),
            });
        }
        permissions::create_root(&layout.root).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::invalid(
                "path",
                format!("{:?}", layout.root.display().to_string()),
                "must be a new or empty folder: this one already holds files, and a workspace makes its \
                 folder private (0700); give a folder of its own, for example a new one inside it",
            ),
            _ => Error::file("creating the workspace folder", &layout.root, e),
        })?;
        let mut store = Store::connect(layout, true)?;
        store.insert_workspace(name, tags, now)?;
        store.name = name.to_string();
        Ok(store)
    }

    /// Open the workspace in `layout.root`.
    pub fn open(layout: Layout) -> Result<Store> {
        if !crate::engine::paths::exists(&layout.root) {
            let name = layout.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let named = named_workspaces(&layout.root, &name);
            return Err(Error::WorkspaceNotFound { name, path: layout.root.display().to_string(), named });
        }
        permissions::fix_existing(&layout);
        let mut store = Store::connect(layout, false)?;
        store.name = store.read_workspace_name()?;
        Ok(store)
    }

    /// Open the workspace, creating it (without tags) if it does not exist yet.
    pub fn open_or_create(layout: Layout, name: &str, now: Timestamp) -> Result<Store> {
        match Store::create(layout.clone(), name, &Default::default(), now) {
            Err(Error::AlreadyExists { .. }) => Store::open(layout),
            other => other,
        }
    }

    fn connect(layout: Layout, create: bool) -> Result<Store> {
        let path = layout.db();
        let mut conn = open_connection(&path, create).map_err(|e| with_path(e, &path))?;
        migrate(&mut conn).map_err(|e| with_path(e, &path))?;
        Ok(Store {
            conn,
            layout,
            name: String::new(),
            machine: None,
            busy_timeout: BUSY_TIMEOUT,
            scrub_pending: false,
            reserve_check: None,
        })
    }

    /// For the agent's connection: checkpoint at SQLite's default 1000 pages (see
    /// `open_connection`), so the WAL stays small without clients paying for it.
    pub fn checkpoint_often(&mut self) -> Result<()> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 1_000)?;
        // The agent reads each job row about once (new jobs, then by id when placed): a small
        // page cache does, and keeps its memory flat however long the queue (64 MiB would be
        // filled by a 100,000-job backlog and kept).
        self.conn.pragma_update(None, "cache_size", -2_048)?;
        Ok(())
    }

    /// For the agent's store: keep space back for its own commits from now on (see `reserve`).
    pub fn keep_reserve(&mut self) {
        self.reserve_check = Some(Instant::now());
        self.check_reserve();
    }

    /// Make the reserve again if it is missing and its next check is due (the agent calls this
    /// each turn; it costs a `stat` every [`reserve::RETRY_EVERY`]).
    pub fn check_reserve(&mut self) {
        let Some(at) = self.reserve_check else { return };
        if Instant::now() < at {
            return;
        }
        self.reserve_check = Some(Instant::now() + reserve::RETRY_EVERY);
        reserve::ensure(&self.layout.root);
    }

    /// A write failed for want of space: free the reserve so that trying again can succeed.
    /// Returns whether there was a reserve to free (never for a client's store).
    pub fn release_reserve(&mut self) -> bool {
        if self.reserve_check.is_none() || !reserve::release(&self.layout.root) {
            return false;
        }
        self.reserve_check = Some(Instant::now() + reserve::RETRY_EVERY);
        tracing::warn!(
            "the file system of workspace {} is full: released its {} MiB reserve so that the agent can \
             record what its jobs do; free some space there (the reserve is made again once there is room)",
            self.layout.root.display(),
            reserve::RESERVE_BYTES >> 20
        );
        true
    }

    /// How long a writer waits for another process's transaction (tests shorten it).
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.conn.busy_timeout(timeout)?;
        self.busy_timeout = timeout;
        Ok(())
    }

    /// Check creates against this machine from now on (clients set it; the agent, which creates
    /// nothing, does not).
    pub fn set_machine(&mut self, machine: Machine, policy: SlicePolicy) {
        self.machine = Some((machine, policy));
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn workspace_name(&self) -> &str {
        &self.name
    }

    /// Run `f` in one immediate (write-locking) transaction and commit it.
    pub(crate) fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.transaction(TransactionBehavior::Immediate, f)
    }

    /// Run `f` in one read transaction, so it sees a single snapshot.
    pub(crate) fn read<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    /// The names of the resources of `kind` (of `experiment` for jobs and sweeps), oldest first,
    /// at most `limit`, and how many there are in all: for messages that say what exists.
    pub fn names(
        &mut self,
        kind: ResourceKind,
        experiment: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, usize)> {
        let (from, filter) = match kind {
            ResourceKind::Cluster => ("clusters", None),
            ResourceKind::FileServer => ("file_servers", None),
            ResourceKind::Experiment => ("experiments", None),
            ResourceKind::Job => ("jobs", experiment),
            ResourceKind::Sweep => ("sweeps", experiment),
            ResourceKind::Node | ResourceKind::Workspace => return Ok((Vec::new(), 0)),
        };
        let scope = match filter {
            Some(_) => " WHERE experiment_id = (SELECT id FROM experiments WHERE name = ?1)",
            None => " WHERE ?1 IS NULL",
        };
        self.read(|tx| {
            let total: i64 = tx.query_row(&format!("SELECT count(*) FROM {from}{scope}"), [filter], |r| r.get(0))?;
            let mut statement = tx.prepare(&format!("SELECT name FROM {from}{scope} ORDER BY id LIMIT {limit}"))?;
            let names = statement.query_map([filter], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok((names, total as usize))
        })
    }

    fn transaction<T>(
        &mut self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let result = (|| {
            let tx = self.conn.transaction_with_behavior(behavior)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|e| with_path(e, &self.layout.db()))
    }
}

/// The named workspaces (folders holding one under `$BATCHAI_HOME/workspaces`), when `root` is
/// where the one called `name` would be; None for a workspace at a path of its own.
fn named_workspaces(root: &Path, name: &str) -> Option<Vec<String>> {
    let expected = crate::engine::paths::named_workspace(name).ok()?;
    if expected != root {
        return None;
    }
    let folder = expected.parent()?;
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| Layout::new(e.path()).db().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Some(names)
}

/// Name the database file in store errors (rusqlite's errors do not).
fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Store { message, .. } => Error::Store { path: path.display().to_string(), message },
        other => other,
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let known = migrations::MIGRATIONS.len() as i64;
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current == known {
        return Ok(());
    }
    if current > known {
        return Err(Error::Store {
            path: String::new(),
            message: format!(
                "schema version {current} was written by a newer batchai (this one knows up to {known}); upgrade batchai"
            ),
        });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while this one waited for the lock.
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in migrations::MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Map a UNIQUE violation to "already exists", for races between a check and an insert.
pub(crate) fn unique_violation(e: rusqlite::Error, kind: ResourceKind, name: &str) -> Error {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) if e.to_string().contains("UNIQUE") => {
            Error::already_exists(kind, name)
        }
        _ => e.into(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn at(seconds: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    pub fn new_store(dir: &tempfile::TempDir) -> Store {
        Store::create(Layout::new(dir.path().join("ws")), "ws", &Default::default(), at(0)).unwrap()
    }
}
