//! Use cases: what a client can do with a workspace, in one place for the Python bindings, the
//! CLI and any future server.
//!
//! Theory of operation:
//! - A [`Workspace`] is one open store plus the way to start the workspace's agent (a
//!   [`Launcher`], given once when the workspace is opened).
//! - A use case that changes what should run (a job or cluster created, a terminate, a deletion,
//!   new scale settings) commits the change to the store, releases the store, then wakes the
//!   agent (`wake`), which acts on it. The commit is the operation: once it is in, the call
//!   succeeds even when the agent cannot be reached, since agents reconcile from the store.
//! - Deleting the workspace is carried out by the agent (`deletion`); running a command on a node
//!   is asked of the node's engine (`node_exec`); a Slurm cluster's partition nodes are asked of
//!   Slurm, read-only (`slurm_nodes`).
//! - Specs and resources are Batch AI's camelCase JSON: the wire format every caller shares.

mod deletion;
mod node_exec;
mod resources;
mod slurm_nodes;
mod sweeps;
#[cfg(test)]
mod tests;
mod wake;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub use node_exec::ExecOutput;
pub use resources::{JobSubmitter, Kind, as_is};
pub use wake::Woken;

use crate::engine::agent::client::Launcher;
use crate::engine::error::{Error, ResourceKind, Result};
use crate::engine::model::{self, parse};
use crate::engine::paths::Layout;
use crate::engine::store::Store;

fn now() -> model::Timestamp {
    chrono::Utc::now()
}

/// An open workspace: its store, and how to start its agent.
pub struct Workspace {
    store: Mutex<Store>,
    layout: Layout,
    name: String,
    launcher: Launcher,
    /// How long a wake-up after a commit keeps trying (see `wake`).
    wake_patience: Duration,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsOnly {
    tags: model::workspace::Tags,
}

/// Tags from a JSON object of strings (`{"team": "vision"}`).
fn parse_tags(tags_json: &str) -> Result<model::workspace::Tags> {
    Ok(parse::from_text::<TagsOnly>(&format!("{{\"tags\": {tags_json}}}"))?.tags)
}

impl Workspace {
    fn wrap(mut store: Store, launcher: Launcher) -> Workspace {
        // Creates through a client are checked against this machine (see
        // `scheduler::capacity`): a request it can never meet fails now instead of waiting.
        store.set_machine(
            crate::engine::engines::local::machine::detect_machine(),
            crate::engine::engines::local::machine::slice_policy(),
        );
        Workspace {
            layout: store.layout().clone(),
            name: store.workspace_name().to_string(),
            store: Mutex::new(store),
            launcher,
            wake_patience: wake::patience(),
        }
    }

    /// Create a workspace in `path`; fails if one exists there.
    pub fn create_workspace(
        path: impl AsRef<Path>,
        name: &str,
        tags_json: &str,
        launcher: Launcher,
    ) -> Result<Workspace> {
        let tags = parse_tags(tags_json)?;
        Ok(Workspace::wrap(Store::create(Layout::new(path.as_ref()), name, &tags, now())?, launcher))
    }

    /// Open the workspace in `path`.
    pub fn open_workspace(path: impl AsRef<Path>, launcher: Launcher) -> Result<Workspace> {
        Ok(Workspace::wrap(Store::open(Layout::new(path.as_ref()))?, launcher))
    }

    /// Open the workspace in `path`, creating it (named `name`) if needed.
    pub fn open_or_create_workspace(path: impl AsRef<Path>, name: &str, launcher: Launcher) -> Result<Workspace> {
        Ok(Workspace::wrap(Store::open_or_create(Layout::new(path.as_ref()), name, now())?, launcher))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long a wake-up after a commit keeps trying before the call returns anyway (default
    /// `BATCHAI_WAKE_PATIENCE_SECONDS`, else 1 s).
    pub fn set_wake_patience(&mut self, patience: Duration) {
        self.wake_patience = patience;
    }

    /// Run `f` on the store. Callers wake the agent after this returns, never inside: a wake
    /// waits for the agent's turn, and other threads sharing the workspace should not.
    fn with<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut store = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut store).map_err(|e| self.explain(&mut store, e))
    }

    /// A resource that was not found, or exists already, said in full: where (this workspace,
    /// or the experiment in it) and, when missing, what exists there instead.
    fn explain(&self, store: &mut Store, e: Error) -> Error {
        /// How many names a message lists before it says how many more there are.
        const SHOWN: usize = 20;
        let workspace = &self.name;
        match e {
            Error::NotFound { kind, name, parent, detail: None } if kind != ResourceKind::Node => {
                let within = match &parent {
                    Some(experiment) => format!("experiment '{experiment}' of workspace '{workspace}'"),
                    None => format!("workspace '{workspace}'"),
                };
                let listing = match store.names(kind, parent.as_deref(), SHOWN) {
                    Ok((names, _)) if names.is_empty() => format!("there are no {}", kind.plural()),
                    Ok((names, total)) => {
                        let more = total.saturating_sub(names.len());
                        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                        format!("{}: {}{more}", kind.plural(), names.join(", "))
                    }
                    Err(_) => String::new(),
                };
                let listing = if listing.is_empty() { listing } else { format!("; {listing}") };
                let detail = Some(format!("no {kind} '{name}' in {within}{listing}"));
                Error::NotFound { kind, name, parent, detail }
            }
            Error::AlreadyExists { kind, name, parent, detail: None } if kind != ResourceKind::Workspace => {
                let within = match &parent {
                    Some(experiment) => format!("experiment '{experiment}' of workspace '{workspace}'"),
                    None => format!("workspace '{workspace}'"),
                };
                let detail = Some(format!("{kind} '{name}' already exists in {within}"));
                Error::AlreadyExists { kind, name, parent, detail }
            }
            other => other,
        }
    }

    /// Have the agent act on what the store holds now, starting it if needed.
    pub fn wake(&self) -> Woken {
        wake::after_commit(&self.layout, &self.launcher, self.wake_patience)
    }

    /// A job's state changes, oldest first.
    pub fn job_events(&self, experiment: &str, name: &str) -> Result<Vec<crate::engine::store::Event>> {
        self.with(|s| s.job_events(experiment, name))
    }

    /// The workspace resource.
    pub fn workspace(&self) -> Result<serde_json::Value> {
        self.with(|s| Ok(s.workspace()?.to_resource()))
    }

    /// Replace the tags (Batch AI's workspace update).
    pub fn set_tags(&self, tags_json: &str) -> Result<serde_json::Value> {
        let tags = parse_tags(tags_json)?;
        self.with(|s| Ok(s.set_tags(&tags)?.to_resource()))
    }
}
