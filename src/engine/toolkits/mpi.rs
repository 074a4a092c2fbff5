//! MPI-style jobs (custom MPI, Horovod, Chainer, CNTK, Caffe) and the MPI host file.
//!
//! Batch AI ran these under `mpirun` with its generated host file. With several ranks and an
//! `mpirun` available, the plan is one process on the master node:
//!
//! `mpirun --hostfile <AZ_BATCHAI_MPI_HOST_FILE> -np <n> --oversubscribe --bind-to none
//!  [--allow-run-as-root] [-x NAME ...] bash -c '<rank prologue>; exec <line>'`
//!
//! * `--oversubscribe`: local nodes share one machine, and a job may ask for more ranks than
//!   the machine has cores.
//! * `--bind-to none`: Open MPI pins ranks to cores by default, so two jobs on one machine would
//!   both pin to the first cores.
//! * `--allow-run-as-root` only when the caller runs as root.
//! * `-x NAME` for each planned variable only when some node has another address than the
//!   master: ranks on this machine inherit `mpirun`'s environment, remote ones need it passed.
//! * The prologue exports `AZ_BATCHAI_TASK_INDEX`, `RANK`, `WORLD_SIZE`, `LOCAL_RANK` and
//!   `LOCAL_WORLD_SIZE` from Open MPI's `OMPI_COMM_WORLD_*`, so ranks see the same variables as
//!   when batchai starts them itself; `exec` keeps one process per rank when the line is plain.
//!
//! `mpirun`'s `CUDA_VISIBLE_DEVICES` lists the GPUs of every node at the master's address:
//! those ranks all run on this machine and pick their GPU by local rank, which Open MPI counts
//! per machine, not per batchai node.
//!
//! With one rank, or without `mpirun`, the ranks start directly ([`ranks::direct`]).
//!
//! The host file has one `<address> slots=<n>` line per address, in node order, `n` being the
//! ranks planned on the nodes at that address (at least 1 per node, so every node stays listed;
//! the blocks leave empty nodes last, where `-np` never reaches). Nodes that share an address
//! share a line: Open MPI 4.1 refuses a host file that gives the same host two slot counts, and
//! every local node is `127.0.0.1`.

use super::distribution::block_counts;
use super::env::Env;
use super::plan::{self, ProcessPlan, Program, Role};
use super::request::{Mpirun, PlacedNode};
use super::simple_command::simple_words;
use super::{Ctx, Planned, ranks};

/// Sets the rank variables from Open MPI's inside each rank.
const RANK_PROLOGUE: &str = "export AZ_BATCHAI_TASK_INDEX=$OMPI_COMM_WORLD_RANK \
BATCHAI_TASK_INDEX=$OMPI_COMM_WORLD_RANK RANK=$OMPI_COMM_WORLD_RANK WORLD_SIZE=$OMPI_COMM_WORLD_SIZE \
LOCAL_RANK=$OMPI_COMM_WORLD_LOCAL_RANK LOCAL_WORLD_SIZE=$OMPI_COMM_WORLD_LOCAL_SIZE";

/// `count` ranks of `line`, through `mpirun` when it can.
pub(super) fn plan(ctx: &Ctx<'_>, line: &str, count: u32, job_env: &Env) -> Planned {
    match ctx.req.mpirun {
        Some(mpirun) if count > 1 => through_mpirun(ctx, mpirun, line, count, job_env),
        _ => ranks::direct(ctx, line, count, job_env, true),
    }
}

pub(super) fn through_mpirun(ctx: &Ctx<'_>, mpirun: &Mpirun, line: &str, count: u32, job_env: &Env) -> Planned {
    let nodes = ctx.req.nodes;
    let master = &nodes[0].address;
    let mut gpus: Vec<&str> = Vec::new();
    for gpu in nodes.iter().filter(|n| n.address == *master).flat_map(|n| &n.gpus) {
        if !gpus.contains(&gpu.as_str()) {
            gpus.push(gpu);
        }
    }
    let mut extra = job_env.clone();
    extra.set("CUDA_VISIBLE_DEVICES", gpus.join(","));
    let env = ctx.process_env(0, &extra);

    let mut argv: Vec<String> = vec![
        mpirun.path.clone(),
        "--hostfile".into(),
        ctx.req.paths.mpi_host_file.clone(),
        "-np".into(),
        count.to_string(),
        "--oversubscribe".into(),
        "--bind-to".into(),
        "none".into(),
    ];
    if mpirun.as_root {
        argv.push("--allow-run-as-root".into());
    }
    if nodes.iter().any(|n| n.address != *master) {
        let secrets = ctx.req.spec.secrets.iter().map(|s| s.name.as_str());
        for name in env.names().chain(secrets).filter(|n| *n != "CUDA_VISIBLE_DEVICES") {
            argv.push("-x".into());
            argv.push(name.into());
        }
    }
    let exec = if simple_words(line).is_some() { "exec " } else { "" };
    argv.extend(["bash".into(), "-c".into(), format!("{RANK_PROLOGUE}; {exec}{line}")]);

    let (stdout, stderr) = plan::task_files(1, 0);
    let process =
        ProcessPlan { node: 0, index: 0, role: Role::Mpirun, program: Program::Direct(argv), env, stdout, stderr };
    Planned { processes: vec![process], slots: block_counts(count, nodes.len()) }
}

/// The content of `AZ_BATCHAI_MPI_HOST_FILE`.
pub(super) fn host_file(nodes: &[PlacedNode], slots: &[u32]) -> String {
    let mut lines: Vec<(&str, u32)> = Vec::new();
    for (node, &slots) in nodes.iter().zip(slots) {
        let slots = slots.max(1);
        match lines.iter_mut().find(|(address, _)| *address == node.address) {
            Some(line) => line.1 += slots,
            None => lines.push((&node.address, slots)),
        }
    }
    lines.iter().map(|(address, slots)| format!("{address} slots={slots}\n")).collect()
}
