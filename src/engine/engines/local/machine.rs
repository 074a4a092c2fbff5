//! This machine as the local engine sees it: the CPUs the agent may use, the GPUs found, the
//! memory installed, and how nodes share them.

use std::collections::BTreeMap;

use crate::engine::scheduler::slices::{Machine, SlicePolicy};

/// The CPUs this process may use, the GPUs found, the memory installed. GPUs are those in
/// `CUDA_VISIBLE_DEVICES` if the agent was given one, else the `/dev/nvidiaN` device files.
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
    let (gpus, gpu_ids) = match std::env::var("CUDA_VISIBLE_DEVICES") {
        Ok(visible) => visible_gpus(&visible),
        Err(_) => (device_gpus(), BTreeMap::new()),
    };
    Machine { cpus, gpus, memory_mb: memory_mb(), gpu_ids }
}

/// The GPUs a `CUDA_VISIBLE_DEVICES` value gives the agent, read as CUDA reads it: a list of
/// device numbers, UUIDs (`GPU-8f2c...`) or MIG instances (`MIG-GPU-.../1/2`, `MIG-<uuid>`),
/// ending at the first entry that is none of these (so `-1` and the empty string hide all).
///
/// Numbers alone are kept as the GPUs' numbers. Once any entry is a name, every GPU is numbered
/// by its position and its entry is kept as its name, which is what a job is given.
pub fn visible_gpus(visible: &str) -> (Vec<u32>, BTreeMap<u32, String>) {
    let entries: Vec<&str> =
        visible.split(',').map(str::trim).take_while(|e| e.parse::<u32>().is_ok() || is_device_name(e)).collect();
    if let Some(numbers) = entries.iter().map(|e| e.parse::<u32>().ok()).collect::<Option<Vec<u32>>>() {
        return (numbers, BTreeMap::new());
    }
    let names: BTreeMap<u32, String> = entries.iter().enumerate().map(|(i, e)| (i as u32, e.to_string())).collect();
    (names.keys().copied().collect(), names)
}

fn is_device_name(entry: &str) -> bool {
    let rest = entry.strip_prefix("GPU-").or_else(|| entry.strip_prefix("MIG-"));
    rest.is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/')))
}

/// The `/dev/nvidiaN` device files.
fn device_gpus() -> Vec<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(visible: &str) -> (Vec<u32>, Vec<String>) {
        let (gpus, ids) = visible_gpus(visible);
        let machine = Machine { gpus: gpus.clone(), gpu_ids: ids, ..Default::default() };
        (gpus, machine.visible_gpus(&machine.gpus))
    }

    #[test]
    fn numbered_gpus_keep_their_numbers() {
        assert_eq!(names("3,5"), (vec![3, 5], vec!["3".into(), "5".into()]));
        assert_eq!(names(" 1 , 0"), (vec![1, 0], vec!["1".into(), "0".into()]));
    }

    #[test]
    fn uuids_and_mig_instances_are_named_by_position() {
        let uuid = "GPU-8f2c3a1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f";
        let mig = "MIG-GPU-8f2c3a1e-5b7d-4c1a-9e2f-0a1b2c3d4e5f/1/2";
        let visible = format!("{uuid},{mig},MIG-1a2b3c4d-0000-1111-2222-333344445555,2");
        let (gpus, shown) = names(&visible);
        assert_eq!(gpus, vec![0, 1, 2, 3]);
        assert_eq!(shown, vec![uuid, mig, "MIG-1a2b3c4d-0000-1111-2222-333344445555", "2"]);
    }

    #[test]
    fn the_list_ends_at_the_first_entry_cuda_would_not_take() {
        assert_eq!(names(""), (vec![], vec![]));
        assert_eq!(names("-1"), (vec![], vec![]));
        assert_eq!(names("0,-1,1"), (vec![0], vec!["0".into()]));
        assert_eq!(names("GPU-abc,oops,GPU-def"), (vec![0], vec!["GPU-abc".into()]));
    }
}
