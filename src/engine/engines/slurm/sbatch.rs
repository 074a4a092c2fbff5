//! Pure: what batchai tells `sbatch`, and what `squeue` answers.

use std::path::Path;
use std::time::Duration;

use crate::engine::engines::RunAllocation;
use crate::engine::model::slurm::minutes;

/// Slurm's grace is ours too: the agent stops a job at its wall clock (SIGTERM, grace, SIGKILL);
/// Slurm's own limit comes this much later, so it only acts when the agent cannot.
pub const TIME_LIMIT_MARGIN: Duration = Duration::from_secs(120);

/// The `sbatch` arguments (before the script path) and the script of a run.
pub fn submission(run: &RunAllocation<'_>, run_dir: &Path, launcher: &[String]) -> (Vec<String>, String) {
    let nodes = run.nodes.len();
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=batchai:{}/{}", run.experiment, run.job),
        format!("--nodes={nodes}"),
        format!("--ntasks={nodes}"),
        "--ntasks-per-node=1".to_string(),
        format!("--output={}", run_dir.join("slurm.log").display()),
        "--open-mode=append".to_string(),
        format!("--chdir={}", run_dir.display()),
        // A requeued Slurm job would start the launchers again; batchai requeues by itself.
        "--no-requeue".to_string(),
        // How a restarted agent finds the job if it died inside `sbatch` (see `driver`).
        format!("--comment={}", comment(run.uid, run.attempt)),
    ];
    let gres = gres(run);
    if let Some(slurm) = run.slurm {
        args.push(format!("--partition={}", slurm.partition));
        for (flag, value) in [("account", &slurm.account), ("qos", &slurm.qos), ("constraint", &slurm.constraint)] {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        }
    }
    if let Some(gres) = &gres {
        args.push(format!("--gres={gres}"));
    }
    match (run.wall_clock_set, run.slurm.and_then(|s| s.time_limit.as_ref())) {
        (false, Some(limit)) => args.push(format!("--time={limit}")),
        _ => args.push(format!("--time={}", minutes(run.wall_clock + TIME_LIMIT_MARGIN))),
    }
    if let Some(slurm) = run.slurm {
        args.extend(slurm.extra_sbatch_args.iter().cloned());
    }
    // A one-node job's batch script already runs on its node: the launcher starts there without
    // a job step (srun costs a step launch per job, most of a short job's overhead).
    let mut step = Vec::new();
    if nodes > 1 {
        step.extend([
            "srun".to_string(),
            format!("--nodes={nodes}"),
            format!("--ntasks={nodes}"),
            "--ntasks-per-node=1".to_string(),
            // One launcher failing must not kill the others: each reports its own processes.
            "--kill-on-bad-exit=0".to_string(),
        ]);
        if let Some(gres) = &gres {
            step.push(format!("--gres={gres}"));
        }
    }
    step.extend(launcher.iter().cloned());
    let script = format!(
        "#!/bin/sh\n# batchai job {}/{} (uid {}, attempt {}): one node launcher per node.\n\
         export SLURM_NODEID=\"${{SLURM_NODEID:-0}}\"\nexec {}\n",
        run.experiment,
        run.job,
        run.uid,
        run.attempt,
        step.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    );
    (args, script)
}

/// The Slurm comment that names a run.
pub fn comment(uid: &str, attempt: u32) -> String {
    format!("batchai:{uid}:{attempt}")
}

/// The `--gres` of each node: the cluster's, or the node shape's GPUs.
fn gres(run: &RunAllocation<'_>) -> Option<String> {
    match run.slurm.and_then(|s| s.gres_per_node.clone()) {
        Some(gres) => Some(gres),
        None if run.gpus_per_node > 0 => Some(format!("gpu:{}", run.gpus_per_node)),
        None => None,
    }
}

pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+".contains(&b)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The Slurm job id in `sbatch --parsable`'s answer (`123` or `123;cluster`).
pub fn parse_job_id(stdout: &str) -> Option<u64> {
    stdout.trim().split(';').next()?.trim().parse().ok()
}

/// One line of `squeue -h -o '%i|%T|%r'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: u64,
    pub state: String,
    pub reason: String,
}

pub const SQUEUE_FORMAT: &str = "%i|%T|%r";

pub fn parse_squeue(stdout: &str) -> Vec<QueueEntry> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.trim().splitn(3, '|');
            let id = parts.next()?.trim().parse().ok()?;
            let state = parts.next()?.trim().to_string();
            let reason = parts.next().unwrap_or("").trim().to_string();
            Some(QueueEntry { id, state, reason })
        })
        .collect()
}

/// What a Slurm job state means for batchai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    /// Over: whatever its processes did not report themselves is lost.
    Ended,
}

pub fn phase(state: &str) -> Phase {
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" | "SUSPENDED" => {
            Phase::Pending
        }
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING" | "STOPPED" => Phase::Running,
        _ => Phase::Ended,
    }
}

/// Slurm ended the job because its nodes went away, not because of anything the job did.
pub fn nodes_taken(state: &str) -> bool {
    matches!(state, "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL")
}

