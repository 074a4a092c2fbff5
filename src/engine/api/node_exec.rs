//! Node exec: run a command on one node of a cluster (`az batchai cluster node exec`).
//!
//! The store says which nodes the cluster has; the node's engine runs the command with the
//! node's environment (for the local engine: a local process in the node's folder, pinned to its
//! CPUs, with the variables its jobs get). The first node is used when none is named.

use std::time::Duration;

use super::Workspace;
use crate::engine::engines::local::exec;
use crate::engine::error::{Error, ResourceKind, Result};

pub use exec::ExecOutput;

impl Workspace {
    /// Run `command` through bash on `node` of `cluster` (its first node by default). A timeout
    /// error when it has not finished within `timeout` (it is killed, with what it started).
    pub fn node_exec(
        &self,
        cluster: &str,
        node: Option<&str>,
        command: &str,
        timeout: Option<Duration>,
    ) -> Result<ExecOutput> {
        let nodes = self.nodes(Some(cluster))?;
        let chosen = match node {
            Some(wanted) => nodes
                .into_iter()
                .find(|n| n.name == wanted)
                .ok_or_else(|| Error::not_found(ResourceKind::Node, wanted))?,
            None => nodes.into_iter().next().ok_or_else(|| {
                Error::Conflict(format!(
                    "cluster '{cluster}' has no nodes: resize it (or wait for its nodes) before running a command on one"
                ))
            })?,
        };
        exec::exec(&self.layout, &chosen, command, timeout)
    }
}
