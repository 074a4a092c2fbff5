//! Experiment rows. Deleting one deletes its jobs (foreign key cascade).

use rusqlite::{OptionalExtension, params};

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::{Experiment, Timestamp, validate};

use super::columns::Cells;
use super::workspace::provisioning_state;
use super::{Store, unique_violation, us};

fn row_to_experiment(workspace: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Experiment> {
    let c = Cells::new(r, "experiments", 0);
    Ok(Experiment {
        workspace: workspace.to_string(),
        name: c.get(0)?,
        creation_time: c.time(1)?,
        provisioning_state: provisioning_state(&c, 2)?,
        provisioning_state_transition_time: c.time(3)?,
    })
}

impl Store {
    pub fn create_experiment(&mut self, name: &str, now: Timestamp) -> Result<Experiment> {
        validate::name("name", name)?;
        let workspace = self.name.clone();
        self.write(|tx| {
            Store::ensure_usable(tx, &workspace)?;
            tx.execute(
                "INSERT INTO experiments (name, created_us, provisioning_state, provisioning_state_us) VALUES (?1, ?2, 'succeeded', ?2)",
                params![name, us(now)],
            )
            .map_err(|e| unique_violation(e, ResourceKind::Experiment, name))?;
            Ok(())
        })?;
        self.experiment(name)
    }

    pub fn experiment(&mut self, name: &str) -> Result<Experiment> {
        let workspace = self.name.clone();
        let found = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT name, created_us, provisioning_state, provisioning_state_us FROM experiments WHERE name = ?1",
                    [name],
                    |r| row_to_experiment(&workspace, r),
                )
                .optional()?)
        })?;
        found.ok_or_else(|| Error::not_found(ResourceKind::Experiment, name))
    }

    pub fn experiments(&mut self) -> Result<Vec<Experiment>> {
        let workspace = self.name.clone();
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT name, created_us, provisioning_state, provisioning_state_us FROM experiments ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| row_to_experiment(&workspace, r))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn delete_experiment(&mut self, name: &str) -> Result<()> {
        let erased = self.write(|tx| {
            // Its jobs' events go with them (see `events.rs`), found through the jobs: first.
            super::events::delete_experiment_events(tx, name)?;
            let erased = super::secrets::erase_secrets_of_jobs(
                tx,
                "experiment_id = (SELECT id FROM experiments WHERE name = ?1)",
                [name],
            )?;
            let n = tx.execute("DELETE FROM experiments WHERE name = ?1", [name])?;
            if n == 0 { Err(Error::not_found(ResourceKind::Experiment, name)) } else { Ok(erased) }
        })?;
        self.scrub_after(erased);
        Ok(())
    }
}
