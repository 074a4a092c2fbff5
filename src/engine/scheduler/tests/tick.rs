//! The pieces together, as the agent's tick uses them on an autoscaled cluster: autoscale target,
//! resize, a round of preparation, scheduling.

use std::time::Duration;

use super::env::*;
use crate::engine::model::cluster::AllocationState;
use crate::engine::scheduler::*;

const MIN: u32 = 0;
const MAX: u32 = 4;

fn apply_resize(sim: &mut Sim, plan: &ResizePlan) {
    let env = &mut sim.env;
    env.nodes.retain(|n| !plan.remove.contains(&n.id));
    for id in &plan.mark_leaving {
        env.set_state(*id, NodeState::Leaving);
    }
    for id in &plan.reclaim {
        let held = env.running.iter().any(|r| r.nodes.contains(id));
        env.set_state(*id, if held { NodeState::Running } else { NodeState::Idle });
    }
    env.nodes.extend(plan.create.iter().map(|id| Node { id: *id, state: NodeState::Preparing }));
    assert!(plan.requeue.is_empty() && plan.terminate.is_empty(), "autoscale must not stop jobs here");
}

/// One tick: nodes prepared last tick become idle, the cluster resizes toward the autoscale
/// target, then a scheduling round runs.
fn tick(sim: &mut Sim) -> Schedule {
    for n in sim.env.nodes.iter_mut().filter(|n| n.state == NodeState::Preparing) {
        n.state = NodeState::Idle;
    }
    let running_nodes: u32 = sim.env.running.iter().map(|r| r.nodes.len() as u32).sum();
    let target = auto_scale_target(MIN, MAX, running_nodes, sim.env.queued.iter().map(|q| q.node_count));
    let plan = plan_resize(&sim.env.nodes, &sim.env.running, target, AUTO_SCALE_DEALLOCATION);
    apply_resize(sim, &plan);
    assert!(sim.env.nodes.len() as u32 <= MAX, "cluster above its maximum");
    sim.round()
}

#[test]
fn autoscaled_cluster_grows_for_the_queue_runs_everything_and_shrinks_to_its_minimum() {
    let mut env = TestEnv::new();
    env.limit(MAX);
    let mut sim = Sim::new(env);
    let big = sim.submit(job().nodes(3).wall(hours(1)), mins(40));
    let small: Vec<JobId> = (0..4).map(|_| sim.submit(job().wall(hours(2)), hours(2))).collect();
    let huge = sim.submit(job().nodes(5), mins(1));

    let first = tick(&mut sim);
    assert!(first.placements.is_empty(), "new nodes are still preparing");
    assert_eq!(sim.env.nodes.len(), 4, "three for the big job plus one for a small one, capped at four");
    assert_eq!(allocation_state(&sim.env.nodes, 4), AllocationState::Resizing);
    sim.env.advance(Duration::from_secs(60));

    for _ in 0..24 * 60 {
        tick(&mut sim);
        sim.env.advance(Duration::from_secs(60));
    }
    assert_eq!(sim.started[&big], START.after(Duration::from_secs(60)), "the big job went first");
    for id in &small {
        assert!(sim.started.contains_key(id), "small job {} never ran", id.0);
    }
    assert!(!sim.started.contains_key(&huge));
    assert_eq!(sim.env.queued.iter().map(|q| q.id).collect::<Vec<_>>(), vec![huge]);
    assert!(sim.env.nodes.is_empty(), "idle cluster scales down to its minimum of 0");
    assert_eq!(allocation_state(&sim.env.nodes, MIN), AllocationState::Steady);
}
