//! Environment variables of a planned process (spec §3).
//!
//! Every variable Batch AI defined is set under its original `AZ_BATCHAI_<NAME>` and under a
//! `BATCHAI_<NAME>` twin ([`Env::set_twin`]), so Batch AI recipes run unchanged while new code can
//! use the shorter name. A process's environment is built in layers, later ones replacing a name
//! in place: the node's variables ([`node_env`]), the toolkit's job-wide variables, the
//! process's own (rank, task index), then the job's `environmentVariables`. User variables come
//! last and win, so a job can still override `CUDA_VISIBLE_DEVICES`; their values may refer to
//! variables already set (`$AZ_BATCHAI_INPUT_DATA/train`, `${OTHER_USER_VAR}`), which are
//! expanded here as Batch AI did. References to anything else (`$HOME`, `$PATH`) stay literal:
//! the planner does not see the caller's environment.
//!
//! Secret values never enter an [`Env`]: they travel separately (see `LaunchPlan::secrets`).

use std::collections::HashMap;

use crate::engine::model::common::EnvironmentVariable;

use super::request::{LaunchRequest, PlacedNode};

/// Ordered name/value pairs; setting a name again replaces its value where it first appeared.
/// An index by name keeps `set` and `get` constant-time: a job may give 100,000 variables, and
/// a scan per variable would make building its environment quadratic.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pairs: Vec<(String, String)>,
    /// name → position in `pairs`.
    index: HashMap<String, usize>,
}

impl PartialEq for Env {
    fn eq(&self, other: &Self) -> bool {
        // The index follows from the pairs.
        self.pairs == other.pairs
    }
}

impl Eq for Env {}

impl Env {
    pub fn new() -> Self {
        Env::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.index.get(&name) {
            Some(&at) => self.pairs[at].1 = value,
            None => {
                self.index.insert(name.clone(), self.pairs.len());
                self.pairs.push((name, value));
            }
        }
    }

