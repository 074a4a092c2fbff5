//! Cluster rows and their setup-task secrets.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::EngineKind;
use crate::engine::model::cluster::{AllocationState, NodeStateCounts, ScaleSettings};
use crate::engine::model::mounts::MountVolumes;
use crate::engine::model::{Cluster, ClusterSpec, Timestamp, validate};

use super::columns::Cells;
use super::workspace::provisioning_state;
use super::{Store, unique_violation, us};

const COLUMNS: &str = "name, uid, spec, created_us, provisioning_state, provisioning_state_us, allocation_state, allocation_state_us, errors, id";

/// Fill in the node counts, which live in the nodes table.
fn with_counts(tx: &Transaction<'_>, (id, mut cluster): (i64, Cluster)) -> rusqlite::Result<Cluster> {
    let (total, counts) = super::nodes::counts(tx, id)?;
    cluster.current_node_count = total;
    cluster.node_state_counts = counts;
    Ok(cluster)
}

fn row_to_cluster(workspace: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Cluster)> {
    let c = Cells::new(r, "clusters", 0);
    let name: String = c.get(0)?;
    let uid: String = c.get(1)?;
    let id: i64 = c.get(9)?;
    Ok((
        id,
        Cluster {
            workspace: workspace.to_string(),
            std_out_err_path_suffix: format!("{workspace}/clusters/{name}/{uid}"),
            name,
            spec: c.json(2)?,
            creation_time: c.time(3)?,
            provisioning_state: provisioning_state(&c, 4)?,
            provisioning_state_transition_time: c.time(5)?,
            allocation_state: allocation_state(&c, 6)?,
            allocation_state_transition_time: c.time(7)?,
            current_node_count: 0,
            node_state_counts: NodeStateCounts::default(),
            errors: c.json(8)?,
        },
    ))
}

/// `steady` or `resizing`.
pub(crate) fn allocation_state(c: &Cells<'_, '_>, idx: usize) -> rusqlite::Result<AllocationState> {
    c.parsed(idx, "an allocation state (steady or resizing)", |text| match text {
        "steady" => Some(AllocationState::Steady),
        "resizing" => Some(AllocationState::Resizing),
        _ => None,
    })
}

/// Every file server a set of mount volumes names must exist in this workspace.
pub(crate) fn check_file_server_refs(
    tx: &Transaction<'_>,
    workspace: &str,
    volumes: Option<&MountVolumes>,
    prefix: &str,
) -> Result<()> {
    let Some(volumes) = volumes else { return Ok(()) };
    for (i, reference) in volumes.file_servers.iter().enumerate() {
        let field = format!("{prefix}fileServers[{i}].fileServer");
        let target = reference.file_server.parse(&field, "fileServers")?;
        if target.workspace.as_deref().is_some_and(|ws| ws != workspace) {
            validate::fail(
                &field,
                &reference.file_server.id,
                &format!("must name a file server of this workspace ('{workspace}')"),
            )?;
        }
        let found: Option<i64> =
            tx.query_row("SELECT id FROM file_servers WHERE name = ?1", [&target.name], |r| r.get(0)).optional()?;
        if found.is_none() {
            validate::fail(&field, &reference.file_server.id, "must name an existing file server")?;
        }
    }
    Ok(())
}

impl Store {
    pub fn create_cluster(&mut self, name: &str, spec: &ClusterSpec, now: Timestamp) -> Result<Cluster> {
        validate::name("name", name)?;
        spec.validate()?;
        // A Slurm node's shape is a node of the partition, not of this machine.
        if let Some((machine, policy)) = self.machine.as_ref().filter(|_| spec.engine == EngineKind::Local) {
            crate::engine::scheduler::capacity::check_node_shape(machine, &spec.node_shape, *policy)?;
        }
        let workspace = self.name.clone();
        let spec_json = serde_json::to_string(spec).expect("cluster spec serializes");
        let uid = uuid::Uuid::new_v4().simple().to_string();
        self.write(|tx| {
            Store::ensure_usable(tx, &workspace)?;
            let volumes = spec.node_setup.as_ref().and_then(|s| s.mount_volumes.as_ref());
            check_file_server_refs(tx, &workspace, volumes, "nodeSetup.mountVolumes.")?;
            tx.execute(
                "INSERT INTO clusters (name, uid, spec, created_us, provisioning_state, provisioning_state_us, allocation_state, allocation_state_us)
                 VALUES (?1, ?2, ?3, ?4, 'succeeded', ?4, 'steady', ?4)",
                params![name, uid, spec_json, us(now)],
            )
            .map_err(|e| unique_violation(e, ResourceKind::Cluster, name))?;
            let id = tx.last_insert_rowid();
            for secret in spec.setup_secrets() {
                tx.execute(
                    "INSERT INTO cluster_secrets (cluster_id, name, value) VALUES (?1, ?2, ?3)",
                    params![id, secret.name, secret.value.as_deref().unwrap_or_default()],
                )?;
            }
            Ok(())
        })?;
        self.cluster(name)
    }