/// Pending reasons that no change in the queue clears: the request exceeds what the partition
/// or the account can ever give, so the job would wait forever. With what to do about it.
pub fn never_starts(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "PartitionNodeLimit" => "the job asks for more nodes than its partition allows: ask for fewer nodes",
        "PartitionConfig" => {
            "the job asks for more than the partition can give (nodes, or CPUs, memory or GRES per node): ask for \
             fewer nodes, or lower the node shape, gresPerNode or extraSbatchArgs"
        }
        "PartitionTimeLimit" => "the job's time limit exceeds the partition's: lower maxWallClockTime or timeLimit",
        "BadConstraints" => "no node of the partition has the requested constraint: fix slurm.constraint",
        "InvalidAccount" => "the account is not valid: fix slurm.account",
        "InvalidQOS" => "the QOS is not valid for this account: fix slurm.qos",
        _ => return None,
    })
}

/// Slurm's pending reasons, in words a user can act on.
pub fn explain_pending(id: u64, reason: &str) -> String {
    let words = match reason {
        "Resources" => "waiting for resources: the partition's nodes are busy",
        "Priority" => "waiting behind jobs of higher priority",
        "None" | "" => "waiting to be scheduled",
        "BeginTime" => "waiting for its begin time",
        "Dependency" => "waiting for a dependency",
        "PartitionDown" | "PartitionInactive" => "its partition is down",
        "ReqNodeNotAvail" => "the nodes it needs are not available",
        "AssocGrpGRES" | "AssocGrpCpuLimit" | "AssocGrpNodeLimit" | "QOSMaxJobsPerUserLimit" => {
            "held by a limit of its account or QOS"
        }
        other => return format!("Slurm job {id} is pending ({other})"),
    };
    format!("Slurm job {id} is pending ({reason}): {words}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::slurm::SlurmSettings;

    fn run<'a>(nodes: &'a [String], slurm: Option<&'a SlurmSettings>, gpus: u32) -> RunAllocation<'a> {
        RunAllocation {
            uid: "u1",
            attempt: 1,
            experiment: "exp",
            job: "train",
            nodes,
            host_files: Vec::new(),
            gpus_per_node: gpus,
            wall_clock: Duration::from_secs(600),
            wall_clock_set: true,
            slurm,
        }
    }

    #[test]
    fn a_run_is_one_sbatch_with_a_launcher_per_node() {
        let nodes = vec!["hpc-0".to_string(), "hpc-1".to_string()];
        let settings = SlurmSettings {
            partition: "gpu".into(),
            account: Some("ml".into()),
            extra_sbatch_args: vec!["--mem=4G".into()],
            ..Default::default()
        };
        let launcher = vec!["/usr/bin/python3".to_string(), "-c".into(), "print('it''s')".into()];
        let (args, script) = submission(&run(&nodes, Some(&settings), 2), Path::new("/ws/slurm/u1-1"), &launcher);
        for expected in [
            "--nodes=2",
            "--ntasks-per-node=1",
            "--partition=gpu",
            "--account=ml",
            "--gres=gpu:2",
            "--time=12",
            "--job-name=batchai:exp/train",
            "--mem=4G",
            "--no-requeue",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected} missing from {args:?}");
        }
        assert!(
            script.contains("exec srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --kill-on-bad-exit=0 --gres=gpu:2")
        );
        assert!(script.contains("'print('\\''it'\\'''\\''s'\\'')'"), "{script}");
    }

    #[test]
    fn the_clusters_time_limit_applies_only_to_jobs_without_their_own() {
        let nodes = vec!["c-0".to_string()];
        let settings =
            SlurmSettings { partition: "p".into(), time_limit: Some("1:00:00".into()), ..Default::default() };
        let mut allocation = run(&nodes, Some(&settings), 0);
        allocation.wall_clock_set = false;
        let (args, script) = submission(&allocation, Path::new("/r"), &["launcher".to_string()]);
        assert!(args.contains(&"--time=1:00:00".to_string()));
        assert!(script.ends_with("exec launcher\n"), "one node: no job step: {script}");
        assert!(!args.iter().any(|a| a.starts_with("--gres")));
        allocation.wall_clock_set = true;
        let (args, _) = submission(&allocation, Path::new("/r"), &[]);
        assert!(args.contains(&"--time=12".to_string()));
    }

    #[test]
    fn squeue_lines_and_states() {
        let entries = parse_squeue("12|PENDING|Resources\n13|RUNNING|None\nbad line\n14|COMPLETED|None\n");
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0], QueueEntry { id: 12, state: "PENDING".into(), reason: "Resources".into() });
        assert_eq!(phase("PENDING"), Phase::Pending);
        assert_eq!(phase("COMPLETING"), Phase::Running);
        for ended in ["COMPLETED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "FAILED", "OUT_OF_MEMORY"] {
            assert_eq!(phase(ended), Phase::Ended, "{ended}");
        }
        assert_eq!(parse_job_id("4242\n"), Some(4242));
        assert_eq!(parse_job_id("4242;cluster\n"), Some(4242));
        assert!(explain_pending(7, "Resources").contains("busy"));
        assert!(never_starts("PartitionNodeLimit").unwrap().contains("fewer nodes"));
        assert_eq!(never_starts("Resources"), None);
        assert_eq!(never_starts("Priority"), None);
        assert_eq!(explain_pending(7, "OddReason"), "Slurm job 7 is pending (OddReason)");
    }
}
