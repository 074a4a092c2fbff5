//! The workspace row: name, tags, provisioning state.

use rusqlite::{OptionalExtension, params};

use crate::engine::error::{Error, Result};
use crate::engine::model::workspace::{Tags, validate_tags};
use crate::engine::model::{ProvisioningState, Timestamp, Workspace};

use super::columns::Cells;
use super::{Store, us};

/// A provisioning state column, e.g. `succeeded`.
pub(crate) fn provisioning_state(cells: &Cells<'_, '_>, idx: usize) -> rusqlite::Result<ProvisioningState> {
    cells.parsed(idx, "a provisioning state", |text| {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    })
}

impl Store {
    pub(super) fn insert_workspace(&mut self, name: &str, tags: &Tags, now: Timestamp) -> Result<()> {
        let tags_json = serde_json::to_string(tags).expect("tags serialize");
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO workspace (id, name, tags, created_us, provisioning_state, provisioning_state_us)
                 VALUES (1, ?1, ?2, ?3, 'succeeded', ?3)",
                params![name, tags_json, us(now)],
            )?;
            if inserted == 0 {
                return Err(Error::already_exists(crate::engine::ResourceKind::Workspace, name));
            }
            Ok(())
        })
    }

    pub(super) fn read_workspace_name(&mut self) -> Result<String> {
        let name: Option<String> = self
            .read(|tx| Ok(tx.query_row("SELECT name FROM workspace WHERE id = 1", [], |r| r.get(0)).optional()?))?;
        name.ok_or_else(|| Error::Store {
            path: self.layout.db().display().to_string(),
            message: "the workspace row is missing".into(),
        })
    }

    pub fn workspace(&mut self) -> Result<Workspace> {
        let root = self.layout.root.display().to_string();
        self.read(|tx| {
            Ok(tx.query_row(
                "SELECT name, tags, created_us, provisioning_state, provisioning_state_us FROM workspace WHERE id = 1",
                [],
                |r| {
                    let c = Cells::new(r, "workspace", 0);
                    Ok(Workspace {
                        name: c.get(0)?,
                        path: root.clone(),
                        tags: c.json(1)?,
                        creation_time: c.time(2)?,
                        provisioning_state: provisioning_state(&c, 3)?,
                        provisioning_state_transition_time: c.time(4)?,
                    })
                },
            )?)
        })
    }

    /// Batch AI's workspace PATCH: tags only.
    pub fn set_tags(&mut self, tags: &Tags) -> Result<Workspace> {
        validate_tags(tags)?;
        let tags_json = serde_json::to_string(tags).expect("tags serialize");
        self.write(|tx| Ok(tx.execute("UPDATE workspace SET tags = ?1 WHERE id = 1", [tags_json])?))?;
        self.workspace()
    }

    /// Mark the workspace as being deleted: clients stop creating things in it.
    pub fn mark_deleting(&mut self, now: Timestamp) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE workspace SET provisioning_state = 'deleting', provisioning_state_us = ?1 WHERE id = 1",
                [us(now)],
            )?;
            Ok(())
        })
    }

    /// Delete every experiment (with their jobs) and cluster (with their nodes): the first step of
    /// deleting the workspace. The agent sees the rows gone and stops what ran.
    pub fn clear(&mut self) -> Result<()> {
        let erased = self.write(|tx| {
            let erased = tx.execute("DELETE FROM job_secrets", [])? + tx.execute("DELETE FROM cluster_secrets", [])?;
            tx.execute_batch("DELETE FROM experiments; DELETE FROM clusters; DELETE FROM events;")?;
            Ok(erased)
        })?;
        self.scrub_after(erased);
        Ok(())
    }

    /// Whether anything may be running: a job not ended, or a node (setup tasks run on nodes).
    pub fn has_running(&mut self) -> Result<bool> {
        self.read(|tx| {
            Ok(tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE execution_state IN ('running', 'terminating'))
                     OR EXISTS (SELECT 1 FROM nodes)",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// Refuse to add to a workspace that is being deleted.
    pub(crate) fn ensure_usable(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<()> {
        let state: String = tx.query_row("SELECT provisioning_state FROM workspace WHERE id = 1", [], |r| r.get(0))?;
        if state == "deleting" {
            return Err(Error::Conflict(format!("workspace '{name}' is being deleted")));
        }
        Ok(())
    }
}
