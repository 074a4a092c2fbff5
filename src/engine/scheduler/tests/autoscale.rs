//! Autoscale targets: the nodes running and queued jobs need, between minimum and maximum.

use crate::engine::scheduler::auto_scale_target;

#[test]
fn idle_cluster_scales_to_its_minimum() {
    assert_eq!(auto_scale_target(0, 8, 0, []), 0);
    assert_eq!(auto_scale_target(2, 8, 0, []), 2);
}

#[test]
fn target_is_running_plus_queued_nodes() {
    assert_eq!(auto_scale_target(0, 8, 2, [3, 1]), 6);
    assert_eq!(auto_scale_target(0, 8, 0, [1, 1, 1]), 3);
}

#[test]
fn target_never_exceeds_the_maximum_nor_falls_below_the_minimum() {
    assert_eq!(auto_scale_target(0, 4, 3, [2, 2]), 4);
    assert_eq!(auto_scale_target(3, 8, 1, []), 3);
}

#[test]
fn a_queued_job_larger_than_the_maximum_does_not_grow_the_cluster() {
    assert_eq!(auto_scale_target(0, 4, 0, [5]), 0);
    assert_eq!(auto_scale_target(0, 4, 1, [5, 2]), 3);
}

#[test]
fn zero_node_jobs_count_as_one_and_sums_saturate() {
    assert_eq!(auto_scale_target(0, 4, 0, [0]), 1);
    assert_eq!(auto_scale_target(0, 100, u32::MAX, [100, 100]), 100);
}

#[test]
fn inverted_bounds_resolve_to_the_minimum() {
    assert_eq!(auto_scale_target(5, 3, 0, [1]), 5);
}
