//! Requests this machine can never meet, rejected when they are made instead of waiting forever.
//!
//! Two rules, both functions of the request and a [`Machine`] so tests can give any machine:
//! * A node shape must fit on the machine when nothing else runs: no more GPUs than its pool (the
//!   shape's `gpuDeviceIds`, else the machine's GPUs), no more CPUs than the machine may use, no
//!   more memory than it has ([`check_node_shape`], at cluster creation).
//! * A job's node count must not exceed what its cluster can ever have: the autoscale maximum,
//!   and the number of nodes of the cluster's shape the machine can hold at once
//!   ([`check_node_count`], at job creation). A manual target is not a limit here: the cluster
//!   can be resized later, and until then the job's wait reason says so.
//!
//! "At once" is counted on an empty machine: other clusters' nodes may go away, so they do not
//! make a request impossible, only late.

use super::slices::{Machine, NoFit, Slice, SlicePolicy, allocate_slice};
use crate::engine::error::ValidationError;
use crate::engine::model::ClusterSpec;
use crate::engine::model::cluster::NodeShape;

/// Whether one node of `shape` fits on the machine with nothing else on it.
pub fn check_node_shape(machine: &Machine, shape: &NodeShape, policy: SlicePolicy) -> Result<(), ValidationError> {
    match allocate_slice(machine, &[], shape, policy) {
        Ok(_) => Ok(()),
        Err(NoFit::Gpus { needed, free }) => Err(ValidationError::new(
            "nodeShape.gpus",
            needed.to_string(),
            format!(
                "must not exceed the GPUs this machine has ({free}): ask for {free} or fewer, or give nodeShape.gpuDeviceIds \
                 (or set CUDA_VISIBLE_DEVICES) to name the GPU ids to use"
            ),
        )),
        Err(NoFit::Cpus { needed, free }) => Err(ValidationError::new(
            "nodeShape.cpus",
            needed.to_string(),
            format!("must not exceed the CPUs this process may use ({free}): ask for {free} or fewer"),
        )),
        Err(NoFit::Memory { needed_mb, free_mb }) => Err(ValidationError::new(
            "nodeShape.memoryMb",
            needed_mb.to_string(),
            format!("must not exceed this machine's memory ({free_mb} MB): ask for less"),
        )),
    }
}

/// How many nodes of `shape` the machine holds at once, counting no further than `up_to`.
pub fn max_nodes(machine: &Machine, shape: &NodeShape, policy: SlicePolicy, up_to: u32) -> u32 {
    let mut live: Vec<Slice> = Vec::new();
    while (live.len() as u32) < up_to {
        match allocate_slice(machine, &live, shape, policy) {
            Ok(slice) => live.push(slice),
            Err(_) => break,
        }
    }
    live.len() as u32
}