    pub fn cluster(&mut self, name: &str) -> Result<Cluster> {
        let workspace = self.name.clone();
        let found = self.read(|tx| {
            let row = tx
                .query_row(&format!("SELECT {COLUMNS} FROM clusters WHERE name = ?1"), [name], |r| {
                    row_to_cluster(&workspace, r)
                })
                .optional()?;
            Ok(row.map(|row| with_counts(tx, row)).transpose()?)
        })?;
        found.ok_or_else(|| Error::not_found(ResourceKind::Cluster, name))
    }

    pub fn clusters(&mut self) -> Result<Vec<Cluster>> {
        let workspace = self.name.clone();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM clusters ORDER BY name"))?;
            let rows = stmt.query_map([], |r| row_to_cluster(&workspace, r))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows.into_iter().map(|row| with_counts(tx, row)).collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Batch AI's cluster PATCH: new scale settings (resize, or switch manual/auto).
    pub fn set_scale_settings(&mut self, name: &str, settings: &ScaleSettings, now: Timestamp) -> Result<Cluster> {
        settings.validate("scaleSettings.")?;
        let mut cluster = self.cluster(name)?;
        cluster.spec.scale_settings = settings.clone();
        let spec_json = serde_json::to_string(&cluster.spec).expect("cluster spec serializes");
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE clusters SET spec = ?2, allocation_state = 'resizing', allocation_state_us = ?3 WHERE name = ?1",
                params![name, spec_json, us(now)],
            )?;
            if n == 0 {
                return Err(Error::not_found(ResourceKind::Cluster, name));
            }
            Ok(())
        })?;
        self.cluster(name)
    }

    pub fn delete_cluster(&mut self, name: &str) -> Result<()> {
        let erased = self.write(|tx| {
            let uid: Option<String> =
                tx.query_row("SELECT uid FROM clusters WHERE name = ?1", [name], |r| r.get(0)).optional()?;
            let Some(uid) = uid else { return Err(Error::not_found(ResourceKind::Cluster, name)) };
            let erased = super::secrets::erase_cluster_secrets(tx, name)?;
            tx.execute("DELETE FROM clusters WHERE name = ?1", [name])?;
            // Its own and its nodes' events go with it (see `events.rs`).
            super::events::delete_events(tx, &uid)?;
            Ok(erased)
        })?;
        self.scrub_after(erased);
        Ok(())
    }

    /// Setup-task secrets, for the launcher only.
    pub fn cluster_secrets(&mut self, name: &str) -> Result<Vec<(String, String)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT s.name, s.value FROM cluster_secrets s JOIN clusters c ON c.id = s.cluster_id WHERE c.name = ?1 ORDER BY s.name",
            )?;
            let rows = stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::error::Error;
    use crate::engine::model::ClusterSpec;
    use crate::engine::store::testing::{at, new_store};

    #[test]
    fn create_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let spec: ClusterSpec = serde_json::from_str(
            r#"{"nodeShape": {"cpus": 1}, "nodeSetup": {"setupTask": {"commandLine": "true", "secrets": [{"name": "K", "value": "v"}]}}}"#,
        )
        .unwrap();
        let created = store.create_cluster("c1", &spec, at(1)).unwrap();
        assert_eq!(created.creation_time, at(1));
        assert!(created.std_out_err_path_suffix.starts_with("ws/clusters/c1/"));
        assert!(matches!(store.create_cluster("c1", &spec, at(2)), Err(Error::AlreadyExists { .. })));
        assert_eq!(store.clusters().unwrap().len(), 1);
        assert_eq!(store.cluster_secrets("c1").unwrap(), vec![("K".to_string(), "v".to_string())]);
        assert!(!created.to_resource().to_string().contains("\"v\""));
        store.delete_cluster("c1").unwrap();
        assert!(matches!(store.cluster("c1"), Err(Error::NotFound { .. })));
        assert!(matches!(store.delete_cluster("c1"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn mounts_must_name_existing_file_servers() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let spec: ClusterSpec = serde_json::from_str(
            r#"{"nodeSetup": {"mountVolumes": {"fileServers": [{"fileServer": "nfs", "relativeMountPath": "nfs"}]}}}"#,
        )
        .unwrap();
        let err = store.create_cluster("c", &spec, at(1)).unwrap_err();
        assert!(err.to_string().contains("nodeSetup.mountVolumes.fileServers[0].fileServer"), "{err}");
        assert!(store.clusters().unwrap().is_empty());
    }
}
