//! The toolkit planner: from a job and its placement to the processes that run it.
//!
//! Theory of operation. [`plan`](fn@plan) is a pure function (no I/O, no clock, no spawning):
//! the agent places a job on nodes, prepares folders and reserves ports, then asks for a
//! [`LaunchPlan`] and carries it out. The plan reproduces how Batch AI launched each of its nine toolkits (spec
//! §3): which program runs on which node with which `AZ_BATCHAI_*` variables (each with a
//! `BATCHAI_*` twin), and which output file each writes.
//!
//! | toolkit | processes |
//! |---|---|
//! | custom toolkit | `commandLine` once, on the master node |
//! | custom MPI, Horovod, Chainer, CNTK | `processCount` ranks (default: nodeCount) through one `mpirun` and the rank shim when there are several (none on the node: the job fails); one rank starts directly with `OMPI_COMM_WORLD_*` set (`mpi.rs`, `rank_shim.rs`) |
//! | Caffe | `processCount` ranks (default: nodeCount) started directly (`ranks.rs`) |
//! | PyTorch | `processCount` ranks started directly, file rendezvous under the shared job temp; through `mpirun` for the `mpi` backend (`pytorch.rs`) |
//! | TensorFlow | master (worker 0), workers and parameter servers with host lists and `TF_CONFIG` (`tensorflow.rs`) |
//! | Caffe2 | one process per node, shard id in `AZ_BATCHAI_TASK_INDEX` |
//!
//! Ranks are spread over nodes in blocks ([`distribution`]); command lines are built as text
//! and run directly when bash would not change them ([`simple_command`]); [`plan::LaunchPlan`]
//! documents file names and the exit-code rule.

mod command;
pub mod distribution;
pub mod env;
mod error;
mod mpi;
pub mod plan;
mod pytorch;
mod rank_shim;
mod ranks;
pub mod request;
pub mod simple_command;
mod tensorflow;

#[cfg(test)]
mod tests;

pub use env::Env;
pub use error::PlanError;
pub use plan::{LaunchPlan, ProcessPlan, Program, Role};
pub use request::{DirectoryPath, JobIdentity, JobPaths, LaunchRequest, Mpirun, NodePaths, PlacedNode, SecretValue};

use crate::engine::model::job::JobSpec;
use crate::engine::model::toolkits::{CaffeSettings, CntkLanguage, CntkSettings, Toolkit};

/// How many TCP ports [`plan`](fn@plan) will take from `LaunchRequest::ports` for this job.
pub fn ports_needed(spec: &JobSpec) -> Result<usize, PlanError> {
    Ok(match spec.toolkit()? {
        Toolkit::TensorFlow(s) => tensorflow::Counts::of(s, spec.node_count).ports(),
        // MASTER_PORT, for scripts that rendezvous with `env://` instead of the init-method file.
        Toolkit::PyTorch(_) => 1,
        _ => 0,
    })
}

/// Plans the job: job preparation on every node, then the toolkit's processes.
pub fn plan(req: &LaunchRequest<'_>) -> Result<LaunchPlan, PlanError> {
    let spec = req.spec;
    let toolkit = spec.toolkit()?;
    if req.nodes.is_empty() || req.nodes.len() != spec.node_count as usize {
        return Err(PlanError::Placement { given: req.nodes.len(), wanted: spec.node_count });
    }
    let needed = ports_needed(spec)?;
    if req.ports.len() < needed {
        return Err(PlanError::Ports { needed, given: req.ports.len() });
    }
    check_directories(req)?;
    let secrets = secrets(req)?;
    let ctx = Ctx::new(req);

    let none = Env::new();
    let planned = match toolkit {
        Toolkit::CustomToolkit(s) => custom_toolkit(&ctx, s.command_line.as_deref().unwrap_or("")),
        Toolkit::CustomMpi(s) => {
            mpi::plan(&ctx, "customMpiSettings", &s.command_line, ctx.process_count(s.process_count), &none)?
        }
        Toolkit::Horovod(s) => {
            let line = ctx.script_line(&s.python_interpreter_path, &s.python_script_file_path, &s.command_line_args);
            mpi::plan(&ctx, "horovodSettings", &line, ctx.process_count(s.process_count), &none)?
        }
        Toolkit::Chainer(s) => {
            let line = ctx.script_line(&s.python_interpreter_path, &s.python_script_file_path, &s.command_line_args);
            mpi::plan(&ctx, "chainerSettings", &line, ctx.process_count(s.process_count), &none)?
        }
        Toolkit::Cntk(s) => {
            mpi::plan(&ctx, "cntkSettings", &cntk_line(&ctx, s), ctx.process_count(s.process_count), &none)?
        }
        // Caffe trains multi-GPU within one process; the spec names no MPI launch for it.
        Toolkit::Caffe(s) => {
            ranks::direct(&ctx, &caffe_line(&ctx, s), ctx.process_count(s.process_count), &none, false)
        }
        Toolkit::PyTorch(s) => pytorch::plan(&ctx, s)?,
        Toolkit::TensorFlow(s) => tensorflow::plan(&ctx, s),
        Toolkit::Caffe2(s) => {
            let line = ctx.script_line(&s.python_interpreter_path, &s.python_script_file_path, &s.command_line_args);
            ranks::direct(&ctx, &line, spec.node_count, &none, false)
        }
    };

    let job_preparation = match &spec.job_preparation {
        Some(prep) => (0..req.nodes.len())
            .map(|node| {
                let (stdout, stderr) = plan::job_prep_files(node);
                // Job preparation runs once per node: its task index is the node's.
                let mut own = Env::new();
                own.set_twin("TASK_INDEX", node.to_string());
                ProcessPlan {
                    node,
                    index: node as u32,
                    role: Role::JobPreparation,
                    program: Program::from_line(&prep.command_line),
                    env: ctx.process_env(node, &own),
                    stdout,
                    stderr,
                }
            })
            .collect(),
        None => Vec::new(),
    };

    Ok(LaunchPlan {
        tool_type: toolkit.tool_type(),
        job_preparation,
        processes: planned.processes,
        host_file: mpi::host_file(req.nodes, &planned.slots),
        secrets,
    })
}

