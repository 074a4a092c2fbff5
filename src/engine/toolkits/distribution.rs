//! Spreading a job's processes over its nodes.
//!
//! Batch AI never documented how `processCount > nodeCount` was spread. batchai uses blocks, as
//! `mpirun` does with a host file whose slots are these counts: node 0 gets ranks `0..c0`, node 1
//! the next `c1`, and so on, the counts as even as possible with the larger ones first (5 ranks on
//! 2 nodes: `[3, 2]`; 1 rank on 3 nodes: `[1, 0, 0]`). Consecutive ranks share a node, which is
//! what frameworks that group ranks by node (Horovod's local rank, NCCL rings) expect.

/// One process's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub rank: u32,
    pub node: usize,
    /// Rank among the processes of its node.
    pub local_rank: u32,
    /// Processes on its node.
    pub local_size: u32,
}

/// Processes per node.
pub fn block_counts(total: u32, nodes: usize) -> Vec<u32> {
    let nodes_u32 = nodes as u32;
    let (base, extra) = (total / nodes_u32, total % nodes_u32);
    (0..nodes_u32).map(|i| base + u32::from(i < extra)).collect()
}

/// Every process's place, in rank order.
pub fn block_slots(total: u32, nodes: usize) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(total as usize);
    for (node, count) in block_counts(total, nodes).into_iter().enumerate() {
        for local_rank in 0..count {
            slots.push(Slot { rank: slots.len() as u32, node, local_rank, local_size: count });
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_even_with_larger_first() {
        assert_eq!(block_counts(2, 2), [1, 1]);
        assert_eq!(block_counts(5, 2), [3, 2]);
        assert_eq!(block_counts(7, 3), [3, 2, 2]);
        assert_eq!(block_counts(1, 3), [1, 0, 0]);
        assert_eq!(block_counts(8, 1), [8]);
    }

    #[test]
    fn slots_fill_nodes_in_blocks() {
        let slots = block_slots(5, 2);
        let places: Vec<(u32, usize, u32, u32)> =
            slots.iter().map(|s| (s.rank, s.node, s.local_rank, s.local_size)).collect();
        assert_eq!(places, [(0, 0, 0, 3), (1, 0, 1, 3), (2, 0, 2, 3), (3, 1, 0, 2), (4, 1, 1, 2)]);
        assert_eq!(block_slots(1, 4).len(), 1);
    }
}
