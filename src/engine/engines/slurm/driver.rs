//! The Slurm engine's thread: everything that waits on Slurm or on the shared file system.
//!
//! It owns the state of every run it submitted: which process keys were asked for (and on which
//! node), which exited, which the core acknowledged, what reaping waits for. Commands come from
//! the engine in the order the core decided them; events go to the agent's loop. While a run is
//! active it reads the runs' outboxes every `OUTBOX_POLL` and asks `squeue` once every
//! `SQUEUE_INTERVAL` about all of them at once; with no run active it sleeps until a command.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::sbatch::{self, Phase, QueueEntry};
use crate::engine::engines::EngineEvent;
use crate::engine::launcher::node::{self, Manifest, RunDir};
use crate::engine::launcher::protocol::{Exit, FromSupervisor, SpawnRequest, ToSupervisor};

/// How often the outboxes of active runs are read.
const OUTBOX_POLL: Duration = Duration::from_millis(20);
/// How often `squeue` is asked (once for all runs).
const SQUEUE_INTERVAL: Duration = Duration::from_millis(500);
/// A run the agent is done with whose Slurm job is still there this long after: `scancel`.
const GOODBYE_GRACE: Duration = Duration::from_secs(30);

pub(super) enum Command {
    Submit { dir: RunDir, manifest: Manifest, args: Vec<String>, script: String },
    Spawn { run: String, node: usize, request: Box<SpawnRequest> },
    Signal { key: String, signal: i32, marker: Option<String> },
    Ack { keys: Vec<String> },
    Reap { marker: String },
}

/// A run as the driver tracks it; runs are named `<uid>:<attempt>`.
pub(super) struct Tracked {
    pub uid: String,
    pub dir: RunDir,
    pub nodes: usize,
    pub slurm_id: Option<u64>,
    pub submit_error: Option<String>,
    pub offsets: Vec<u64>,
    pub started: bool,
    /// Key -> node.
    pub requested: BTreeMap<String, usize>,
    pub exited: BTreeSet<String>,
    pub acked: BTreeSet<String>,
    /// Nodes that have not answered a reap yet.
    pub reaping: Option<BTreeSet<usize>>,
    pub goodbye: Option<Instant>,
    pub cancelled: bool,
    /// Slurm's final state, once the job is gone.
    pub gone: Option<String>,
    pub reason: Option<String>,
    /// Exits of processes the launchers stopped because Slurm stopped them: delivered once
    /// squeue says why (dropped if Slurm took the nodes away: the job is requeued instead).
    pub held: Vec<Exit>,
}

impl Tracked {
    pub fn new(uid: String, dir: RunDir, nodes: usize) -> Tracked {
        Tracked {
            uid,
            dir,
            nodes,
            slurm_id: None,
            submit_error: None,
            offsets: vec![0; nodes],
            started: false,
            requested: BTreeMap::new(),
            exited: BTreeSet::new(),
            acked: BTreeSet::new(),
            reaping: None,
            goodbye: None,
            cancelled: false,
            gone: None,
            reason: None,
            held: Vec::new(),
        }
    }

