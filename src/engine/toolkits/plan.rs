//! What the planner hands back: the processes to start, where, with what, and how the job ends.
//!
//! **Programs.** A [`Program::Direct`] is an argv to exec; the caller looks `argv[0]` up on the
//! PATH the process will have (the job may set its own) and, when it is not found (a shell builtin, say), runs
//! [`Program::shell_line`] through `bash -c` instead, which gives the same result bash would
//! have. A [`Program::Shell`] is a command line for `bash -c`.
//!
//! **Output files** (in `AZ_BATCHAI_STDOUTERR_DIR`): a job with one process writes `stdout.txt`
//! and `stderr.txt` (this includes every job launched through one `mpirun`, whose output holds
//! all ranks); TensorFlow jobs with several processes write `stdout-wk-<i>.txt` /
//! `stdout-ps-<i>.txt`; every other multi-process job writes `stdout-<rank>.txt`. Job
//! preparation writes `stdout-job_prep.txt` on the master node and `stdout-job_prep-<node>.txt`
//! on node 1 and up, so nodes sharing the folder do not overwrite each other. Every `stdout-`
//! name has its `stderr-` twin.
//!
//! **How the job ends** (spec §1.8). `processes[0]` is the primary (custom toolkit's only process,
//! TensorFlow's master, rank 0, or `mpirun`). Every process must run to its end except
//! TensorFlow's parameter servers, which never exit on their own: the job succeeds, with exit
//! code 0, once every process that must finish has exited 0. The first process to exit non-zero
//! (a parameter server included) ends the job at once with its code, as `mpirun` does for its
//! ranks. Either way the caller then stops whatever still runs. [`LaunchPlan::job_exit`] applies
//! this rule.

use std::borrow::Cow;

use crate::engine::model::toolkits::ToolType;

use super::env::Env;
use super::request::SecretValue;
use super::simple_command::{quote_word, simple_words};

/// How to start a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Exec these words; fall back to `bash -c <shell_line>` when `argv[0]` is not found.
    Direct(Vec<String>),
    /// Run this line with `bash -c`.
    Shell(String),
}

impl Program {
    /// A command line as Batch AI ran it: direct when bash would see plain words only.
    pub fn from_line(line: &str) -> Program {
        match simple_words(line) {
            Some(words) => Program::Direct(words.into_iter().map(str::to_string).collect()),
            None => Program::Shell(line.to_string()),
        }
    }

    /// The line for `bash -c`: the line itself, or the words of a direct program, each quoted
    /// where bash would otherwise change it.
    pub fn shell_line(&self) -> Cow<'_, str> {
        match self {
            Program::Direct(argv) => Cow::Owned(argv.iter().map(|w| quote_word(w)).collect::<Vec<_>>().join(" ")),
            Program::Shell(line) => Cow::Borrowed(line),
        }
    }

    /// The argv to exec first: the words, or `[bash, "-c", line]`.
    pub fn argv(&self, bash: &str) -> Vec<String> {
        match self {
            Program::Direct(argv) => argv.clone(),
            Program::Shell(line) => vec![bash.to_string(), "-c".to_string(), line.clone()],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `jobPreparation.commandLine`, once per node before anything else.
    JobPreparation,
    /// The custom toolkit's command, a single-process job, or TensorFlow's worker 0.
    Master,
    /// A TensorFlow worker other than the master.
    Worker,
    /// A TensorFlow parameter server.
    ParameterServer,
    /// One rank of a PyTorch, Caffe2 or MPI-style job started directly.
    Rank,
    /// The one `mpirun` that starts every rank.
    Mpirun,
}

/// One process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    /// Index into the request's `nodes`.
    pub node: usize,
    /// Task index: the rank, TensorFlow's index within its role, or the node for job preparation.
    pub index: u32,
    pub role: Role,
    pub program: Program,
    /// Added to the caller's environment, then [`LaunchPlan::secrets`] on top.
    pub env: Env,
    /// File names in `AZ_BATCHAI_STDOUTERR_DIR`.
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    pub tool_type: ToolType,
    /// One per node, in node order; all must succeed before `processes` start. Empty without
    /// `jobPreparation`.
    pub job_preparation: Vec<ProcessPlan>,
    /// The job itself; `processes[0]` is the primary (see the module docs).
    pub processes: Vec<ProcessPlan>,
    /// Content for the file at `AZ_BATCHAI_MPI_HOST_FILE`: `<address> slots=<n>` per address.
    pub host_file: String,
    /// The job's secrets, set in every process and job preparation after `env`. Kept out of
    /// `env` so that printing a plan never shows them.
    pub secrets: Vec<(String, SecretValue)>,
}