/// A toolkit's processes, and how many slots each node gets in the MPI host file.
struct Planned {
    processes: Vec<ProcessPlan>,
    slots: Vec<u32>,
}

/// The request plus each node's base environment, shared by the toolkit planners.
struct Ctx<'a> {
    req: &'a LaunchRequest<'a>,
    base: Vec<Env>,
}

impl<'a> Ctx<'a> {
    fn new(req: &'a LaunchRequest<'a>) -> Self {
        Ctx { req, base: req.nodes.iter().map(|node| env::node_env(req, node)).collect() }
    }

    fn node_count(&self) -> usize {
        self.req.nodes.len()
    }

    /// `processCount`, by default one per node.
    fn process_count(&self, given: Option<u32>) -> u32 {
        given.unwrap_or(self.req.spec.node_count)
    }

    /// `<python> <script> <args>`, with the job's interpreter or the caller's default.
    fn script_line(&self, interpreter: &Option<String>, script: &str, args: &Option<String>) -> String {
        command::python(interpreter.as_deref().unwrap_or(self.req.python), script, args.as_deref())
    }

    /// The environment of a process on `node`: the node's variables, then `extra`, then the job's.
    fn process_env(&self, node: usize, extra: &Env) -> Env {
        let mut env = self.base[node].clone();
        env.extend(extra);
        env::apply_user(&mut env, &self.req.spec.environment_variables);
        env
    }
}

fn custom_toolkit(ctx: &Ctx<'_>, line: &str) -> Planned {
    let (stdout, stderr) = plan::task_files(1, 0);
    // Every job gets a task index (the environment list); the only task is task 0.
    let mut own = Env::new();
    own.set_twin("TASK_INDEX", "0");
    let process = ProcessPlan {
        node: 0,
        index: 0,
        role: Role::Master,
        program: Program::from_line(line),
        env: ctx.process_env(0, &own),
        stdout,
        stderr,
    };
    // Users run their own `mpirun --hostfile $AZ_BATCHAI_MPI_HOST_FILE`: offer one slot per GPU,
    // or per CPU on nodes without GPUs.
    let slots =
        ctx.req.nodes.iter().map(|n| if n.gpus.is_empty() { n.cpus.max(1) } else { n.gpus.len() as u32 }).collect();
    Planned { processes: vec![process], slots }
}

fn cntk_line(ctx: &Ctx<'_>, s: &CntkSettings) -> String {
    match s.language_type {
        CntkLanguage::BrainScript => {
            command::cntk_brainscript(s.config_file_path.as_deref().unwrap_or(""), s.command_line_args.as_deref())
        }
        CntkLanguage::Python => ctx.script_line(
            &s.python_interpreter_path,
            s.python_script_file_path.as_deref().unwrap_or(""),
            &s.command_line_args,
        ),
    }
}

fn caffe_line(ctx: &Ctx<'_>, s: &CaffeSettings) -> String {
    match (&s.config_file_path, &s.python_script_file_path) {
        (Some(config), _) => command::caffe_train(config, s.command_line_args.as_deref()),
        (None, script) => {
            ctx.script_line(&s.python_interpreter_path, script.as_deref().unwrap_or(""), &s.command_line_args)
        }
    }
}

/// Every input and output directory of the spec has a resolved path.
fn check_directories(req: &LaunchRequest<'_>) -> Result<(), PlanError> {
    let has = |dirs: &[DirectoryPath], id: &str| dirs.iter().any(|d| d.id == id);
    if let Some(dir) = req.spec.input_directories.iter().find(|d| !has(&req.paths.inputs, &d.id)) {
        return Err(PlanError::MissingDirectory { kind: "input", id: dir.id.clone() });
    }
    if let Some(dir) = req.spec.output_directories.iter().find(|d| !has(&req.paths.outputs, &d.id)) {
        return Err(PlanError::MissingDirectory { kind: "output", id: dir.id.clone() });
    }
    Ok(())
}

/// The spec's secrets with their values: from the request, else from the spec itself.
fn secrets(req: &LaunchRequest<'_>) -> Result<Vec<(String, SecretValue)>, PlanError> {
    req.spec
        .secrets
        .iter()
        .map(|secret| {
            let given = req.secrets.iter().find(|(name, _)| *name == secret.name).map(|(_, v)| v.clone());
            match given.or_else(|| secret.value.clone().map(SecretValue::new)) {
                Some(value) => Ok((secret.name.clone(), value)),
                None => Err(PlanError::MissingSecret(secret.name.clone())),
            }
        })
        .collect()
}