    /// Rebuild from the run's folder (after an agent restart): what was asked, acknowledged and
    /// reported. Returns the keys still running and the exits not acknowledged.
    pub fn load(name: &str, dir: RunDir) -> Option<(Tracked, Vec<String>, Vec<Exit>)> {
        let manifest = dir.read_manifest().ok()?;
        let (uid, _) = name.rsplit_once(':')?;
        let mut run = Tracked::new(uid.to_string(), dir.clone(), manifest.nodes.len());
        run.slurm_id = std::fs::read_to_string(dir.slurm_id()).ok().and_then(|t| sbatch::parse_job_id(&t));
        let mut exits = Vec::new();
        for index in 0..run.nodes {
            for message in node::read_inbox(&dir.inbox(index)) {
                match message {
                    ToSupervisor::Spawn(request) => {
                        run.requested.insert(request.key, index);
                    }
                    ToSupervisor::Ack { keys } => run.acked.extend(keys),
                    ToSupervisor::Goodbye => run.goodbye = Some(Instant::now()),
                    _ => {}
                }
            }
            let (messages, offset) = node::read_outbox(&dir.outbox(index), 0);
            run.offsets[index] = offset;
            for message in messages {
                match message {
                    FromSupervisor::Hello { .. } => run.started = true,
                    FromSupervisor::Exited(exit) => {
                        run.exited.insert(exit.key.clone());
                        exits.push(exit);
                    }
                    FromSupervisor::SpawnFailed { key, .. } => {
                        run.exited.insert(key);
                    }
                    _ => {}
                }
            }
        }
        if run.slurm_id.is_none() {
            // The agent stopped inside `sbatch`: whether Slurm took the job is unknown. Its keys
            // fail; should its launchers start anyway, they find a goodbye and end.
            run.submit_error = Some("the agent stopped while submitting this job to Slurm".into());
            for index in 0..run.nodes {
                let _ = node::append_inbox(&dir.inbox(index), &[ToSupervisor::Goodbye]);
            }
        }
        let running: Vec<String> = run.requested.keys().filter(|k| !run.exited.contains(*k)).cloned().collect();
        exits.retain(|e| !run.acked.contains(&e.key));
        Some((run, running, exits))
    }

    fn active(&self) -> bool {
        !(self.goodbye.is_some() && self.gone.is_some())
    }
}

pub(super) struct Driver {
    pub runs: HashMap<String, Tracked>,
    pub events: UnboundedSender<EngineEvent>,
    pub next_squeue: Instant,
    /// How many runs have not been told goodbye yet (read by the engine: `busy`).
    pub holding: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The run a process key belongs to: `<uid>:<attempt>`.
pub(super) fn run_of(key: &str) -> Option<String> {
    let mut parts = key.split(':');
    let _kind = parts.next()?;
    Some(format!("{}:{}", parts.next()?, parts.next()?))
}

impl Driver {
    pub fn run(mut self, commands: Receiver<Command>) {
        loop {
            let active = self.runs.values().any(Tracked::active);
            let first = if active {
                match commands.recv_timeout(OUTBOX_POLL) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => return,
                }
            };
            for command in first.into_iter().chain(std::iter::from_fn(|| commands.try_recv().ok())) {
                self.handle(command);
            }
            self.read_outboxes();
            if Instant::now() >= self.next_squeue {
                self.poll_squeue();
            }
            self.finish_runs();
        }
    }

