//! The environment a node of the local engine gives every process on it: job processes, setup
//! tasks and commands run with node exec all start from these variables, so a command run with
//! node exec sees the node as its jobs do.
//!
//! - The node's GPUs (`scheduler::gpu_env`): `CUDA_VISIBLE_DEVICES`, `CUDA_DEVICE_ORDER=PCI_BUS_ID`
//!   and the GPU count.
//! - Its folders: the mount root of its cluster volumes and its job temp root.
//! - Its id (`BATCHAI_NODE_ID`).
//!
//! Batch AI's variables come in `AZ_BATCHAI_<NAME>` and `BATCHAI_<NAME>` twins. Job processes get
//! the toolkit's variables on top (which may narrow or widen `CUDA_VISIBLE_DEVICES`, as MPI
//! does, and the user's variables, which win).

use super::workdirs;
use crate::engine::paths::Layout;
use crate::engine::scheduler::gpu_env;

/// The variables of node `name` whose GPUs processes name `gpus` (numbers, UUIDs or MIG ids:
/// `Machine::visible_gpus`), in a stable order.
pub fn node_env(layout: &Layout, name: &str, gpus: &[String]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = gpu_env(gpus).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (suffix, value) in [
        ("MOUNT_ROOT", workdirs::node_mount_root(layout, name)),
        ("JOB_TEMP_DIR", workdirs::job_temp_root(layout, name)),
    ] {
        let value = value.display().to_string();
        env.push((format!("AZ_BATCHAI_{suffix}"), value.clone()));
        env.push((format!("BATCHAI_{suffix}"), value));
    }
    env.push(("BATCHAI_NODE_ID".to_string(), name.to_string()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_gpus_in_bus_order_the_folders_and_the_node() {
        let layout = Layout::new("/ws");
        let env: std::collections::HashMap<String, String> =
            node_env(&layout, "c-1", &["3".to_string(), "5".to_string()]).into_iter().collect();
        assert_eq!(env["CUDA_VISIBLE_DEVICES"], "3,5");
        assert_eq!(env["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
        assert_eq!(env["AZ_BATCHAI_NUM_GPUS"], "2");
        assert_eq!(env["AZ_BATCHAI_MOUNT_ROOT"], "/ws/nodes/c-1/mounts");
        assert_eq!(env["BATCHAI_JOB_TEMP_DIR"], "/ws/nodes/c-1/jobs");
        assert_eq!(env["BATCHAI_NODE_ID"], "c-1");
        // No GPU: an empty list hides every device rather than exposing all.
        let none: std::collections::HashMap<String, String> = node_env(&layout, "c-0", &[]).into_iter().collect();
        assert_eq!(none["CUDA_VISIBLE_DEVICES"], "");
        assert_eq!(none["BATCHAI_NUM_GPUS"], "0");
    }
}