impl LaunchPlan {
    pub fn primary(&self) -> &ProcessPlan {
        &self.processes[0]
    }

    /// Everything to add to the caller's environment for `process`, secrets last.
    pub fn environment<'a>(&'a self, process: &'a ProcessPlan) -> impl Iterator<Item = (&'a str, &'a str)> {
        process.env.iter().chain(self.secrets.iter().map(|(n, v)| (n.as_str(), v.expose())))
    }

    /// Whether the job waits for this process (an index into `processes`) to end.
    pub fn must_finish(&self, process: usize) -> bool {
        self.processes.get(process).is_some_and(|p| p.role != Role::ParameterServer)
    }

    /// Process `process` exited with `code`, after the processes in `succeeded` exited 0: the
    /// job's exit code when this ends the job, `None` while it goes on.
    pub fn job_exit(&self, process: usize, code: i32, succeeded: &std::collections::BTreeSet<usize>) -> Option<i32> {
        if code != 0 {
            return Some(code);
        }
        let done = |i: usize| i == process || succeeded.contains(&i);
        (0..self.processes.len()).filter(|&i| self.must_finish(i)).all(done).then_some(0)
    }
}

/// `(stdout, stderr)` names.
pub(super) fn files(stem: &str) -> (String, String) {
    (format!("stdout{stem}.txt"), format!("stderr{stem}.txt"))
}

/// Names for a job's process: plain for a one-process job, else `-<index>`.
pub(super) fn task_files(processes: usize, index: u32) -> (String, String) {
    if processes == 1 { files("") } else { files(&format!("-{index}")) }
}

pub(super) fn job_prep_files(node: usize) -> (String, String) {
    if node == 0 { files("-job_prep") } else { files(&format!("-job_prep-{node}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_fall_back_to_the_same_line() {
        let direct = Program::from_line("  python  train.py --lr=1 ");
        assert_eq!(direct, Program::Direct(vec!["python".into(), "train.py".into(), "--lr=1".into()]));
        assert_eq!(direct.shell_line(), "python train.py --lr=1");
        assert_eq!(direct.argv("bash"), ["python", "train.py", "--lr=1"]);
        let shell = Program::from_line("cd /x && make");
        assert_eq!(shell, Program::Shell("cd /x && make".into()));
        assert_eq!(shell.argv("/bin/bash"), ["/bin/bash", "-c", "cd /x && make"]);
        assert_eq!(Program::from_line(""), Program::Shell(String::new()));
        let built = Program::Direct(vec!["mpirun".into(), "bash".into(), "-c".into(), "echo $X; it's".into()]);
        assert_eq!(built.shell_line(), "mpirun bash -c 'echo $X; it'\\''s'");
    }

    #[test]
    fn file_names() {
        assert_eq!(task_files(1, 0), ("stdout.txt".into(), "stderr.txt".into()));
        assert_eq!(task_files(4, 3), ("stdout-3.txt".into(), "stderr-3.txt".into()));
        assert_eq!(job_prep_files(0), ("stdout-job_prep.txt".into(), "stderr-job_prep.txt".into()));
        assert_eq!(job_prep_files(2), ("stdout-job_prep-2.txt".into(), "stderr-job_prep-2.txt".into()));
    }

    #[test]
    fn every_process_must_finish_and_any_failure_ends_the_job() {
        let process = |role| ProcessPlan {
            node: 0,
            index: 0,
            role,
            program: Program::Shell("true".into()),
            env: Env::new(),
            stdout: String::new(),
            stderr: String::new(),
        };
        let plan = LaunchPlan {
            tool_type: ToolType::Tensorflow,
            job_preparation: vec![],
            processes: vec![process(Role::Master), process(Role::Worker), process(Role::ParameterServer)],
            host_file: String::new(),
            secrets: vec![],
        };
        let none = std::collections::BTreeSet::new();
        let worker_done: std::collections::BTreeSet<usize> = [1].into();
        assert_eq!(plan.job_exit(0, 0, &none), None, "the master ending first does not end the job");
        assert_eq!(plan.job_exit(0, 0, &worker_done), Some(0), "master and workers done; the ps does not count");
        assert_eq!(plan.job_exit(1, 0, &[0].into()), Some(0));
        assert_eq!(plan.job_exit(2, 0, &none), None, "a parameter server ending cleanly changes nothing");
        assert_eq!(plan.job_exit(2, 137, &none), Some(137), "a crashed parameter server fails the job");
        assert_eq!(plan.job_exit(1, 3, &none), Some(3));
        assert!(!plan.must_finish(2) && plan.must_finish(1));
    }
}