    fn send(&self, event: EngineEvent) {
        let _ = self.events.send(event);
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Submit { dir, manifest, args, script } => self.submit(dir, manifest, args, script),
            Command::Spawn { run, node, request } => {
                let Some(tracked) = self.runs.get_mut(&run) else {
                    return self.send(EngineEvent::SpawnFailed {
                        key: request.key,
                        error: "the run was never submitted to Slurm".into(),
                    });
                };
                tracked.requested.insert(request.key.clone(), node);
                let failure = tracked.submit_error.clone().or_else(|| {
                    tracked
                        .gone
                        .as_ref()
                        .map(|state| format!("the Slurm job ended ({state}) before the process started"))
                });
                if let Some(error) = failure {
                    tracked.exited.insert(request.key.clone());
                    return self.send(EngineEvent::SpawnFailed { key: request.key, error });
                }
                let inbox = tracked.dir.inbox(node);
                if let Err(e) = node::append_inbox(&inbox, &[ToSupervisor::Spawn(*request.clone())]) {
                    tracked.exited.insert(request.key.clone());
                    self.send(EngineEvent::SpawnFailed {
                        key: request.key,
                        error: format!("cannot write {}: {e}", inbox.display()),
                    });
                }
            }
            Command::Signal { key, signal, marker } => self.signal(&key, signal, marker),
            Command::Ack { keys } => {
                for key in keys {
                    let Some(run) = run_of(&key) else { continue };
                    if let Some(tracked) = self.runs.get_mut(&run) {
                        tracked.acked.insert(key.clone());
                        let _ = node::append_inbox(&tracked.dir.inbox(0), &[ToSupervisor::Ack { keys: vec![key] }]);
                    }
                }
            }
            Command::Reap { marker } => {
                let Some((_, tracked)) = self.runs.iter_mut().find(|(_, t)| t.uid == marker && t.goodbye.is_none())
                else {
                    return self.send(EngineEvent::Reaped { marker });
                };
                if tracked.gone.is_some() || !tracked.started {
                    // Nothing runs of a job Slurm ended or never started.
                    return self.send(EngineEvent::Reaped { marker });
                }
                tracked.reaping = Some((0..tracked.nodes).collect());
                for index in 0..tracked.nodes {
                    let _ =
                        node::append_inbox(&tracked.dir.inbox(index), &[ToSupervisor::Reap { marker: marker.clone() }]);
                }
            }
        }
    }

    fn submit(&mut self, dir: RunDir, manifest: Manifest, args: Vec<String>, script: String) {
        let name = format!("{}:{}", manifest.uid, manifest.attempt);
        if self.runs.contains_key(&name) {
            return; // submitted before (begin_run again after a restart)
        }
        let mut tracked = Tracked::new(manifest.uid.clone(), dir.clone(), manifest.nodes.len());
        let submitted = write_run(&dir, &manifest, &script).and_then(|script| {
            std::fs::write(dir.submitting(), b"").map_err(|e| format!("cannot write {}: {e}", dir.0.display()))?;
            sbatch_submit(&args, &script)
        });
        match submitted {
            Ok(id) => {
                tracked.slurm_id = Some(id);
                if let Err(e) = node::write_atomic(&dir.slurm_id(), id.to_string().as_bytes()) {
                    tracing::warn!("slurm job {id}: cannot record its id in {}: {e}", dir.0.display());
                }
                // Ask soon whether Slurm started it, and why not.
                self.next_squeue = self.next_squeue.min(Instant::now() + OUTBOX_POLL * 5);
            }
            Err(error) => tracked.submit_error = Some(error),
        }
        self.runs.insert(name, tracked);
    }

    fn signal(&mut self, key: &str, signal: i32, marker: Option<String>) {
        let run = run_of(key).or_else(|| {
            let marker = marker.as_deref()?;
            self.runs.iter().find(|(_, t)| t.uid == marker && t.goodbye.is_none()).map(|(n, _)| n.clone())
        });
        let Some(tracked) = run.and_then(|r| self.runs.get_mut(&r)) else { return };
        if tracked.gone.is_some() {
            return;
        }
        let stop = signal == libc::SIGTERM || signal == libc::SIGKILL;
        if !tracked.started && stop && !tracked.cancelled {
            // Pending in Slurm: it must not start. Its keys fail once squeue says it is gone.
            tracked.cancelled = true;
            if let Some(id) = tracked.slurm_id {
                scancel(id);
            }
            self.next_squeue = Instant::now();
        }
        let target = tracked.requested.get(key).copied();
        for index in 0..tracked.nodes {
            let message = ToSupervisor::Signal {
                key: if Some(index) == target { key.to_string() } else { String::new() },
                signal,
                marker: marker.clone(),
            };
            if Some(index) == target || marker.is_some() {
                let _ = node::append_inbox(&tracked.dir.inbox(index), &[message]);
            }
        }
    }

    fn read_outboxes(&mut self) {
        let mut events = Vec::new();
        let mut ask = false;
        for tracked in self.runs.values_mut().filter(|t| t.gone.is_none() || t.goodbye.is_none()) {
            let held = tracked.held.len();
            read_run(tracked, &mut events);
            ask |= tracked.held.len() > held;
        }
        if ask {
            // Slurm stopped a job: learn why soon.
            self.next_squeue = self.next_squeue.min(Instant::now() + OUTBOX_POLL * 5);
        }
        for event in events {
            self.send(event);
        }
    }

    fn poll_squeue(&mut self) {
        self.next_squeue = Instant::now() + SQUEUE_INTERVAL;
        let watched: Vec<u64> = self.runs.values().filter(|t| t.gone.is_none()).filter_map(|t| t.slurm_id).collect();
        // Runs that never reached Slurm end without it.
        let mut events = Vec::new();
        for tracked in self.runs.values_mut().filter(|t| t.gone.is_none() && t.slurm_id.is_none()) {
            lose_rest(tracked, 0, "not submitted", &mut events);
            tracked.gone = Some("not submitted".into());
        }
        if watched.is_empty() {
            for event in events {
                self.send(event);
            }
            return;
        }
        let entries = match squeue() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        let by_id: HashMap<u64, &QueueEntry> = entries.iter().map(|e| (e.id, e)).collect();
        for tracked in self.runs.values_mut().filter(|t| t.gone.is_none()) {
            let Some(id) = tracked.slurm_id else { continue };
            match by_id.get(&id) {
                Some(entry)
                    if sbatch::phase(&entry.state) == Phase::Pending
                        && sbatch::never_starts(&entry.reason).is_some() =>
                {
                    // It would wait forever: cancel it and fail the job with the reason.
                    let fix = sbatch::never_starts(&entry.reason).unwrap_or_default();
                    scancel(id);
                    tracked.cancelled = true;
                    let error = format!("Slurm can never start job {id} ({}): {fix}", entry.reason);
                    tracked.submit_error = Some(error);
                    lose_rest(tracked, id, &entry.state, &mut events);
                    tracked.gone = Some(entry.state.clone());
                }
                Some(entry) if sbatch::phase(&entry.state) == Phase::Pending => {
                    let reason = sbatch::explain_pending(id, &entry.reason);
                    if tracked.reason.as_ref() != Some(&reason) && !tracked.started {
                        tracked.reason = Some(reason.clone());
                        events.push(EngineEvent::Waiting { marker: tracked.uid.clone(), reason: Some(reason) });
                    }
                }
                Some(entry) if sbatch::phase(&entry.state) == Phase::Running => {}
                found => {
                    let state = found.map_or("gone from squeue".to_string(), |e| e.state.clone());
                    read_run(tracked, &mut events);
                    if sbatch::nodes_taken(&state) && tracked.requested.keys().any(|k| !tracked.exited.contains(k)) {
                        tracked.held.clear();
                        // Its nodes were taken away: the core requeues (or fails) the job.
                        let keys: Vec<String> = tracked.requested.keys().cloned().collect();
                        tracked.exited.extend(keys);
                        tracked.reaping = None;
                        let error = format!(
                            "the Slurm job {id} lost its nodes ({state}){}",
                            found.map(|e| format!(": {}", e.reason)).filter(|r| r.len() > 2).unwrap_or_default()
                        );
                        events.push(EngineEvent::Lost { marker: tracked.uid.clone(), error });
                    } else {
                        for exit in std::mem::take(&mut tracked.held) {
                            tracked.exited.insert(exit.key.clone());
                            events.push(EngineEvent::Exited(exit));
                        }
                        lose_rest(tracked, id, &state, &mut events);
                    }
                    tracked.gone = Some(state);
                }
            }
        }
        for event in events {
            self.send(event);
        }
    }

    /// Say goodbye to runs whose every key the core acknowledged; forget runs that are over.
    fn finish_runs(&mut self) {
        let now = Instant::now();
        let mut released = Vec::new();
        for tracked in self.runs.values_mut() {
            let done = tracked.reaping.is_none()
                && !tracked.requested.is_empty()
                && tracked.requested.keys().all(|k| tracked.acked.contains(k));
            if done && tracked.goodbye.is_none() {
                tracked.goodbye = Some(now);
                if tracked.gone.is_none() {
                    for index in 0..tracked.nodes {
                        let _ = node::append_inbox(&tracked.dir.inbox(index), &[ToSupervisor::Goodbye]);
                    }
                }
                let _ = std::fs::write(tracked.dir.finished(), b"");
                released.push(tracked.uid.clone());
            }
            if let (Some(at), None, false) = (tracked.goodbye, &tracked.gone, tracked.cancelled)
                && now.duration_since(at) > GOODBYE_GRACE
            {
                tracked.cancelled = true;
                if let Some(id) = tracked.slurm_id {
                    scancel(id);
                }
            }
        }
        self.runs.retain(|_, t| t.active());
        // Counted before the events go: the core, woken by one, must see the new count.
        let holding = self.runs.values().filter(|t| t.goodbye.is_none()).count();
        self.holding.store(holding, std::sync::atomic::Ordering::Release);
        for marker in released {
            self.send(EngineEvent::Released { marker });
        }
    }
}

