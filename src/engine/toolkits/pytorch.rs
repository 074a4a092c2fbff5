//! PyTorch jobs.
//!
//! Batch AI started `processCount` processes (default nodeCount) of `<python> <script> <args>`
//! and users rendezvoused through a file on the shared job temp
//! (`init_process_group(init_method=$AZ_BATCHAI_PYTORCH_INIT_METHOD, rank=$AZ_BATCHAI_TASK_INDEX,
//! ...)`). batchai does the same, in blocks over the nodes, and also sets what `torchrun` would
//! (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` from the
//! port block) so `init_method="env://"` works too.
//!
//! `communicationBackend` is exported lower-cased as `AZ_BATCHAI_PYTORCH_BACKEND` (the name
//! `torch.distributed` takes). The `mpi` backend takes ranks from MPI, not from the init method,
//! so such jobs with several ranks run under `mpirun` like the other MPI toolkits (`mpi.rs`).

use crate::engine::model::toolkits::PyTorchSettings;

use super::env::Env;
use super::error::PlanError;
use super::{Ctx, Planned, mpi, ranks};

/// The rendezvous file, under `AZ_BATCHAI_SHARED_JOB_TEMP`.
pub const RENDEZVOUS_FILE: &str = "pytorch_rendezvous";

pub(super) fn plan(ctx: &Ctx<'_>, s: &PyTorchSettings) -> Result<Planned, PlanError> {
    let req = ctx.req;
    let count = ctx.process_count(s.process_count);
    let line = ctx.script_line(&s.python_interpreter_path, &s.python_script_file_path, &s.command_line_args);
    let backend = s.communication_backend.as_deref().map(str::to_ascii_lowercase);

    let mut job_env = Env::new();
    let shared = req.paths.shared_job_temp.trim_end_matches('/');
    job_env.set_twin("PYTORCH_INIT_METHOD", format!("file://{shared}/{RENDEZVOUS_FILE}"));
    if let Some(backend) = &backend {
        job_env.set_twin("PYTORCH_BACKEND", backend.as_str());
    }
    job_env.set("MASTER_ADDR", req.nodes[0].address.as_str());
    job_env.set("MASTER_PORT", req.ports[0].to_string());

    if backend.as_deref() == Some("mpi") && count > 1 {
        return mpi::plan(ctx, "pyTorchSettings with communicationBackend MPI", &line, count, &job_env);
    }
    Ok(ranks::direct(ctx, &line, count, &job_env, false))
}
