//! This machine as the local engine sees it: the CPUs the agent may use, the GPUs found, the
//! memory installed, and how nodes share them.

use crate::engine::scheduler::slices::{Machine, SlicePolicy};

/// The CPUs this process may use, the GPUs found, the memory installed.
pub fn detect_machine() -> Machine {
    let cpus = {
        // SAFETY: cpu_set_t is plain data filled in by the kernel.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0;
        let all = (0..libc::CPU_SETSIZE as usize).filter(|&c| !ok || unsafe { libc::CPU_ISSET(c, &set) });
        let ids: Vec<u32> = all.take(if ok { usize::MAX } else { 1 }).map(|c| c as u32).collect();
        if ok { ids } else { vec![0] }
    };
    Machine { cpus, gpus: detect_gpus(), memory_mb: memory_mb() }
}

/// NVIDIA GPUs: `CUDA_VISIBLE_DEVICES` if the agent was given one, else the `/dev/nvidiaN`
/// device files.
fn detect_gpus() -> Vec<u32> {
    if let Ok(visible) = std::env::var("CUDA_VISIBLE_DEVICES") {
        return visible.split(',').filter_map(|id| id.trim().parse().ok()).collect();
    }
    let mut ids: Vec<u32> = std::fs::read_dir("/dev")
        .map(|entries| {
            entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("nvidia")?.parse().ok()).collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// Several nodes on one workstation is how multi-node jobs are developed locally, so nodes share
/// CPUs by default (each taking the least-shared ones); GPUs are never shared.
/// `BATCHAI_EXCLUSIVE_CPUS=1` makes CPUs exclusive.
pub fn slice_policy() -> SlicePolicy {
    SlicePolicy { share_cpus: std::env::var("BATCHAI_EXCLUSIVE_CPUS").map(|v| v != "1").unwrap_or(true) }
}