/// Read a run's outboxes: what started, exited, failed to start, was reaped.
fn read_run(tracked: &mut Tracked, events: &mut Vec<EngineEvent>) {
    for index in 0..tracked.nodes {
        let (messages, offset) = node::read_outbox(&tracked.dir.outbox(index), tracked.offsets[index]);
        tracked.offsets[index] = offset;
        for message in messages {
            match message {
                FromSupervisor::Hello { .. } => {
                    if !tracked.started && tracked.reason.take().is_some() {
                        events.push(EngineEvent::Waiting { marker: tracked.uid.clone(), reason: None });
                    }
                    tracked.started = true;
                }
                FromSupervisor::Spawned { key, .. } => events.push(EngineEvent::Spawned { key }),
                FromSupervisor::SpawnFailed { key, error } => {
                    tracked.exited.insert(key.clone());
                    events.push(EngineEvent::SpawnFailed { key, error });
                }
                FromSupervisor::Exited(exit) if exit.engine_stop && tracked.gone.is_none() => {
                    tracked.held.push(exit);
                }
                FromSupervisor::Exited(exit) => {
                    tracked.exited.insert(exit.key.clone());
                    events.push(EngineEvent::Exited(exit));
                }
                FromSupervisor::Reaped { marker } => {
                    if let Some(waiting) = &mut tracked.reaping {
                        waiting.remove(&index);
                        if waiting.is_empty() {
                            tracked.reaping = None;
                            events.push(EngineEvent::Reaped { marker });
                        }
                    }
                }
            }
        }
    }
}