    /// Sets `AZ_BATCHAI_<suffix>` and its twin `BATCHAI_<suffix>`.
    pub fn set_twin(&mut self, suffix: &str, value: impl Into<String>) {
        let value = value.into();
        self.set(format!("AZ_BATCHAI_{suffix}"), value.clone());
        self.set(format!("BATCHAI_{suffix}"), value);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&at| self.pairs[at].1.as_str())
    }

    /// Applies every pair of `other` on top of this one.
    pub fn extend(&mut self, other: &Env) {
        for (name, value) in other.iter() {
            self.set(name, value);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_str())
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The variables every process and the job preparation on `node` see (spec §3 table).
pub fn node_env(req: &LaunchRequest<'_>, node: &PlacedNode) -> Env {
    let mut env = Env::new();
    env.set_twin("MOUNT_ROOT", &node.paths.mount_root);
    env.set_twin("JOB_MOUNT_ROOT", &node.paths.job_mount_root);
    env.set_twin("JOB_TEMP", &node.paths.job_temp);
    env.set_twin("JOB_TEMP_DIR", &node.paths.job_temp_root);
    env.set_twin("SHARED_JOB_TEMP", &req.paths.shared_job_temp);
    env.set_twin("STDOUTERR_DIR", &req.paths.stdouterr);
    env.set_twin("MPI_HOST_FILE", &req.paths.mpi_host_file);
    // Never empty, even without GPUs (microsoftarchive/BatchAI#40).
    let gpus = node.gpus.len().to_string();
    env.set_twin("NUM_GPUS", gpus.clone());
    env.set_twin("NUM_GPUS_PER_NODE", gpus);
    for dir in &req.paths.inputs {
        env.set_twin(&format!("INPUT_{}", dir.id), &dir.path);
    }
    for dir in &req.paths.outputs {
        env.set_twin(&format!("OUTPUT_{}", dir.id), &dir.path);
    }
    // batchai additions (no Batch AI original): which job this is.
    env.set("BATCHAI_WORKSPACE", &req.identity.workspace);
    env.set("BATCHAI_EXPERIMENT", &req.identity.experiment);
    env.set("BATCHAI_JOB_NAME", &req.identity.name);
    env.set("BATCHAI_JOB_UID", &req.identity.uid);
    // Where `batchai.log_metric` writes (see `engine::metrics`).
    let metrics = crate::engine::metrics::metrics_dir(std::path::Path::new(&req.paths.stdouterr));
    env.set(crate::engine::metrics::METRICS_DIR_ENV, metrics.display().to_string());
    mlflow_env(&mut env, req, &metrics);
    env.set("BATCHAI_NODE_ID", &node.id);
    // GPU ids are `nvidia-smi`'s (PCI bus order); CUDA's default order (fastest first) differs.
    env.set("CUDA_DEVICE_ORDER", "PCI_BUS_ID");
    // Empty when the node has no GPU, which hides every GPU from CUDA rather than exposing all.
    env.set("CUDA_VISIBLE_DEVICES", node.gpus.join(","));
    env
}

/// Routes `mlflow.log_metric` of a script written for Azure ML into the job's metrics folder,
/// where the agent tails MLflow's file store (`engine::metrics::mlflow`): MLflow ≥ 3.13 refuses
/// the file store without `MLFLOW_ALLOW_FILE_STORE`, and its default otherwise is a SQLite file
/// in the working directory that `mlflow-skinny` cannot even open. The MLflow experiment is the
/// batchai experiment, as Azure ML names it, unless the job picks one itself: `MLFLOW_EXPERIMENT_ID`
/// and a different `MLFLOW_EXPERIMENT_NAME` would contradict each other. The job's own values of
/// any of these win anyway, being applied last ([`apply_user`]).
fn mlflow_env(env: &mut Env, req: &LaunchRequest<'_>, metrics: &std::path::Path) {
    let mlruns = metrics.join(crate::engine::metrics::mlflow::MLRUNS);
    env.set("MLFLOW_TRACKING_URI", file_uri(&mlruns.display().to_string()));
    env.set("MLFLOW_ALLOW_FILE_STORE", "true");
    let user = &req.spec.environment_variables;
    if !user.iter().any(|v| v.name == "MLFLOW_EXPERIMENT_ID" || v.name == "MLFLOW_EXPERIMENT_NAME") {
        env.set("MLFLOW_EXPERIMENT_NAME", &req.identity.experiment);
    }
}

/// `file://` and the absolute `path`, percent-encoded where a URI needs it (a workspace under a
/// folder with a space or `#` in its name).
fn file_uri(path: &str) -> String {
    let mut uri = String::from("file://");
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(byte as char),
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// Applies the job's `environmentVariables` on top of `env`, expanding references to variables
/// already set.
pub fn apply_user(env: &mut Env, vars: &[EnvironmentVariable]) {
    for var in vars {
        let value = expand(&var.value, env);
        env.set(&var.name, value);
    }
}

/// Replaces `$NAME` and `${NAME}` by the value of `NAME` in `env`; anything else is kept as is.
pub fn expand(text: &str, env: &Env) -> String {
    expand_with(text, |name| env.get(name).map(str::to_string))
}

/// Replaces `$NAME` and `${NAME}` by what `lookup` gives; a reference it gives nothing for (and
/// one that is not a variable name, such as `$1`) is kept as written.
pub fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..end], end)
        };
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        match lookup(name).filter(|_| valid) {
            Some(value) => {
                out.push_str(&value);
                rest = &after[used..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut env = Env::new();
        for (n, v) in pairs {
            env.set(*n, *v);
        }
        env
    }

    #[test]
    fn setting_again_replaces_in_place() {
        let mut e = env(&[("A", "1"), ("B", "2")]);
        e.set("A", "3");
        assert_eq!(e.iter().collect::<Vec<_>>(), [("A", "3"), ("B", "2")]);
        e.set_twin("X", "v");
        assert_eq!(e.get("AZ_BATCHAI_X"), Some("v"));
        assert_eq!(e.get("BATCHAI_X"), Some("v"));
        assert_eq!(e.len(), 4);
    }

    #[test]
    fn a_hundred_thousand_variables_keep_order_and_later_ones_win() {
        let mut e = env(&[("PATH", "/bin"), ("V7", "node")]);
        let vars: Vec<EnvironmentVariable> = (0..100_000)
            .map(|i| EnvironmentVariable { name: format!("V{i}"), value: format!("first-{i}") })
            .chain(
                (0..100_000)
                    .step_by(2)
                    .map(|i| EnvironmentVariable { name: format!("V{i}"), value: format!("${{V{i}}}+again") }),
            )
            .collect();
        apply_user(&mut e, &vars);
        assert_eq!(e.len(), 100_001);
        let names: Vec<&str> = e.names().collect();
        assert_eq!(names[..3], ["PATH", "V7", "V0"], "a name keeps the place where it first appeared");
        assert_eq!(names[100_000], "V99999");
        assert_eq!(e.get("V7"), Some("first-7"), "the job's value replaces the node's");
        assert_eq!(e.get("V8"), Some("first-8+again"), "a later entry wins and sees the earlier value");
        assert_eq!(e.get("V99999"), Some("first-99999"));
        assert_eq!(e.iter().nth(2), Some(("V0", "first-0+again")));
    }

    #[test]
    fn file_uris_encode_what_a_uri_cannot_hold() {
        assert_eq!(file_uri("/ws/exp/job-1/metrics/mlruns"), "file:///ws/exp/job-1/metrics/mlruns");
        assert_eq!(file_uri("/my runs/#1/é"), "file:///my%20runs/%231/%C3%A9");
    }

    #[test]
    fn expands_only_known_names() {
        let e = env(&[("AZ_BATCHAI_INPUT_DATA", "/data"), ("N", "2")]);
        assert_eq!(expand("$AZ_BATCHAI_INPUT_DATA/train", &e), "/data/train");
        assert_eq!(expand("${AZ_BATCHAI_INPUT_DATA}x-$N-${N}", &e), "/datax-2-2");
        assert_eq!(expand("$PATH:/opt/bin", &e), "$PATH:/opt/bin");
        assert_eq!(expand("cost: $5 ${ $ $", &e), "cost: $5 ${ $ $");
        assert_eq!(expand("${UNKNOWN}$N", &e), "${UNKNOWN}2");
        assert_eq!(expand("no refs", &e), "no refs");
    }

    #[test]
    fn user_variables_see_earlier_ones_and_win() {
        let mut e = env(&[("AZ_BATCHAI_OUTPUT_MODEL", "/out"), ("CUDA_VISIBLE_DEVICES", "0")]);
        let vars = [
            EnvironmentVariable { name: "CKPT".into(), value: "$AZ_BATCHAI_OUTPUT_MODEL/ckpt".into() },
            EnvironmentVariable { name: "LATEST".into(), value: "${CKPT}/latest".into() },
            EnvironmentVariable { name: "CUDA_VISIBLE_DEVICES".into(), value: "".into() },
        ];
        apply_user(&mut e, &vars);
        assert_eq!(e.get("CKPT"), Some("/out/ckpt"));
        assert_eq!(e.get("LATEST"), Some("/out/ckpt/latest"));
        assert_eq!(e.get("CUDA_VISIBLE_DEVICES"), Some(""));
    }
}
