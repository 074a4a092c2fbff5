//! Machine slicing: disjoint GPUs always, disjoint CPUs unless sharing is allowed, memory never
//! over-reserved; and the environment a slice gives its jobs.

use super::env::Rng;
use crate::engine::model::cluster::NodeShape;
use crate::engine::scheduler::*;

fn machine(cpus: u32, gpus: u32, memory_mb: u64) -> Machine {
    Machine { cpus: (0..cpus).collect(), gpus: (0..gpus).collect(), memory_mb, ..Default::default() }
}

fn shape(cpus: u32, gpus: u32) -> NodeShape {
    NodeShape { cpus, gpus, gpu_device_ids: None, memory_mb: None }
}

const EXCLUSIVE: SlicePolicy = SlicePolicy { share_cpus: false };
const SHARED: SlicePolicy = SlicePolicy { share_cpus: true };

#[test]
fn nodes_get_disjoint_cpus_and_gpus_lowest_first() {
    let m = machine(8, 2, 32_000);
    let s = shape(4, 1);
    let got = allocate_slices(&m, &[], &[&s, &s], EXCLUSIVE);
    assert_eq!(got[0], Ok(Slice { cpus: vec![0, 1, 2, 3], gpus: vec![0], memory_mb: None }));
    assert_eq!(got[1], Ok(Slice { cpus: vec![4, 5, 6, 7], gpus: vec![1], memory_mb: None }));
}

#[test]
fn a_gpu_is_never_given_twice() {
    let m = machine(16, 2, 32_000);
    let got = allocate_slices(&m, &[], &[&shape(1, 1), &shape(1, 1), &shape(1, 1)], SHARED);
    assert_eq!(got[2], Err(NoFit::Gpus { needed: 1, free: 0 }));
}

#[test]
fn live_slices_of_other_nodes_are_respected() {
    let m = machine(4, 4, 32_000);
    let live = [Slice { cpus: vec![0, 2], gpus: vec![1, 2], memory_mb: None }];
    let got = allocate_slice(&m, &live, &shape(2, 2), EXCLUSIVE).unwrap();
    assert_eq!((got.cpus, got.gpus), (vec![1, 3], vec![0, 3]));
}

#[test]
fn gpus_are_reported_before_cpus_and_cpus_before_memory() {
    let m = machine(2, 1, 1_000);
    let mut s = shape(4, 2);
    s.memory_mb = Some(2_000);
    assert_eq!(allocate_slice(&m, &[], &s, EXCLUSIVE), Err(NoFit::Gpus { needed: 2, free: 1 }));
    s.gpus = 1;
    assert_eq!(allocate_slice(&m, &[], &s, EXCLUSIVE), Err(NoFit::Cpus { needed: 4, free: 2 }));
    s.cpus = 2;
    assert_eq!(allocate_slice(&m, &[], &s, EXCLUSIVE), Err(NoFit::Memory { needed_mb: 2_000, free_mb: 1_000 }));
}

#[test]
fn exclusive_cpus_run_out_but_shared_ones_spread_evenly() {
    let m = machine(4, 0, 8_000);
    let s = shape(3, 0);
    let exclusive = allocate_slices(&m, &[], &[&s, &s], EXCLUSIVE);
    assert_eq!(exclusive[1], Err(NoFit::Cpus { needed: 3, free: 1 }));
    let shared = allocate_slices(&m, &[], &[&s, &s, &s], SHARED);
    let cpus: Vec<Vec<u32>> = shared.into_iter().map(|r| r.unwrap().cpus).collect();
    // Second node: CPU 3 is unused, then the least-shared lowest ids 0 and 1.
    assert_eq!(cpus, vec![vec![0, 1, 2], vec![0, 1, 3], vec![0, 2, 3]]);
}

#[test]
fn sharing_never_gives_a_node_more_cpus_than_the_machine_has() {
    let m = machine(2, 0, 8_000);
    assert_eq!(allocate_slice(&m, &[], &shape(3, 0), SHARED), Err(NoFit::Cpus { needed: 3, free: 2 }));
}

#[test]
fn machine_cpus_need_not_be_contiguous() {
    let m = Machine { cpus: vec![2, 3, 6, 7], gpus: vec![], memory_mb: 8_000, ..Default::default() };
    let got = allocate_slices(&m, &[], &[&shape(3, 0), &shape(1, 0)], EXCLUSIVE);
    assert_eq!(got[0].as_ref().unwrap().cpus, vec![2, 3, 6]);
    assert_eq!(got[1].as_ref().unwrap().cpus, vec![7]);
}

#[test]
fn memory_is_reserved_only_when_the_shape_asks() {
    let m = machine(8, 0, 10_000);
    let mut big = shape(1, 0);
    big.memory_mb = Some(6_000);
    let unlimited = shape(1, 0);
    let got = allocate_slices(&m, &[], &[&big, &unlimited, &big], EXCLUSIVE);
    assert_eq!(got[0].as_ref().unwrap().memory_mb, Some(6_000));
    assert_eq!(got[1].as_ref().unwrap().memory_mb, None);
    assert_eq!(got[2], Err(NoFit::Memory { needed_mb: 6_000, free_mb: 4_000 }));
}

