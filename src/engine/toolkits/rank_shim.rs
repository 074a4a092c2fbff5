//! The rank shim: what `mpirun` starts for every rank, so that each rank runs on its own node.
//!
//! Theory of operation. `mpirun` places ranks on hosts, not on batchai nodes: every local node
//! is `127.0.0.1`, so it would start all ranks with the environment, folder and CPUs of the
//! master node. Instead of the program, `mpirun` starts
//!
//! `bash -c '<shim>' batchai-rank '<command line>'`
//!
//! where `<shim>` is a short script holding the job's rank table (no file to write or clean up;
//! its size grows with the number of nodes, not ranks). The shim
//!
//! 1. reads its rank from `OMPI_COMM_WORLD_RANK` (Open MPI) or `PMI_RANK` (MPICH, Intel MPI);
//! 2. finds its node: the nodes' rank ranges are those `mpirun --map-by slot` gives with the
//!    job's host file ([`mpirun_places`]), so the table and `mpirun` agree;
//! 3. exports that node's variables where they differ from the master node's (which `mpirun`
//!    itself has, and passes on): `AZ_BATCHAI_*` paths, `BATCHAI_NODE_ID`,
//!    `CUDA_VISIBLE_DEVICES`, user variables that refer to them;
//! 4. exports the rank variables as ranks started directly get them (`AZ_BATCHAI_TASK_INDEX`,
//!    `RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`), the local ones counted within the
//!    node, and replaces Open MPI's `OMPI_COMM_WORLD_LOCAL_RANK`/`_LOCAL_SIZE`/`_NODE_RANK`
//!    (counted per machine) by the same per-node values; a name the job sets itself keeps the
//!    job's value, as with ranks started directly;
//! 5. changes to the node's job temp folder and execs the command line with `bash -c`, under
//!    `taskset -c <node's CPUs>` so the program starts pinned (if `taskset` is missing it says so
//!    on stderr and runs unpinned). Every step is an `exec`, so each rank stays one process.
//!
//! A rank outside the table (a different `-np`, a launcher that sets no rank) exits 70
//! (`EX_SOFTWARE`) with a message, which fails the job rather than running it on a wrong node.

use std::fmt::Write;

use super::distribution::Slot;
use super::env::Env;
use super::request::PlacedNode;
use super::simple_command::quote_word;

/// Argument 0 of the shim's bash: names the shim in `ps` and in bash's own error messages.
pub const ARG0: &str = "batchai-rank";

/// Exit code of a rank the shim cannot place.
pub const EXIT_UNPLACED: i32 = 70;

/// Where `mpirun --map-by slot` puts `total` ranks given the host file of `counts` (per node,
/// see `mpi::host_file`): it fills each address's slots in host file order; within an address,
/// batchai gives the ranks to that address's nodes in node order, each up to its slots. On one
/// address (every local node) this is exactly the block distribution.
pub fn mpirun_places(nodes: &[PlacedNode], counts: &[u32], total: u32) -> Vec<Slot> {
    let mut addresses: Vec<&str> = Vec::new();
    for node in nodes {
        if !addresses.contains(&node.address.as_str()) {
            addresses.push(&node.address);
        }
    }
    let mut per_node = vec![0u32; nodes.len()];
    let mut left = total;
    for address in addresses {
        for (i, _) in nodes.iter().enumerate().filter(|(_, n)| n.address == address) {
            let take = counts[i].max(1).min(left);
            per_node[i] = take;
            left -= take;
        }
    }
    // Ranks are numbered in the same order: by address, then node.
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    let first_at = |i: usize| nodes.iter().position(|n| n.address == nodes[i].address).unwrap_or(i);
    order.sort_by_key(|&i| (first_at(i), i));
    let mut slots = Vec::with_capacity(total as usize);
    for node in order {
        for local_rank in 0..per_node[node] {
            slots.push(Slot { rank: slots.len() as u32, node, local_rank, local_size: per_node[node] });
        }
    }
    slots.sort_by_key(|s| s.rank);
    slots
}

/// One node's entry in the table.
pub struct NodeEntry<'a> {
    pub first_rank: u32,
    pub ranks: u32,
    /// The node's process environment.
    pub env: &'a Env,
    pub cwd: &'a str,
    pub cpus: &'a [u32],
}

