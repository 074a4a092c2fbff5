//! Where things live on disk.
//!
//! `$BATCHAI_HOME` (default `~/.batchai`) holds named workspaces under `workspaces/<name>/`. A
//! workspace may also be opened by path. Each workspace folder is self-contained: its SQLite file,
//! the agent's lock and log, managed file servers, node folders and default outputs. (The
//! agent's socket has no file: it is in the abstract namespace, see `launcher::socket`.)

use std::path::{Path, PathBuf};

use crate::engine::error::{Error, Result};

pub const DB_FILE: &str = "workspace.db";

/// `$BATCHAI_HOME`, else `~/.batchai`. Either must be UTF-8: workspace paths are kept as text
/// (in the store, in Python), and a lossy copy would name another folder.
pub fn home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("BATCHAI_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(utf8("BATCHAI_HOME", home)?));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(utf8("HOME", h)?).join(".batchai")),
        None => Err(Error::invalid(
            "BATCHAI_HOME",
            "null",
            "must be set when HOME is not (batchai needs a folder for workspaces)",
        )),
    }
}

fn utf8(variable: &str, value: std::ffi::OsString) -> Result<String> {
    value.into_string().map_err(|value| {
        Error::invalid(
            variable,
            format!("{:?}", value.to_string_lossy()),
            "is not valid UTF-8: set it to a UTF-8 path (workspace paths are kept as text)",
        )
    })
}

/// The folder of the named workspace under the home.
pub fn named_workspace(name: &str) -> Result<PathBuf> {
    crate::engine::model::validate::name("name", name)?;
    Ok(home()?.join("workspaces").join(name))
}

/// The files and folders of one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    pub fn db(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    pub fn agent_lock(&self) -> PathBuf {
        self.root.join("agent.lock")
    }

    pub fn agent_log(&self) -> PathBuf {
        self.root.join("agent.log")
    }

    /// Default `stdOutErrPathPrefix` of jobs and setup tasks.
    pub fn outputs(&self) -> PathBuf {
        self.root.join("outputs")
    }

    pub fn managed_file_server(&self, name: &str) -> PathBuf {
        self.root.join("fileservers").join(name)
    }

    /// Stand-in folder for an Azure File share or Blob container.
    pub fn azure_storage(&self, account: &str, share: &str) -> PathBuf {
        self.root.join("azure").join(account).join(share)
    }

    /// Node-local state: job temp folders, mount roots.
    pub fn nodes(&self) -> PathBuf {
        self.root.join("nodes")
    }
}

pub fn exists(root: &Path) -> bool {
    root.join(DB_FILE).is_file()
}
