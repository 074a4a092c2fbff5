//! The environment a node's slice gives its job processes.
//!
//! `CUDA_VISIBLE_DEVICES` lists the node's GPU ids, and is set even when the node has none: an
//! empty value hides every GPU, so a CPU-only node cannot grab a device another node owns.
//! `CUDA_DEVICE_ORDER=PCI_BUS_ID` makes CUDA number devices as `nvidia-smi` does; CUDA's default
//! (fastest first) could map id 1 to another node's card. The GPU count goes in Batch AI's
//! `AZ_BATCHAI_NUM_GPUS` (which Batch AI once left empty, BatchAI#40: here it is always a number)
//! and in `BATCHAI_NUM_GPUS`.

/// Environment pairs for a node with these GPUs, named as `CUDA_VISIBLE_DEVICES` names them
/// (numbers, UUIDs or MIG ids: see `Machine::visible_gpus`).
pub fn gpu_env(gpus: &[String]) -> Vec<(&'static str, String)> {
    let count = gpus.len().to_string();
    vec![
        ("CUDA_DEVICE_ORDER", "PCI_BUS_ID".to_string()),
        ("CUDA_VISIBLE_DEVICES", gpus.join(",")),
        ("AZ_BATCHAI_NUM_GPUS", count.clone()),
        ("BATCHAI_NUM_GPUS", count),
    ]
}

/// Ids in the kernel's list format, ranges collapsed: `[0, 1, 2, 5]` → `"0-2,5"` (for
/// `taskset -c`, cgroup `cpuset.cpus`, and messages).
pub fn id_list(ids: &[u32]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        let end = sorted[i];
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    parts.join(",")
}
