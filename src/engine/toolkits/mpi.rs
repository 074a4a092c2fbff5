//! MPI toolkits (custom MPI, Horovod, Chainer, CNTK; PyTorch's `mpi` backend) and the MPI host
//! file.
//!
//! Batch AI ran these under `mpirun` with its generated host file (spec §3). With several ranks
//! the plan is one process on the master node, `mpirun`, which starts every rank through the
//! rank shim ([`rank_shim`]) so that each rank runs on its own node:
//!
//! `mpirun --hostfile <AZ_BATCHAI_MPI_HOST_FILE> -np <n> --map-by slot --oversubscribe
//!  --bind-to none [--allow-run-as-root] [-x NAME ...] bash -c '<shim>' batchai-rank '<line>'`
//!
//! * `--map-by slot`: fill the host file's lines in order, the rule the shim's table follows.
//! * `--oversubscribe`: local nodes share one machine, and a job may ask for more ranks than
//!   the machine has cores.
//! * `--bind-to none`: Open MPI would pin ranks to cores of its own choosing (two jobs on one
//!   machine would both take the first cores); the shim pins each rank to its node's CPUs.
//! * `--allow-run-as-root` only when the caller runs as root (Open MPI refuses root otherwise).
//! * `-x NAME` for each planned variable only when some node has another address than the
//!   master: ranks on this machine inherit `mpirun`'s environment, remote ones need it passed.
//!
//! With one rank there is nothing for MPI to connect: the rank starts directly with
//! `OMPI_COMM_WORLD_*` set ([`ranks::direct`]), and an MPI library initialises as a singleton of
//! size 1, which is the truth. With several ranks and no `mpirun` the job cannot be planned
//! ([`PlanError::MpirunNotFound`]): starting them as singletons would run every rank alone.
//!
//! The host file has one `<address> slots=<n>` line per address, in node order, `n` being the
//! ranks planned on the nodes at that address (at least 1 per node, so every node stays listed;
//! the blocks leave empty nodes last, where `-np` never reaches). Nodes that share an address
//! share a line: Open MPI 4.1 refuses a host file that gives the same host two slot counts, and
//! every local node is `127.0.0.1`.

use super::distribution::block_counts;
use super::env::Env;
use super::error::PlanError;
use super::plan::{self, ProcessPlan, Program, Role};
use super::rank_shim::{self, NodeEntry};
use super::request::{Mpirun, PlacedNode};
use super::{Ctx, Planned, ranks};

/// `count` ranks of `line` for the toolkit whose settings are named `settings`: through
/// `mpirun` when there are several.
pub(super) fn plan(
    ctx: &Ctx<'_>,
    settings: &'static str,
    line: &str,
    count: u32,
    job_env: &Env,
) -> Result<Planned, PlanError> {
    if count <= 1 {
        return Ok(ranks::direct(ctx, line, count, job_env, true));
    }
    match ctx.req.mpirun {
        Some(mpirun) => Ok(through_mpirun(ctx, mpirun, line, count, job_env)),
        None => Err(PlanError::MpirunNotFound { settings, ranks: count }),
    }
}

fn through_mpirun(ctx: &Ctx<'_>, mpirun: &Mpirun, line: &str, count: u32, job_env: &Env) -> Planned {
    let nodes = ctx.req.nodes;
    let master = &nodes[0].address;
    let env = ctx.process_env(0, job_env);

    let mut argv: Vec<String> = vec![
        mpirun.path.clone(),
        "--hostfile".into(),
        ctx.req.paths.mpi_host_file.clone(),
        "-np".into(),
        count.to_string(),
        "--map-by".into(),
        "slot".into(),
        "--oversubscribe".into(),
        "--bind-to".into(),
        "none".into(),
    ];
    if mpirun.as_root {
        argv.push("--allow-run-as-root".into());
    }
    if nodes.iter().any(|n| n.address != *master) {
        let secrets = ctx.req.spec.secrets.iter().map(|s| s.name.as_str());
        for name in env.names().chain(secrets) {
            argv.push("-x".into());
            argv.push(name.into());
        }
    }

    let counts = block_counts(count, nodes.len());
    let places = rank_shim::mpirun_places(nodes, &counts, count);
    let node_envs: Vec<Env> = (0..nodes.len()).map(|n| ctx.process_env(n, job_env)).collect();
    let entries: Vec<NodeEntry<'_>> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let mine = places.iter().filter(|s| s.node == i);
            NodeEntry {
                first_rank: mine.clone().map(|s| s.rank).min().unwrap_or(0),
                ranks: mine.count() as u32,
                env: &node_envs[i],
                cwd: &node.paths.job_temp,
                cpus: &node.cpu_set,
            }
        })
        .collect();
    let keep: Vec<&str> = ctx.req.spec.environment_variables.iter().map(|v| v.name.as_str()).collect();
    let shim = rank_shim::script(count, &env, &entries, &keep);
    argv.extend(["bash".into(), "-c".into(), shim, rank_shim::ARG0.into(), line.into()]);

    let (stdout, stderr) = plan::task_files(1, 0);
    let process =
        ProcessPlan { node: 0, index: 0, role: Role::Mpirun, program: Program::Direct(argv), env, stdout, stderr };
    Planned { processes: vec![process], slots: counts }
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
