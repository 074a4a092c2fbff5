//! Node rows: the compute nodes of clusters, owned by the agent and read by everyone.

use rusqlite::params;
use serde::Serialize;

use crate::engine::error::Result;
use crate::engine::model::Timestamp;
use crate::engine::model::cluster::NodeStateCounts;

use super::Store;
use super::columns::Cells;

pub use crate::engine::model::NodeState;

fn node_state(c: &Cells<'_, '_>, idx: usize) -> rusqlite::Result<NodeState> {
    c.parsed(idx, "a node state", NodeState::parse)
}

/// A node as stored. On the local engine its address is this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(rename = "nodeId")]
    pub name: String,
    /// The number at the end of the name (`c-3` is node 3 of cluster `c`).
    #[serde(skip)]
    pub number: u32,
    pub cluster: String,
    #[serde(serialize_with = "state_name")]
    pub state: NodeState,
    pub state_transition_time: Timestamp,
    pub cpus: Vec<u32>,
    pub gpus: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// The uid of the job running on the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What Batch AI's remote login information gave: the address to reach the node.
    pub ip_address: String,
    pub creation_time: Timestamp,
}

pub(crate) const NODE_COLUMNS: &str =
    "n.name, c.name, n.state, n.state_us, n.cpus, n.gpus, n.memory_mb, n.job_uid, n.created_us, n.cluster_id";

pub(crate) fn row_to_node(r: &rusqlite::Row<'_>) -> rusqlite::Result<Node> {
    let c = Cells::new(r, "nodes", 0);
    Ok(Node {
        name: c.get(0)?,
        number: c.parsed(0, "a node name ending in -<number>", |name| name.rsplit_once('-')?.1.parse().ok())?,
        cluster: c.get(1)?,
        state: node_state(&c, 2)?,
        state_transition_time: c.time(3)?,
        cpus: c.json(4)?,
        gpus: c.json(5)?,
        memory_mb: c.get::<Option<i64>>(6)?.map(|m| m as u64),
        job: c.get(7)?,
        ip_address: "127.0.0.1".to_string(),
        creation_time: c.time(8)?,
    })
}

fn state_name<S: serde::Serializer>(state: &NodeState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// Node counts per state, as Batch AI reported them on a cluster.
pub(crate) fn counts(tx: &rusqlite::Transaction<'_>, cluster_id: i64) -> rusqlite::Result<(u32, NodeStateCounts)> {
    let mut stmt = tx.prepare_cached("SELECT state, count(*) FROM nodes WHERE cluster_id = ?1 GROUP BY state")?;
    let mut counts = NodeStateCounts::default();
    let mut total = 0;
    for row in stmt.query_map([cluster_id], |r| {
        let c = Cells::new(r, "nodes", 0);
        Ok((node_state(&c, 0)?, c.get::<u32>(1)?))
    })? {
        let (state, n) = row?;
        total += n;
        match state {
            NodeState::Idle => counts.idle_node_count = n,
            NodeState::Running => counts.running_node_count = n,
            NodeState::Preparing => counts.preparing_node_count = n,
            NodeState::Unusable => counts.unusable_node_count = n,
            NodeState::Leaving => counts.leaving_node_count = n,
        }
    }
    Ok((total, counts))
}

impl Store {
    /// Nodes of one cluster, or of every cluster, in creation order.
    pub fn nodes(&mut self, cluster: Option<&str>) -> Result<Vec<Node>> {
        self.read(|tx| {
            let sql = format!(
                "SELECT {NODE_COLUMNS} FROM nodes n JOIN clusters c ON c.id = n.cluster_id WHERE ?1 IS NULL OR c.name = ?1 ORDER BY n.id"
            );
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt.query_map(params![cluster], row_to_node)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