/// The Slurm job is over: every process that did not report its exit is lost, with what Slurm
/// and the launchers' log say.
fn lose_rest(tracked: &mut Tracked, id: u64, state: &str, events: &mut Vec<EngineEvent>) {
    let lost: Vec<String> = tracked.requested.keys().filter(|k| !tracked.exited.contains(*k)).cloned().collect();
    if !lost.is_empty() {
        let log = log_tail(&tracked.dir.log());
        let mut error = match &tracked.submit_error {
            Some(error) => error.clone(),
            None => format!("the Slurm job {id} ended ({state}) before this process reported its exit"),
        };
        if !log.is_empty() {
            error.push_str(&format!("; its log ({}) ends: {log}", tracked.dir.log().display()));
        }
        for key in lost {
            tracked.exited.insert(key.clone());
            events.push(EngineEvent::SpawnFailed { key, error: error.clone() });
        }
    }
    if tracked.reaping.take().is_some() {
        events.push(EngineEvent::Reaped { marker: tracked.uid.clone() });
    }
}

fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

fn write_run(dir: &RunDir, manifest: &Manifest, script: &str) -> Result<PathBuf, String> {
    let failed = |e: std::io::Error| format!("cannot write the run's folder {}: {e}", dir.0.display());
    for index in 0..manifest.nodes.len() {
        std::fs::create_dir_all(dir.node(index)).map_err(failed)?;
    }
    let text = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    node::write_atomic(&dir.manifest(), &text).map_err(failed)?;
    let path = dir.0.join("job.sh");
    std::fs::write(&path, script).map_err(failed)?;
    Ok(path)
}

fn sbatch_submit(args: &[String], script: &std::path::Path) -> Result<u64, String> {
    let output = Process::new("sbatch")
        .args(args)
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run sbatch ({e}): is Slurm's client installed on this machine's PATH?"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("sbatch refused the job: {}", stderr.trim()));
    }
    sbatch::parse_job_id(&stdout).ok_or_else(|| format!("sbatch answered without a job id: {}", stdout.trim()))
}

/// The id of the Slurm job whose comment is `comment` (see `sbatch::submission`), if Slurm
/// still lists it: how a run whose `sbatch` was cut short by the agent's death is found again.
pub(super) fn find_by_comment(comment: &str) -> Result<Option<u64>, String> {
    Ok(squeue_lines("%i|%k")?
        .lines()
        .filter_map(|line| line.split_once('|'))
        .find(|(_, k)| k.trim() == comment)
        .and_then(|(id, _)| id.trim().parse().ok()))
}

