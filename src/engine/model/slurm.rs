//! A Slurm cluster's settings: where its jobs go and what `sbatch` is told.
//!
//! A cluster with `engine: "slurm"` runs each batchai job as one Slurm job on `partition`; the
//! other fields are passed to `sbatch` as their flags. Validated here so that a request Slurm
//! could never accept fails when the cluster is created, not when its first job is submitted.

use serde::{Deserialize, Serialize};

use super::validate::{self, Check};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`: the cluster's nodes are this partition's nodes.
    pub partition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// `--gres` per node, such as `gpu:a100:2`. Absent: `gpu:<nodeShape.gpus>` when the shape has
    /// GPUs, no `--gres` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres_per_node: Option<String>,
    /// `--time` for jobs that set no `maxWallClockTime`, in Slurm's format (`90`, `1:30:00`,
    /// `2-00:00:00`). A job's own limit wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<String>,
    /// Further `sbatch` flags, each one argument (`--mem=4G`, `--exclusive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_sbatch_args: Vec<String>,
}

/// Flags batchai sets itself: given again in `extraSbatchArgs` they would contradict the job.
const OWN_FLAGS: &[(&str, &str)] = &[
    ("--nodes", "the job's nodeCount"),
    ("-N", "the job's nodeCount"),
    ("--ntasks", "one node launcher per node"),
    ("-n", "one node launcher per node"),
    ("--job-name", "the job's name"),
    ("-J", "the job's name"),
    ("--output", "the job's stdOutErrPathPrefix"),
    ("-o", "the job's stdOutErrPathPrefix"),
    ("--error", "the job's stdOutErrPathPrefix"),
    ("-e", "the job's stdOutErrPathPrefix"),
    ("--wrap", "the node launcher's script"),
    ("--array", "sweeps (each trial is its own job)"),
    ("-a", "sweeps (each trial is its own job)"),
    ("--partition", "slurm.partition"),
    ("-p", "slurm.partition"),
    ("--time", "the job's maxWallClockTime or slurm.timeLimit"),
    ("-t", "the job's maxWallClockTime or slurm.timeLimit"),
    ("--chdir", "the job's working directory"),
    ("-D", "the job's working directory"),
    ("--parsable", "batchai reading sbatch's answer"),
    ("--wait", "batchai's agent, which watches the job itself"),
    ("--comment", "batchai's record of which run the job is (found again after an agent restart)"),
    ("-W", "batchai's agent, which watches the job itself"),
];

impl SlurmSettings {
    pub fn validate(&self, prefix: &str) -> Check {
        let field = |name: &str| format!("{prefix}{name}");
        word(&field("partition"), &self.partition)?;
        for (name, value) in [("account", &self.account), ("qos", &self.qos), ("constraint", &self.constraint)] {
            if let Some(value) = value {
                word(&field(name), value)?;
            }
        }
        if let Some(gres) = &self.gres_per_node {
            word(&field("gresPerNode"), gres)?;
        }
        if let Some(limit) = &self.time_limit {
            time_limit(&field("timeLimit"), limit)?;
        }
        for (i, arg) in self.extra_sbatch_args.iter().enumerate() {
            let name = field(&format!("extraSbatchArgs[{i}]"));
            if !arg.starts_with('-') || arg.contains(['\n', '\r', '\0']) {
                return validate::fail(
                    &name,
                    arg,
                    "must be one sbatch flag such as '--mem=4G' (starting with '-', one line): give a flag's value \
                     in the same argument",
                );
            }
            let flag = arg.split('=').next().unwrap_or(arg);
            let short = flag.len() > 2 && !flag.starts_with("--");
            let head = if short { &flag[..2] } else { flag };
            if let Some((own, why)) = OWN_FLAGS.iter().find(|(own, _)| *own == head) {
                return validate::fail(
                    &name,
                    arg,
                    &format!("sets {own}, which batchai sets from {why}: remove it and use that setting instead"),
                );
            }
        }
        Ok(())
    }
}

/// One word that goes into an `sbatch` flag: not blank, no white space or control characters.
fn word(field: &str, value: &str) -> Check {
    validate::not_blank(field, value)?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return validate::fail(field, &value, "must be one word: no spaces, tabs or line breaks");
    }
    Ok(())
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, or `infinite`.
fn time_limit(field: &str, value: &str) -> Check {
    if matches!(value, "infinite" | "unlimited" | "UNLIMITED" | "INFINITE") {
        return Ok(());
    }
    let numbers = |part: &str| {
        !part.is_empty() && part.split(':').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let ok = match value.split_once('-') {
        Some((days, rest)) => {
            !days.is_empty()
                && days.bytes().all(|b| b.is_ascii_digit())
                && numbers(rest)
                && rest.split(':').count() <= 3
        }
        None => numbers(value) && value.split(':').count() <= 3,
    };
    if ok {
        Ok(())
    } else {
        validate::fail(
            field,
            &value,
            "must be a Slurm time: minutes ('90'), 'MM:SS', 'HH:MM:SS', 'D-HH', 'D-HH:MM' or 'D-HH:MM:SS'",
        )
    }
}

/// Slurm's `--time` for a wall clock limit: whole minutes, rounded up (Slurm's granularity).
pub fn minutes(limit: std::time::Duration) -> String {
    limit.as_secs().div_ceil(60).max(1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: serde_json::Value) -> SlurmSettings {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_partition_alone_is_enough() {
        assert!(settings(serde_json::json!({"partition": "debug"})).validate("slurm.").is_ok());
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let blank = settings(serde_json::json!({"partition": " "})).validate("slurm.").unwrap_err();
        assert_eq!(blank.field, "slurm.partition");
        let spaced =
            settings(serde_json::json!({"partition": "gpu", "account": "a b"})).validate("slurm.").unwrap_err();
        assert_eq!(spaced.field, "slurm.account");
        let own = settings(serde_json::json!({"partition": "gpu", "extraSbatchArgs": ["--mem=4G", "-N2"]}))
            .validate("slurm.")
            .unwrap_err();
        assert_eq!(own.field, "slurm.extraSbatchArgs[1]");
        assert!(own.to_string().contains("nodeCount"), "{own}");
        let loose = settings(serde_json::json!({"partition": "gpu", "extraSbatchArgs": ["4G"]}))
            .validate("slurm.")
            .unwrap_err();
        assert_eq!(loose.field, "slurm.extraSbatchArgs[0]");
    }

    #[test]
    fn time_limits_follow_slurm() {
        for good in ["90", "1:30", "01:30:00", "2-00", "2-00:30", "2-00:30:00", "infinite"] {
            assert!(time_limit("t", good).is_ok(), "{good}");
        }
        for bad in ["", "1h", "1:2:3:4", "-5", "2-", "1.5", "a-01"] {
            assert!(time_limit("t", bad).is_err(), "{bad}");
        }
        assert_eq!(minutes(std::time::Duration::from_secs(61)), "2");
        assert_eq!(minutes(std::time::Duration::from_secs(5)), "1");
    }
}
