//! A Slurm cluster's partition nodes: the hosts its jobs run on, as `sinfo` reports them.
//!
//! The cluster's batchai nodes (`nodes`) are slots; Slurm picks the hosts. This reads the
//! cluster's partition from the store and asks Slurm (`engines::slurm::sinfo`). Nothing is
//! stored: Slurm owns the nodes and their states.

use super::Workspace;
use crate::engine::engines::slurm::sinfo::{self, PartitionNode};
use crate::engine::error::{Error, Result};
use crate::engine::model::EngineKind;
use crate::engine::model::validate;

impl Workspace {
    /// The nodes of the Slurm partition that `cluster`'s jobs go to. A validation error for a
    /// cluster of another engine; `sinfo` runs after the store is released.
    pub fn slurm_nodes(&self, cluster: &str) -> Result<Vec<PartitionNode>> {
        let spec = self.with(|s| Ok(s.cluster(cluster)?.spec))?;
        let partition = match (spec.engine, spec.slurm) {
            (EngineKind::Slurm, Some(slurm)) => slurm.partition,
            (engine, _) => {
                let engine = match engine {
                    EngineKind::Local => "local",
                    EngineKind::Slurm => "slurm",
                };
                return Err(Error::invalid(
                    "cluster",
                    validate::show(&cluster),
                    format!(
                        "runs on the {} engine, not on Slurm: it has no partition; its nodes are nodes() \
                         (`batchai cluster nodes`)",
                        engine
                    ),
                ));
            }
        };
        // Slurm's words about the partition, said of the cluster the user named.
        sinfo::partition_nodes(&partition).map_err(|e| match e {
            Error::Conflict(said) => Error::Conflict(format!("cluster '{cluster}': {said}")),
            Error::Timeout(said) => Error::Timeout(format!("cluster '{cluster}': {said}")),
            Error::Io { context, source } => Error::Io { context: format!("cluster '{cluster}': {context}"), source },
            other => other,
        })
    }
}