#[test]
fn pinned_pools_are_used_as_given_even_without_machine_gpus() {
    let m = machine(8, 0, 8_000);
    let mut pinned = shape(1, 2);
    pinned.gpu_device_ids = Some(vec![5, 3, 4]);
    let got = allocate_slices(&m, &[], &[&pinned, &pinned], EXCLUSIVE);
    assert_eq!(got[0].as_ref().unwrap().gpus, vec![3, 4]);
    assert_eq!(got[1], Err(NoFit::Gpus { needed: 2, free: 1 }));
}

#[test]
fn pinned_and_unpinned_clusters_never_share_a_gpu() {
    let m = machine(8, 4, 8_000);
    let mut pinned = shape(1, 1);
    pinned.gpu_device_ids = Some(vec![0, 1]);
    let any = shape(1, 1);
    let got = allocate_slices(&m, &[], &[&pinned, &any, &pinned, &any, &any], EXCLUSIVE);
    let gpus: Vec<_> = got.iter().map(|r| r.clone().map(|s| s.gpus)).collect();
    assert_eq!(gpus, vec![Ok(vec![0]), Ok(vec![1]), Err(NoFit::Gpus { needed: 1, free: 0 }), Ok(vec![2]), Ok(vec![3])]);
}

#[test]
fn a_node_that_does_not_fit_takes_nothing() {
    let m = machine(4, 1, 8_000);
    let got = allocate_slices(&m, &[], &[&shape(1, 0), &shape(1, 2), &shape(3, 1)], EXCLUSIVE);
    assert!(got[1].is_err());
    assert_eq!(got[2], Ok(Slice { cpus: vec![1, 2, 3], gpus: vec![0], memory_mb: None }));
}

#[test]
fn random_slicing_never_shares_gpus_or_exclusive_cpus_nor_over_reserves_memory() {
    let mut rng = Rng::new(5);
    for _ in 0..300 {
        let m = machine(rng.range(1, 32) as u32, rng.range(0, 8) as u32, rng.range(1_000, 64_000));
        let policy = SlicePolicy { share_cpus: rng.range(0, 1) == 1 };
        let shapes: Vec<NodeShape> = (0..rng.range(1, 12))
            .map(|_| NodeShape {
                cpus: rng.range(1, 8) as u32,
                gpus: rng.range(0, 3) as u32,
                gpu_device_ids: None,
                memory_mb: [None, Some(rng.range(100, 16_000))][rng.range(0, 1) as usize],
            })
            .collect();
        let refs: Vec<&NodeShape> = shapes.iter().collect();
        let slices: Vec<Slice> = allocate_slices(&m, &[], &refs, policy).into_iter().flatten().collect();
        let gpus: Vec<u32> = slices.iter().flat_map(|s| s.gpus.clone()).collect();
        let mut unique = gpus.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(gpus.len(), unique.len(), "a GPU given twice: {slices:?}");
        assert!(gpus.iter().all(|g| m.gpus.contains(g)));
        if !policy.share_cpus {
            let cpus: Vec<u32> = slices.iter().flat_map(|s| s.cpus.clone()).collect();
            let mut unique = cpus.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(cpus.len(), unique.len(), "a CPU given twice without sharing: {slices:?}");
        }
        for s in &slices {
            let mut own = s.cpus.clone();
            own.dedup();
            assert_eq!(own.len(), s.cpus.len(), "a node holds one CPU twice");
        }
        assert!(slices.iter().filter_map(|s| s.memory_mb).sum::<u64>() <= m.memory_mb);
    }
}

#[test]
fn gpu_env_names_the_devices_and_their_count() {
    let env = gpu_env(&["1".into(), "GPU-8f2c".into()]);
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("CUDA_VISIBLE_DEVICES"), Some("1,GPU-8f2c"));
    assert_eq!(get("AZ_BATCHAI_NUM_GPUS"), Some("2"));
    assert_eq!(get("BATCHAI_NUM_GPUS"), Some("2"));
    assert_eq!(get("CUDA_DEVICE_ORDER"), Some("PCI_BUS_ID"));
}

#[test]
fn a_node_without_gpus_sees_none() {
    let env = gpu_env(&[]);
    assert!(env.contains(&("CUDA_VISIBLE_DEVICES", String::new())));
    assert!(env.contains(&("AZ_BATCHAI_NUM_GPUS", "0".to_string())));
}

#[test]
fn id_lists_collapse_ranges() {
    assert_eq!(id_list(&[5, 0, 1, 2, 7, 8]), "0-2,5,7-8");
    assert_eq!(id_list(&[3]), "3");
    assert_eq!(id_list(&[]), "");
}

#[test]
fn no_fit_reads_as_a_reason() {
    assert_eq!(NoFit::Gpus { needed: 2, free: 1 }.to_string(), "needs 2 GPUs, 1 free on this machine");
}
