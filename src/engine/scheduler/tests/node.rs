//! Node states, their counts and the cluster's allocation state.

use crate::engine::model::NodeState::*;
use crate::engine::model::cluster::AllocationState::{Resizing, Steady};
use crate::engine::scheduler::*;

fn cluster(states: &[NodeState]) -> Vec<Node> {
    states.iter().enumerate().map(|(i, s)| Node::new(i as u32, *s)).collect()
}

#[test]
fn counts_every_state() {
    let counts = state_counts(&cluster(&[Idle, Idle, Running, Preparing, Unusable, Leaving, Leaving]));
    assert_eq!(
        (
            counts.idle_node_count,
            counts.running_node_count,
            counts.preparing_node_count,
            counts.unusable_node_count,
            counts.leaving_node_count
        ),
        (2, 1, 1, 1, 2)
    );
}

#[test]
fn steady_only_at_target_with_nothing_coming_or_going() {
    assert_eq!(allocation_state(&cluster(&[Idle, Running]), 2), Steady);
    assert_eq!(allocation_state(&cluster(&[Idle, Unusable]), 2), Steady);
    assert_eq!(allocation_state(&[], 0), Steady);
    assert_eq!(allocation_state(&cluster(&[Idle]), 2), Resizing);
    assert_eq!(allocation_state(&cluster(&[Idle, Idle, Idle]), 2), Resizing);
    assert_eq!(allocation_state(&cluster(&[Idle, Preparing]), 2), Resizing);
    assert_eq!(allocation_state(&cluster(&[Idle, Running, Leaving]), 3), Resizing);
}

#[test]
fn only_idle_nodes_accept_jobs_and_unusable_or_leaving_never_serve() {
    let all = [Idle, Running, Preparing, Unusable, Leaving];
    assert_eq!(all.iter().filter(|s| s.accepts_jobs()).collect::<Vec<_>>(), vec![&Idle]);
    assert_eq!(all.iter().filter(|s| !s.will_serve()).collect::<Vec<_>>(), vec![&Unusable, &Leaving]);
}

#[test]
fn transitions_follow_the_node_life_cycle() {
    assert!(Preparing.can_become(Idle));
    assert!(Preparing.can_become(Unusable));
    assert!(Idle.can_become(Running));
    assert!(Running.can_become(Idle));
    assert!(Running.can_become(Leaving));
    assert!(Leaving.can_become(Running), "a scale-up takes a leaving node back");
    assert!(Unusable.can_become(Preparing), "a retried setup task");
    assert!(!Unusable.can_become(Idle), "an unusable node is prepared again before it serves");
    assert!(!Preparing.can_become(Running), "a job never starts on a node still preparing");
    assert!(!Idle.can_become(Idle));
}

#[test]
fn state_names_round_trip() {
    for s in [Idle, Running, Preparing, Unusable, Leaving] {
        assert_eq!(NodeState::parse(s.as_str()), Some(s));
    }
    assert_eq!(NodeState::parse("steady"), None);
    assert_eq!(NodeId(3).to_string(), "node-3");
}