fn squeue() -> Result<Vec<QueueEntry>, String> {
    Ok(sbatch::parse_squeue(&squeue_lines(sbatch::SQUEUE_FORMAT)?))
}

/// `squeue` of this user's jobs, ended ones too, one line per job in `format`.
fn squeue_lines(format: &str) -> Result<String, String> {
    let output = Process::new("squeue")
        .args(["--me", "--noheader", "--states=all", "--format", format])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run squeue: {e}"))?;
    if !output.status.success() {
        return Err(format!("squeue failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn scancel(id: u64) {
    match Process::new("scancel").arg(id.to_string()).stdin(Stdio::null()).output() {
        Ok(output) if !output.status.success() => {
            tracing::warn!("scancel {id}: {}", String::from_utf8_lossy(&output.stderr).trim())
        }
        Err(e) => tracing::warn!("cannot run scancel: {e}"),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(key: &str) -> ToSupervisor {
        ToSupervisor::Spawn(SpawnRequest {
            key: key.into(),
            program: "/bin/true".into(),
            args: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            stdout: "/o".into(),
            stderr: "/e".into(),
            append: false,
            cpus: vec![],
            make_dirs: vec![],
        })
    }

    fn exit(key: &str, code: i32) -> FromSupervisor {
        FromSupervisor::Exited(Exit {
            key: key.into(),
            pid: 5,
            code: Some(code),
            signal: None,
            end_us: 1,
            rest_gone: false,
            engine_stop: false,
        })
    }

    #[test]
    fn a_restarted_agent_finds_what_ran_what_ended_and_what_it_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir(dir.path().join("u1-2"));
        let manifest =
            Manifest { uid: "u1".into(), attempt: 2, nodes: vec!["c-0".into(), "c-1".into()], host_files: vec![] };
        write_run(&run, &manifest, "#!/bin/sh\n").unwrap();
        node::write_atomic(&run.slurm_id(), b"42").unwrap();
        node::append_inbox(&run.inbox(0), &[spawn("prep:u1:2:0"), spawn("task:u1:2:0")]).unwrap();
        node::append_inbox(&run.inbox(1), &[spawn("prep:u1:2:1"), spawn("task:u1:2:1")]).unwrap();
        node::append_inbox(&run.inbox(0), &[ToSupervisor::Ack { keys: vec!["prep:u1:2:0".into()] }]).unwrap();
        let write = |index: usize, messages: &[FromSupervisor]| {
            let mut bytes = Vec::new();
            for m in messages {
                crate::engine::launcher::protocol::write_line(&mut bytes, m).unwrap();
            }
            std::fs::write(run.outbox(index), bytes).unwrap();
        };
        let hello = FromSupervisor::Hello {
            pid: 1,
            running: vec![],
            exited: vec![],
            containment: String::new(),
            instance: String::new(),
        };
        write(0, &[hello.clone(), exit("prep:u1:2:0", 0), exit("task:u1:2:0", 3)]);
        write(1, &[hello, exit("prep:u1:2:1", 0)]);
        let (tracked, running, exits) = Tracked::load("u1:2", run.clone()).unwrap();
        assert_eq!(tracked.slurm_id, Some(42));
        assert!(tracked.started && tracked.submit_error.is_none());
        assert_eq!(running, vec!["task:u1:2:1".to_string()]);
        let mut ended: Vec<&str> = exits.iter().map(|e| e.key.as_str()).collect();
        ended.sort();
        assert_eq!(ended, ["prep:u1:2:1", "task:u1:2:0"], "an acknowledged exit is not reported again");
        assert_eq!(tracked.offsets[0], std::fs::metadata(run.outbox(0)).unwrap().len());
    }

    #[test]
    fn a_run_without_a_slurm_id_was_never_submitted() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir(dir.path().join("u1-1"));
        let manifest = Manifest { uid: "u1".into(), attempt: 1, nodes: vec!["c-0".into()], host_files: vec![] };
        write_run(&run, &manifest, "#!/bin/sh\n").unwrap();
        let (tracked, _, _) = Tracked::load("u1:1", run).unwrap();
        assert!(tracked.submit_error.is_some());
    }
}