/// Whether a job of `node_count` nodes can ever run on cluster `cluster` (see the module docs).
pub fn check_node_count(
    node_count: u32,
    cluster: &str,
    spec: &ClusterSpec,
    machine: &Machine,
    policy: SlicePolicy,
) -> Result<(), ValidationError> {
    let settings = &spec.scale_settings;
    if let (None, Some(auto)) = (&settings.manual, &settings.auto_scale)
        && node_count > auto.maximum_node_count
    {
        return Err(ValidationError::new(
            "nodeCount",
            node_count.to_string(),
            format!(
                "must not exceed the autoscale maximum of cluster '{cluster}' ({}): ask for fewer nodes, or raise the \
                 cluster's maximumNodeCount",
                auto.maximum_node_count
            ),
        ));
    }
    if spec.engine == crate::engine::model::EngineKind::Slurm {
        return Ok(()); // Slurm's partition, not this machine, holds the nodes (and says if it cannot)
    }
    let shape = &spec.node_shape;
    let fit = max_nodes(machine, shape, policy, node_count);
    if fit < node_count {
        let what = match allocate_slice(machine, &[], shape, policy) {
            Err(no_fit) => format!("not one node of cluster '{cluster}' fits on this machine (a node {no_fit})"),
            Ok(_) => format!(
                "this machine holds at most {} of cluster '{cluster}' at once ({} CPUs, {} GPUs{} each{})",
                if fit == 1 { "1 node".to_string() } else { format!("{fit} nodes") },
                shape.cpus,
                shape.gpus,
                shape.memory_mb.map(|m| format!(", {m} MB")).unwrap_or_default(),
                if policy.share_cpus { "" } else { "; CPUs are not shared (BATCHAI_EXCLUSIVE_CPUS=1)" },
            ),
        };
        return Err(ValidationError::new(
            "nodeCount",
            node_count.to_string(),
            format!("cannot be met: {what}; ask for fewer nodes, or use a cluster with a smaller node shape"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cpus: u32, gpus: u32, memory_mb: u64) -> Machine {
        Machine { cpus: (0..cpus).collect(), gpus: (0..gpus).collect(), memory_mb, ..Default::default() }
    }

    fn shape(cpus: u32, gpus: u32) -> NodeShape {
        NodeShape { cpus, gpus, gpu_device_ids: None, memory_mb: None }
    }

    const SHARED: SlicePolicy = SlicePolicy { share_cpus: true };
    const EXCLUSIVE: SlicePolicy = SlicePolicy { share_cpus: false };

    #[test]
    fn a_shape_larger_than_the_machine_names_the_resource_and_the_fix() {
        let laptop = machine(2, 0, 8_000);
        let err = check_node_shape(&laptop, &shape(1, 8), SHARED).unwrap_err();
        assert_eq!((err.field.as_str(), err.value.as_str()), ("nodeShape.gpus", "8"));
        assert!(err.rule.contains("GPUs this machine has (0)") && err.rule.contains("gpuDeviceIds"), "{err}");
        let err = check_node_shape(&laptop, &shape(4, 0), SHARED).unwrap_err();
        assert_eq!((err.field.as_str(), err.value.as_str()), ("nodeShape.cpus", "4"));
        let mut big = shape(1, 0);
        big.memory_mb = Some(9_000);
        assert_eq!(check_node_shape(&laptop, &big, SHARED).unwrap_err().field, "nodeShape.memoryMb");
        // Pinned GPU ids are taken as they are: GPU placement can be tried on a machine without.
        let mut pinned = shape(1, 2);
        pinned.gpu_device_ids = Some(vec![4, 5]);
        assert!(check_node_shape(&laptop, &pinned, SHARED).is_ok());
        assert!(check_node_shape(&laptop, &shape(2, 0), EXCLUSIVE).is_ok());
    }

    #[test]
    fn node_count_is_bounded_by_what_the_machine_holds_at_once() {
        let two_cores = machine(2, 4, 8_000);
        let spec = |cpus, gpus| ClusterSpec { node_shape: shape(cpus, gpus), ..Default::default() };
        // Exclusive CPUs: two 1-CPU nodes fit, three do not.
        assert!(check_node_count(2, "c", &spec(1, 0), &two_cores, EXCLUSIVE).is_ok());
        let err = check_node_count(3, "c", &spec(1, 0), &two_cores, EXCLUSIVE).unwrap_err();
        assert_eq!((err.field.as_str(), err.value.as_str()), ("nodeCount", "3"));
        assert!(err.rule.contains("at most 2 nodes of cluster 'c'") && err.rule.contains("not shared"), "{err}");
        // A 2-CPU node on a 2-core machine: one at a time unless CPUs are shared.
        assert!(check_node_count(2, "c", &spec(2, 0), &two_cores, EXCLUSIVE).is_err());
        assert!(check_node_count(50, "c", &spec(2, 0), &two_cores, SHARED).is_ok());
        // GPUs are never shared: 4 GPUs hold two 2-GPU nodes.
        assert!(check_node_count(2, "c", &spec(1, 2), &two_cores, SHARED).is_ok());
        assert!(check_node_count(3, "c", &spec(1, 2), &two_cores, SHARED).is_err());
        // A shape that does not fit at all says so.
        let err = check_node_count(1, "c", &spec(1, 8), &two_cores, SHARED).unwrap_err();
        assert!(err.rule.contains("not one node of cluster 'c' fits"), "{err}");
    }

    #[test]
    fn autoscale_maximum_is_a_limit_and_a_manual_target_is_not() {
        let m = machine(4, 0, 8_000);
        let auto: ClusterSpec =
            serde_json::from_str(r#"{"scaleSettings": {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}}}"#)
                .unwrap();
        let err = check_node_count(3, "a", &auto, &m, SHARED).unwrap_err();
        assert!(err.rule.contains("autoscale maximum of cluster 'a' (2)"), "{err}");
        assert!(check_node_count(2, "a", &auto, &m, SHARED).is_ok());
        let manual: ClusterSpec =
            serde_json::from_str(r#"{"scaleSettings": {"manual": {"targetNodeCount": 1}}}"#).unwrap();
        assert!(check_node_count(3, "m", &manual, &m, SHARED).is_ok(), "the target can be resized later");
    }
}
