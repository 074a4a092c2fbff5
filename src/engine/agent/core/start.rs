//! Starting a run's processes: the job preparation on every node, then the toolkit's processes,
//! each a launch request to the supervisor. Idempotent per process key, so a restarted agent can
//! call it again and only what the supervisor does not know is started.

use std::path::PathBuf;

use super::prepare::{Prepared, engine_missing};
use super::runs::{Phase, Run, StopReason};
use super::{Core, Proc};
use crate::engine::engines::{Launch, RunAllocation};
use crate::engine::launcher::protocol::Exit;
use crate::engine::model::ErrorInfo;
use crate::engine::toolkits::{self, LaunchPlan, Program};

impl Core {
    /// After the run is committed (or after a restart, `fresh` false): folders, then the
    /// processes of the current phase that the supervisor does not know yet. Idempotent, except
    /// that a fresh start first wipes the nodes' job temp folders, as Batch AI did.
    pub(super) fn start_job(&mut self, id: i64, fresh: bool) {
        let Some(entry) = self.jobs.get(&id) else { return };
        let Some(run) = &entry.run else { return };
        if run.stop.is_some() {
            return self.maybe_finish(id);
        }
        let attempt = run.attempt;
        let uid = entry.job.uid.to_string();
        let nodes = run.nodes.clone();
        let mut prepared = match run.prepared.clone() {
            Some(prepared) => prepared,
            None => match self.load_detail(id).and_then(|()| self.plan_run(id, &nodes)) {
                Ok(prepared) => prepared,
                Err(error) => return self.stop_run(id, StopReason::Failed(error)),
            },
        };
        match self.materialize(id, &prepared, fresh) {
            Ok(commands) => prepared.mount_commands = commands,
            Err(error) => return self.stop_run(id, StopReason::Failed(error)),
        }
        if let Err(error) = self.allocate(id, &nodes, &prepared) {
            return self.stop_run(id, StopReason::Failed(error));
        }
        let known_task = self.procs.keys().any(|k| k.starts_with(&format!("task:{uid}:{attempt}:")));
        let needs_prep =
            !prepared.plan.job_preparation.is_empty() || prepared.mount_commands.iter().any(|c| !c.is_empty());
        let prefixes = [format!("prep:{uid}:{attempt}:"), format!("task:{uid}:{attempt}:")];
        let earlier: Vec<String> =
            self.procs.keys().filter(|k| prefixes.iter().any(|p| k.starts_with(p))).cloned().collect();
        let run = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()).expect("checked above");
        // Keys a previous agent started belong to this run too: acknowledged at its end.
        run.keys.extend(earlier);
        run.temp_dirs = prepared.temp_dirs.clone();
        run.phase = if needs_prep && !known_task { Phase::Preparation } else { Phase::Tasks };
        let phase = run.phase;
        run.plan = Some(prepared.plan.clone());
        run.prepared = Some(prepared.clone());
        let launches = match phase {
            Phase::Preparation => self.prep_launches(id, &prepared),
            Phase::Tasks => self.task_launches(id, &prepared.plan),
        };
        self.spawn_all(id, launches);
        self.replay_exits(id);
    }

    /// Tell the job's engine that the run's processes follow (a Slurm engine submits it).
    fn allocate(&mut self, id: i64, nodes: &[String], prepared: &super::prepare::Prepared) -> Result<(), ErrorInfo> {
        let kind = self.job_engine(id);
        let entry = &self.jobs[&id];
        let Some(detail) = entry.job.detail.as_ref() else { return Ok(()) };
        let cluster = self.clusters.values().find(|c| *c.name == *entry.job.cluster);
        let gpus_per_node = nodes.first().and_then(|n| self.nodes.get(n)).map_or(0, |n| n.gpus.len() as u32);
        let limit = detail.spec.constraints.max_wall_clock_time;
        let allocation = RunAllocation {
            uid: &entry.job.uid,
            attempt: entry.run.as_ref().map_or(entry.job.attempt, |r| r.attempt),
            experiment: &detail.experiment,
            job: &detail.name,
            nodes,
            host_files: vec![prepared.host_file.clone(); nodes.len()],
            gpus_per_node,
            wall_clock: entry.job.max_wall_clock,
            wall_clock_set: limit != crate::engine::model::duration::WallClock::DEFAULT,
            slurm: cluster.and_then(|c| c.spec.slurm.as_ref()),
        };
        let engine = self.engines.get_mut(kind).ok_or_else(|| engine_missing(kind))?;
        engine.begin_run(allocation)
    }

    /// Feed exits the supervisor reported before this run was rebuilt (after a restart).
    pub(super) fn replay_exits(&mut self, id: i64) {
        let Some(run) = self.jobs.get(&id).and_then(|e| e.run.as_ref()) else { return };
        let exited: Vec<(String, Exit)> = run
            .pending
            .iter()
            .filter_map(|k| match self.procs.get(k) {
                Some(Proc::Exited(exit)) => Some((k.clone(), exit.clone())),
                _ => None,
            })
            .collect();
        for (key, exit) in exited {
            self.on_exit(&key, &exit);
        }
    }

    pub(super) fn spawn_all(&mut self, id: i64, launches: Vec<Launch>) {
        let kind = self.job_engine(id);
        for launch in launches {
            let key = launch.key.clone();
            if let Some(run) = self.jobs.get_mut(&id).and_then(|e| e.run.as_mut()) {
                run.keys.insert(key.clone());
                run.pending.insert(key.clone());
            }
            // A key the supervisor already has (running or exited) is not started again.
            if self.procs.contains_key(&key) {
                continue;
            }
            let Some(engine) = self.engines.get_mut(kind) else {
                return self.stop_run(id, StopReason::Failed(engine_missing(kind)));
            };
            engine.start(launch);
            self.procs.insert(key, Proc::Starting);
        }
    }

    pub(super) fn task_launches(&self, id: i64, plan: &LaunchPlan) -> Vec<Launch> {
        let entry = &self.jobs[&id];
        let run = entry.run.as_ref().expect("running");
        plan.processes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                self.launch(&entry.job.uid, run, plan, p, format!("task:{}:{}:{i}", entry.job.uid, run.attempt), None)
            })
            .collect()
    }

    pub(super) fn prep_launches(&self, id: i64, prepared: &Prepared) -> Vec<Launch> {
        let entry = &self.jobs[&id];
        let run = entry.run.as_ref().expect("running");
        let plan = &prepared.plan;
        (0..run.nodes.len())
            .map(|node| {
                let key = format!("prep:{}:{}:{node}", entry.job.uid, run.attempt);
                let mounts = prepared.mount_commands.get(node).filter(|c| !c.is_empty()).cloned();
                match plan.job_preparation.iter().find(|p| p.node == node) {
                    Some(p) => self.launch(&entry.job.uid, run, plan, p, key, mounts),
                    None => {
                        // Only mount commands to run: on the node, with its first process's view.
                        let base = plan.processes.iter().find(|p| p.node == node).unwrap_or(plan.primary());
                        let mut launch = self.launch(&entry.job.uid, run, plan, base, key, mounts);
                        launch.stdout = launch.stdout.with_file_name(format!("stdout-job_prep{}.txt", suffix(node)));
                        launch.stderr = launch.stderr.with_file_name(format!("stderr-job_prep{}.txt", suffix(node)));
                        launch.program = Program::Shell("true".into());
                        if let Some(commands) = prepared.mount_commands.get(node) {
                            launch.program = Program::Shell(commands.clone());
                        }
                        launch.node = node;
                        launch
                    }
                }
            })
            .collect()
    }

    /// One process of the plan as a launch; `mounts` (shell lines) run first when given.
    pub(super) fn launch(
        &self,
        uid: &str,
        run: &Run,
        plan: &LaunchPlan,
        process: &toolkits::ProcessPlan,
        key: String,
        mounts: Option<String>,
    ) -> Launch {
        let node = &self.nodes.get(&run.nodes[process.node]);
        let cwd = run.prepared.as_ref().and_then(|p| p.job_temps.get(process.node).cloned()).unwrap_or_default();
        let stdouterr = plan.processes[0].env.get("AZ_BATCHAI_STDOUTERR_DIR").map(PathBuf::from).unwrap_or_default();
        let program = match mounts {
            Some(commands) => Program::Shell(format!("{commands}\n{}", process.program.shell_line())),
            None => process.program.clone(),
        };
        // The node's variables first (what a setup task and node exec get too), the plan's on top.
        let node_name = &run.nodes[process.node];
        let gpus = node.map(|n| n.gpus.as_slice()).unwrap_or_default();
        let mut env =
            self.engines.get(self.node_engine(node_name)).map(|e| e.node_env(node_name, gpus)).unwrap_or_default();
        env.extend(plan.environment(process).map(|(k, v)| (k.to_string(), v.to_string())));
        Launch {
            key,
            program,
            env,
            cwd,
            stdout: stdouterr.join(&process.stdout),
            stderr: stdouterr.join(&process.stderr),
            cpus: node.map(|n| n.cpus.clone()).unwrap_or_default(),
            marker: uid.to_string(),
            append: false,
            // stdouterr and the output directories: made by the supervisor, beside the agent.
            make_dirs: run.prepared.as_ref().map(|p| p.dirs.clone()).unwrap_or_default(),
            node: process.node,
        }
    }
}

fn suffix(node: usize) -> String {
    if node == 0 { String::new() } else { format!("-{node}") }
}
