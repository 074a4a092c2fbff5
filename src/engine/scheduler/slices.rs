//! Machine slicing for the local engine: each node is a set of CPU ids, GPU ids and memory.
//!
//! Rules, for every live node of every cluster on this machine:
//! * GPUs are never shared: two jobs on one GPU run out of memory or crawl, and the user asked for
//!   whole devices. A node draws from its cluster's pinned pool (`gpuDeviceIds`) if given, taken
//!   as is (so GPU placement can be tried on a machine without GPUs), else from the machine's.
//! * CPUs are exclusive by default, so a node's CPU count means what it says. With
//!   [`SlicePolicy::share_cpus`] they may be shared: a node takes the least-shared CPUs (each id
//!   once), so load spreads evenly. Either way a node never asks for more CPUs than the machine
//!   has.
//! * Memory is reserved only when the shape gives `memoryMb`, and reservations never exceed the
//!   machine's memory: oversubscribed memory ends in the OOM killer, not in slowness.
//!
//! Lowest free ids are taken first, so slices are reproducible. A node either gets its whole shape
//! or nothing, and the reason names the first resource short: GPUs, then CPUs, then memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::engine::model::cluster::NodeShape;

/// What the local engine may use: the CPUs in its affinity mask, the GPUs found, the memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub cpus: Vec<u32>,
    /// GPU numbers: the device indices, or positions in `gpu_ids` when devices are named.
    pub gpus: Vec<u32>,
    pub memory_mb: u64,
    /// The name a job must be given for a GPU (in `CUDA_VISIBLE_DEVICES`) when it is not its
    /// number: a UUID (`GPU-8f2c...`) or a MIG instance (`MIG-...`). Slices and node rows keep
    /// numbers; names are used only when a process's environment is written.
    pub gpu_ids: BTreeMap<u32, String>,
}

impl Machine {
    /// What `CUDA_VISIBLE_DEVICES` calls each of `gpus`. A number without a name (a cluster's
    /// pinned `gpuDeviceIds`, a machine with numbered devices) is its own name.
    pub fn visible_gpus(&self, gpus: &[u32]) -> Vec<String> {
        gpus.iter().map(|g| self.gpu_ids.get(g).cloned().unwrap_or_else(|| g.to_string())).collect()
    }
}

/// One node's share of the machine. Ids ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slice {
    pub cpus: Vec<u32>,
    pub gpus: Vec<u32>,
    /// Reserved memory; `None` when the shape sets no limit.
    pub memory_mb: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlicePolicy {
    /// Let nodes share CPU ids. GPUs and memory are never shared.
    pub share_cpus: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFit {
    Gpus { needed: u32, free: u32 },
    Cpus { needed: u32, free: u32 },
    Memory { needed_mb: u64, free_mb: u64 },
}

impl fmt::Display for NoFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoFit::Gpus { needed, free } => write!(f, "needs {needed} GPUs, {free} free on this machine"),
            NoFit::Cpus { needed, free } => write!(f, "needs {needed} CPUs, {free} free on this machine"),
            NoFit::Memory { needed_mb, free_mb } => {
                write!(f, "needs {needed_mb} MB of memory, {free_mb} MB unreserved on this machine")
            }
        }
    }
}

/// A slice for one node of `shape`, beside the `live` slices of every other node on the machine.
pub fn allocate_slice(
    machine: &Machine,
    live: &[Slice],
    shape: &NodeShape,
    policy: SlicePolicy,
) -> Result<Slice, NoFit> {
    let gpus = pick_gpus(machine, live, shape)?;
    let cpus = pick_cpus(machine, live, shape.cpus, policy)?;
    let memory_mb = match shape.memory_mb {
        None => None,
        Some(needed_mb) => {
            let reserved: u64 = live.iter().filter_map(|s| s.memory_mb).sum();
            let free_mb = machine.memory_mb.saturating_sub(reserved);
            if needed_mb > free_mb {
                return Err(NoFit::Memory { needed_mb, free_mb });
            }
            Some(needed_mb)
        }
    };
    Ok(Slice { cpus, gpus, memory_mb })
}

/// Slices for several new nodes, in order; each success counts as live for the ones after it.
pub fn allocate_slices(
    machine: &Machine,
    live: &[Slice],
    shapes: &[&NodeShape],
    policy: SlicePolicy,
) -> Vec<Result<Slice, NoFit>> {
    let mut taken: Vec<Slice> = live.to_vec();
    shapes
        .iter()
        .map(|shape| {
            let slice = allocate_slice(machine, &taken, shape, policy)?;
            taken.push(slice.clone());
            Ok(slice)
        })
        .collect()
}

fn pick_gpus(machine: &Machine, live: &[Slice], shape: &NodeShape) -> Result<Vec<u32>, NoFit> {
    let in_use: BTreeSet<u32> = live.iter().flat_map(|s| s.gpus.iter().copied()).collect();
    let pool: BTreeSet<u32> = shape.gpu_device_ids.as_deref().unwrap_or(&machine.gpus).iter().copied().collect();
    let free: Vec<u32> = pool.difference(&in_use).copied().collect();
    if (free.len() as u32) < shape.gpus {
        return Err(NoFit::Gpus { needed: shape.gpus, free: free.len() as u32 });
    }
    Ok(free.into_iter().take(shape.gpus as usize).collect())
}

fn pick_cpus(machine: &Machine, live: &[Slice], needed: u32, policy: SlicePolicy) -> Result<Vec<u32>, NoFit> {
    let mut load: BTreeMap<u32, u32> = machine.cpus.iter().map(|c| (*c, 0)).collect();
    for cpu in live.iter().flat_map(|s| s.cpus.iter()) {
        if let Some(n) = load.get_mut(cpu) {
            *n += 1;
        }
    }
    let mut candidates: Vec<(u32, u32)> =
        load.into_iter().filter(|(_, n)| policy.share_cpus || *n == 0).map(|(cpu, n)| (n, cpu)).collect();
    if (candidates.len() as u32) < needed {
        return Err(NoFit::Cpus { needed, free: candidates.len() as u32 });
    }
    candidates.sort();
    let mut cpus: Vec<u32> = candidates.into_iter().take(needed as usize).map(|(_, cpu)| cpu).collect();
    cpus.sort();
    Ok(cpus)
}
