//! File server rows. A managed file server's folder is created with the row and removed with it.

use rusqlite::{OptionalExtension, params};

use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::file_server::MountSettings;
use crate::engine::model::{FileServer, FileServerSpec, Timestamp, validate};

use super::columns::Cells;
use super::workspace::provisioning_state;
use super::{Store, unique_violation, us};

const COLUMNS: &str = "name, spec, managed, mount_point, created_us, provisioning_state, provisioning_state_us";

fn row_to_file_server(workspace: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<FileServer> {
    let c = Cells::new(r, "file_servers", 0);
    Ok(FileServer {
        workspace: workspace.to_string(),
        name: c.get(0)?,
        spec: c.json(1)?,
        managed: c.get(2)?,
        mount_settings: MountSettings { mount_point: c.get(3)? },
        creation_time: c.time(4)?,
        provisioning_state: provisioning_state(&c, 5)?,
        provisioning_state_transition_time: c.time(6)?,
    })
}

impl Store {
    pub fn create_file_server(&mut self, name: &str, spec: &FileServerSpec, now: Timestamp) -> Result<FileServer> {
        validate::name("name", name)?;
        spec.validate()?;
        let (mount_point, managed) = match &spec.path {
            Some(path) => {
                if !std::path::Path::new(path).is_dir() {
                    validate::fail("path", path, "must be an existing directory")?;
                }
                (path.clone(), false)
            }
            None => (self.layout.managed_file_server(name).display().to_string(), true),
        };
        let workspace = self.name.clone();
        let spec_json = serde_json::to_string(spec).expect("file server spec serializes");
        self.write(|tx| {
            Store::ensure_usable(tx, &workspace)?;
            tx.execute(
                "INSERT INTO file_servers (name, spec, managed, mount_point, created_us, provisioning_state, provisioning_state_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'succeeded', ?5)",
                params![name, spec_json, managed, mount_point, us(now)],
            )
            .map_err(|e| unique_violation(e, ResourceKind::FileServer, name))?;
            // The folder is made inside the transaction: if it fails, no row is left behind.
            if managed {
                std::fs::create_dir_all(&mount_point).map_err(|e| Error::file("creating the file server folder", &mount_point, e))?;
            }
            Ok(())
        })?;
        self.file_server(name)
    }

    pub fn file_server(&mut self, name: &str) -> Result<FileServer> {
        let workspace = self.name.clone();
        let found = self.read(|tx| {
            Ok(tx
                .query_row(&format!("SELECT {COLUMNS} FROM file_servers WHERE name = ?1"), [name], |r| {
                    row_to_file_server(&workspace, r)
                })
                .optional()?)
        })?;
        found.ok_or_else(|| Error::not_found(ResourceKind::FileServer, name))
    }

    pub fn file_servers(&mut self) -> Result<Vec<FileServer>> {
        let workspace = self.name.clone();
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!("SELECT {COLUMNS} FROM file_servers ORDER BY name"))?;
            let rows = stmt.query_map([], |r| row_to_file_server(&workspace, r))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Delete the row; a managed file server's folder goes with it (an existing path never does).
    pub fn delete_file_server(&mut self, name: &str) -> Result<()> {
        let server = self.file_server(name)?;
        self.write(|tx| {
            let n = tx.execute("DELETE FROM file_servers WHERE name = ?1", [name])?;
            if n == 0 { Err(Error::not_found(ResourceKind::FileServer, name)) } else { Ok(()) }
        })?;
        if server.managed {
            match std::fs::remove_dir_all(&server.mount_settings.mount_point) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::file("removing the file server folder", &server.mount_settings.mount_point, e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::error::Error;
    use crate::engine::model::FileServerSpec;
    use crate::engine::store::testing::{at, new_store};

    #[test]
    fn managed_folder_lives_and_dies_with_the_file_server() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let fs = store.create_file_server("data", &FileServerSpec::default(), at(1)).unwrap();
        assert!(fs.managed);
        assert!(std::path::Path::new(&fs.mount_settings.mount_point).is_dir());
        store.delete_file_server("data").unwrap();
        assert!(!std::path::Path::new(&fs.mount_settings.mount_point).exists());
    }

    #[test]
    fn existing_path_is_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = new_store(&dir);
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let spec = FileServerSpec { path: Some(shared.display().to_string()), vm_size: None };
        store.create_file_server("shared", &spec, at(1)).unwrap();
        store.delete_file_server("shared").unwrap();
        assert!(shared.is_dir());
        let missing = FileServerSpec { path: Some("/nonexistent/x".into()), vm_size: None };
        let err = store.create_file_server("m", &missing, at(1)).unwrap_err();
        assert!(matches!(err, Error::Validation(ref v) if v.field == "path"), "{err}");
    }
}
