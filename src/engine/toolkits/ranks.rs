//! Starting a job's ranks directly, one process each, without a launcher.
//!
//! Used by PyTorch, Caffe and Caffe2 (Batch AI started their processes itself) and by MPI
//! toolkits with a single rank. Ranks go to nodes in blocks ([`block_slots`]). Each process
//! gets its place in the variables scripts read, so the same script runs whoever launched it:
//! `AZ_BATCHAI_TASK_INDEX` (Batch AI's name for the rank), the `torchrun` names `RANK`,
//! `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, and for MPI-style jobs Open MPI's
//! `OMPI_COMM_WORLD_RANK`, `_SIZE`, `_LOCAL_RANK`, `_LOCAL_SIZE`. No PMI/PMIx variable is set:
//! an MPI library that saw one would try to reach a process manager that is not there, whereas
//! with none it initialises as a singleton.

use super::distribution::{Slot, block_counts, block_slots};
use super::env::Env;
use super::plan::{self, ProcessPlan, Program, Role};
use super::{Ctx, Planned};

/// `count` processes running `line`, each with `job_env` and its rank variables.
pub(super) fn direct(ctx: &Ctx<'_>, line: &str, count: u32, job_env: &Env, mpi_names: bool) -> Planned {
    let program = Program::from_line(line);
    let processes = block_slots(count, ctx.node_count())
        .into_iter()
        .map(|slot| {
            let mut extra = job_env.clone();
            extra.extend(&rank_env(&slot, count, mpi_names));
            let (stdout, stderr) = plan::task_files(count as usize, slot.rank);
            ProcessPlan {
                node: slot.node,
                index: slot.rank,
                role: if count == 1 { Role::Master } else { Role::Rank },
                program: program.clone(),
                env: ctx.process_env(slot.node, &extra),
                stdout,
                stderr,
            }
        })
        .collect();
    Planned { processes, slots: block_counts(count, ctx.node_count()) }
}

fn rank_env(slot: &Slot, world: u32, mpi_names: bool) -> Env {
    let mut env = Env::new();
    env.set_twin("TASK_INDEX", slot.rank.to_string());
    env.set("RANK", slot.rank.to_string());
    env.set("WORLD_SIZE", world.to_string());
    env.set("LOCAL_RANK", slot.local_rank.to_string());
    env.set("LOCAL_WORLD_SIZE", slot.local_size.to_string());
    if mpi_names {
        env.set("OMPI_COMM_WORLD_RANK", slot.rank.to_string());
        env.set("OMPI_COMM_WORLD_SIZE", world.to_string());
        env.set("OMPI_COMM_WORLD_LOCAL_RANK", slot.local_rank.to_string());
        env.set("OMPI_COMM_WORLD_LOCAL_SIZE", slot.local_size.to_string());
    }
    env
}
