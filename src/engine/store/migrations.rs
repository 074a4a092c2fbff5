//! Schema migrations, keyed on SQLite's `user_version`.
//!
//! Each entry moves the schema from version `i` to `i + 1` and runs in the same transaction as
//! the version bump, so a crash mid-migration leaves the old schema intact.

pub const MIGRATIONS: &[&str] = &[
    // 1: the Batch AI resource model.
    r#"
    CREATE TABLE workspace (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        tags TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        provisioning_state TEXT NOT NULL,
        provisioning_state_us INTEGER NOT NULL
    );
    CREATE TABLE clusters (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL DEFAULT 1 REFERENCES workspace(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        uid TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        provisioning_state TEXT NOT NULL,
        provisioning_state_us INTEGER NOT NULL,
        allocation_state TEXT NOT NULL,
        allocation_state_us INTEGER NOT NULL,
        errors TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE cluster_secrets (
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (cluster_id, name)
    );
    CREATE TABLE file_servers (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL DEFAULT 1 REFERENCES workspace(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        managed INTEGER NOT NULL,
        mount_point TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        provisioning_state TEXT NOT NULL,
        provisioning_state_us INTEGER NOT NULL
    );
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        workspace_id INTEGER NOT NULL DEFAULT 1 REFERENCES workspace(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        created_us INTEGER NOT NULL,
        provisioning_state TEXT NOT NULL,
        provisioning_state_us INTEGER NOT NULL
    );
    -- AUTOINCREMENT: ids are never reused, so "jobs above the last id seen" finds every new job
    -- even after the newest one was deleted, and ids give submission order.
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        uid TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        cluster_name TEXT NOT NULL,
        node_count INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        tool_type TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        execution_state TEXT NOT NULL,
        execution_state_us INTEGER NOT NULL,
        start_us INTEGER,
        end_us INTEGER,
        exit_code INTEGER,
        errors TEXT NOT NULL DEFAULT '[]',
        UNIQUE (experiment_id, name)
    );
    -- The agent rereads the active jobs whenever another process wrote: only those, not the
    -- history, which grows without bound.
    CREATE INDEX jobs_active ON jobs (id) WHERE execution_state IN ('queued', 'running', 'terminating');
    CREATE TABLE job_secrets (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (job_id, kind, name)
    );
    -- Batch AI had no job update: the create parameters are fixed for the job's life.
    CREATE TRIGGER jobs_are_immutable BEFORE UPDATE OF spec, name, uid, experiment_id, cluster_name, node_count, priority ON jobs
    BEGIN
        SELECT RAISE(ABORT, 'a job cannot be changed after creation');
    END;
    "#,
    // 2: execution. Nodes are owned by the agent; `terminate_requested_us` is the one column of
    // a job that clients write after creation (an intent the agent acts on).
    r#"
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY,
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        name TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        state_us INTEGER NOT NULL,
        cpus TEXT NOT NULL,
        gpus TEXT NOT NULL,
        memory_mb INTEGER,
        job_uid TEXT,
        created_us INTEGER NOT NULL
    );
    ALTER TABLE jobs ADD COLUMN terminate_requested_us INTEGER;
    ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN node_names TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE jobs ADD COLUMN output_paths TEXT NOT NULL DEFAULT '{}';
    "#,
    // 3: what happened and why. `events` is an append-only log of state changes (jobs, nodes,
    // clusters), written in the transaction that makes the change; `from_state` is NULL for a
    // creation. `resource` is `experiment/job` for jobs, the node or cluster name otherwise. `uid`
    // is the job's uid for jobs and the cluster's uid for clusters and their nodes: reads and
    // deletes go by it, and uids of a bulk submission ascend, so the index grows at its end
    // instead of taking inserts all over (see `store/events.rs`).
    // `wait_reason` and `expected_start_us` say why a queued job waits and when it starts at the
    // latest, as the agent's scheduler last saw it; NULL once it is no longer queued.
    r#"
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        kind TEXT NOT NULL,
        resource TEXT NOT NULL,
        uid TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_by_uid ON events (uid);
    ALTER TABLE jobs ADD COLUMN wait_reason TEXT;
    ALTER TABLE jobs ADD COLUMN expected_start_us INTEGER;
    "#,
    // 4: notices for the agent. A client's
    // terminate request and the deletion of an active job (directly, or through its experiment,
    // cluster or workspace) append a row here by trigger, in the client's own transaction, so
    // the agent learns of them by reading rows after the last one it saw instead of rescanning
    // every active job after each commit.
    // `agent_state` holds what the agent must know across its restarts: which launcher
    // (supervisor) instance ran the jobs recorded as running, so a new agent tells a launcher
    // that survived from one that was replaced, whoever started it.
    r#"
    CREATE TABLE agent_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE agent_notices (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE TRIGGER jobs_notice_terminate AFTER UPDATE OF terminate_requested_us ON jobs
        WHEN OLD.terminate_requested_us IS NULL AND NEW.terminate_requested_us IS NOT NULL
    BEGIN
        INSERT INTO agent_notices (job_id, kind) VALUES (NEW.id, 'terminate');
    END;
    CREATE TRIGGER jobs_notice_delete AFTER DELETE ON jobs
        WHEN OLD.execution_state IN ('queued', 'running', 'terminating')
    BEGIN
        INSERT INTO agent_notices (job_id, kind) VALUES (OLD.id, 'deleted');
    END;
    "#,
    // 5: sweeps. A sweep belongs to an experiment and goes with it. `cancel_requested_us` and
    // `max_trials` are what clients write after creation (intents the agent acts on); the rest
    // is the agent's. A trial is written with its job, in one transaction, and keeps the job's
    // id and name after the job is deleted. `offsets` are the bytes of the job's metrics files
    // already stored in `sweep_metrics` (committed together, so nothing is stored twice).
    // `interval` counts a trial's values of one metric (Azure ML's early-termination interval);
    // `value` NULL is NaN.
    r#"
    CREATE TABLE sweeps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        max_trials INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        created_us INTEGER NOT NULL,
        ended_us INTEGER,
        cancel_requested_us INTEGER,
        UNIQUE (experiment_id, name)
    );
    CREATE TABLE sweep_trials (
        sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        trial INTEGER NOT NULL,
        params TEXT NOT NULL,
        job_id INTEGER NOT NULL,
        job_name TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        offsets TEXT NOT NULL DEFAULT '{}',
        created_us INTEGER NOT NULL,
        launched_us INTEGER,
        ended_us INTEGER,
        ingest_lag_us INTEGER,
        decision_lag_us INTEGER,
        PRIMARY KEY (sweep_id, trial)
    );
    CREATE INDEX sweep_trials_by_job ON sweep_trials (job_id);
    CREATE TABLE sweep_metrics (
        sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        trial INTEGER NOT NULL,
        name TEXT NOT NULL,
        step INTEGER,
        interval INTEGER NOT NULL,
        value REAL,
        time REAL NOT NULL
    );
    CREATE INDEX sweep_metrics_by_trial ON sweep_metrics (sweep_id, trial);
    "#,
];