/// The shim script for `bash -c`. `master` is the environment `mpirun` runs with; `keep` names
/// the variables the job sets itself (their values already differ per node where they should).
pub fn script(world: u32, master: &Env, nodes: &[NodeEntry<'_>], keep: &[&str]) -> String {
    let mut s = String::new();
    s.push_str("r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-}}\n");
    let _ = writeln!(
        s,
        "case $r in ''|*[!0-9]*) echo \"batchai rank shim: mpirun gave no rank (OMPI_COMM_WORLD_RANK or \
         PMI_RANK is '$r')\" >&2; exit {EXIT_UNPLACED};; esac"
    );
    let mut first = true;
    for node in nodes.iter().filter(|n| n.ranks > 0) {
        let end = node.first_rank + node.ranks;
        let keyword = if first { "if" } else { "elif" };
        first = false;
        let _ = write!(
            s,
            "{keyword} ((r >= {} && r < {end})); then f={} s={}",
            node.first_rank, node.first_rank, node.ranks
        );
        let _ = writeln!(s, " c={}", quote_word(&cpu_list(node.cpus)));
        let exports: Vec<String> = node
            .env
            .iter()
            .filter(|(name, value)| master.get(name) != Some(value))
            .map(|(name, value)| format!("{name}={}", quote_word(value)))
            .collect();
        if !exports.is_empty() {
            let _ = writeln!(s, "  export {}", exports.join(" "));
        }
        let gone: Vec<&str> = master.names().filter(|name| node.env.get(name).is_none()).collect();
        if !gone.is_empty() {
            let _ = writeln!(s, "  unset {}", gone.join(" "));
        }
        let _ = writeln!(s, "  cd -- {} || exit {EXIT_UNPLACED}", quote_word(node.cwd));
    }
    let _ = writeln!(
        s,
        "else echo \"batchai rank shim: rank $r is not one of this job's {world} ranks\" >&2; exit {EXIT_UNPLACED}; fi"
    );
    s.push_str("l=$((r - f))\n");
    let rank_vars = [
        ("AZ_BATCHAI_TASK_INDEX", "$r".to_string()),
        ("BATCHAI_TASK_INDEX", "$r".into()),
        ("RANK", "$r".into()),
        ("WORLD_SIZE", world.to_string()),
        ("LOCAL_RANK", "$l".into()),
        ("LOCAL_WORLD_SIZE", "$s".into()),
        ("OMPI_COMM_WORLD_LOCAL_RANK", "$l".into()),
        ("OMPI_COMM_WORLD_LOCAL_SIZE", "$s".into()),
        ("OMPI_COMM_WORLD_NODE_RANK", "$l".into()),
    ];
    let exports: Vec<String> = rank_vars
        .iter()
        .filter(|(name, _)| !keep.contains(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    let _ = writeln!(s, "export {}", exports.join(" "));
    s.push_str("if [ -n \"$c\" ]; then\n");
    s.push_str("  if command -v taskset >/dev/null 2>&1; then exec taskset -c \"$c\" bash -c \"$1\"; fi\n");
    s.push_str(
        "  echo \"batchai rank shim: taskset (util-linux) not found: rank $r is not pinned to its node's CPUs $c\" >&2\n",
    );
    s.push_str("fi\nexec bash -c \"$1\"\n");
    s
}

/// `0-3,8,10-11`: the form `taskset -c` takes, short for a node's usually contiguous slice.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str) -> PlacedNode {
        PlacedNode { address: address.into(), ..PlacedNode::default() }
    }

    fn places(slots: &[Slot]) -> Vec<(u32, usize, u32, u32)> {
        slots.iter().map(|s| (s.rank, s.node, s.local_rank, s.local_size)).collect()
    }

    #[test]
    fn one_address_gives_blocks() {
        let nodes = [node("127.0.0.1"), node("127.0.0.1")];
        let got = mpirun_places(&nodes, &[2, 2], 4);
        assert_eq!(places(&got), [(0, 0, 0, 2), (1, 0, 1, 2), (2, 1, 0, 2), (3, 1, 1, 2)]);
        let nodes = [node("a"), node("a"), node("a")];
        assert_eq!(places(&mpirun_places(&nodes, &[1, 1, 0], 2)), [(0, 0, 0, 1), (1, 1, 0, 1)]);
    }

    #[test]
    fn addresses_are_filled_in_host_file_order() {
        // Nodes 0 and 2 share a host file line, which mpirun fills first.
        let nodes = [node("a"), node("b"), node("a")];
        let got = mpirun_places(&nodes, &[2, 2, 1], 5);
        assert_eq!(places(&got), [(0, 0, 0, 2), (1, 0, 1, 2), (2, 2, 0, 1), (3, 1, 0, 2), (4, 1, 1, 2)]);
        // A node with no planned rank still has a slot in the host file, so mpirun may use it.
        let got = mpirun_places(&nodes, &[1, 1, 0], 2);
        assert_eq!(places(&got), [(0, 0, 0, 1), (1, 2, 0, 1)]);
    }

    #[test]
    fn cpu_lists_use_ranges() {
        assert_eq!(cpu_list(&[0, 1, 2, 3]), "0-3");
        assert_eq!(cpu_list(&[5, 0, 1, 8, 9, 3]), "0-1,3,5,8-9");
        assert_eq!(cpu_list(&[7]), "7");
        assert_eq!(cpu_list(&[]), "");
    }
}
