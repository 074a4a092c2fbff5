//! The node launcher of an engine that allocates nodes per job (Slurm): the supervisor, talking
//! to the agent through files on the file system the agent and the nodes share.
//!
//! Theory of operation:
//! - A run has a folder (`RunDir`) on the shared file system. The agent writes the manifest (the
//!   run's nodes, in order), then appends supervisor messages (`ToSupervisor`, JSON lines) to each
//!   node's `in.jsonl`. Slurm's `srun` starts one launcher per node, which appends its answers
//!   (`FromSupervisor`) to `out.jsonl`. Both files only grow, so either side can stop at any
//!   moment and the other finds everything again by reading from the start: a restarted agent
//!   learns what ran and what ended from the files alone.
//! - The agent plans processes before Slurm has chosen the hosts, so addresses in a plan are
//!   placeholders (`host_placeholder`). Each launcher writes its own address, waits for the
//!   others', and replaces the placeholders in every request and in its node's MPI host file
//!   before anything starts. Slurm's own variables (`SLURM_*`, `SLURMD_NODENAME`, the GPUs it allocated in
//!   `CUDA_VISIBLE_DEVICES`) are added to every process.
//! - Everything else is the local supervisor's: sessions, markers, kill trees, exit records. A
//!   launcher ends when the agent says goodbye (the run is over) and nothing of the run is left,
//!   or after Slurm's SIGTERM once its processes, signalled in turn, have exited.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::protocol::{FromSupervisor, SpawnRequest, ToSupervisor, write_line};

/// How often a launcher looks for new messages (no file-change notification crosses hosts).
pub const INBOX_POLL: Duration = Duration::from_millis(20);

/// How often a launcher checks that its run's folder still exists.
const ORPHAN_CHECK: Duration = Duration::from_secs(1);

/// How long processes get between the SIGTERM of a stop the launcher decides itself (an
/// orphaned run) and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a launcher waits for the other nodes of its run to report their addresses.
const PEER_WAIT: Duration = Duration::from_secs(600);

/// Variables of the Slurm step every process gets (besides `SLURM_*`).
const STEP_VARIABLES: &[&str] = &["CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"];

/// The address of a node in a plan made before its host is known.
pub fn host_placeholder(node: &str) -> String {
    format!("@@batchai-host:{node}@@")
}

/// What a launcher needs to know about its run, written by the agent before submitting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub uid: String,
    pub attempt: u32,
    /// The run's nodes in order: node `i` is the launcher with `SLURM_NODEID=i`.
    pub nodes: Vec<String>,
    /// Per node, its MPI host file (rewritten with the real addresses).
    pub host_files: Vec<PathBuf>,
}

/// A run's folder and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn manifest(&self) -> PathBuf {
        self.0.join("run.json")
    }
    pub fn node(&self, index: usize) -> PathBuf {
        self.0.join(format!("node-{index}"))
    }
    pub fn inbox(&self, index: usize) -> PathBuf {
        self.node(index).join("in.jsonl")
    }
    pub fn outbox(&self, index: usize) -> PathBuf {
        self.node(index).join("out.jsonl")
    }
    pub fn address(&self, index: usize) -> PathBuf {
        self.node(index).join("address")
    }
    /// The Slurm job id, once `sbatch` answered.
    pub fn slurm_id(&self) -> PathBuf {
        self.0.join("slurm-id")
    }
    /// Written just before `sbatch` is called: without it (and without an id) the run was never
    /// handed to Slurm.
    pub fn submitting(&self) -> PathBuf {
        self.0.join("submitting")
    }
    /// Present once the agent has no more business with the run.
    pub fn finished(&self) -> PathBuf {
        self.0.join("finished")
    }
    /// The launchers' own output (Slurm's `--output`).
    pub fn log(&self) -> PathBuf {
        self.0.join("slurm.log")
    }

    pub fn read_manifest(&self) -> io::Result<Manifest> {
        let text = fs::read(self.manifest())?;
        serde_json::from_slice(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// Write a whole file under another name, then rename it: readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&temp, bytes)?;
    fs::rename(&temp, path)
}

/// The launcher's end of the files.
pub struct FileLink {
    inbox: PathBuf,
    offset: u64,
    outbox_path: PathBuf,
    outbox: File,
    /// Answers not yet appended to the outbox (see `flush`).
    unsent: Vec<u8>,
    write_failing: bool,
    /// The agent said goodbye, or Slurm asked the launcher to stop.
    pub(super) goodbye: bool,
    /// Slurm asked the launcher to stop (SIGTERM), or its run's folder went: exits from now on
    /// are marked `engine_stop`.
    pub(super) stopped: bool,
    /// Placeholder and real address of every node of the run.
    hosts: Vec<(String, String)>,
    /// Variables of the Slurm step, added to every process.
    step_env: Vec<(String, String)>,
    manifest: PathBuf,
    next_check: Instant,
    /// When processes still running after a stop get SIGKILL.
    pub(super) kill_at: Option<Instant>,
}

impl FileLink {
    pub fn open(
        run: &RunDir,
        index: usize,
        hosts: Vec<(String, String)>,
        step_env: Vec<(String, String)>,
    ) -> io::Result<FileLink> {
        let outbox = OpenOptions::new().create(true).append(true).open(run.outbox(index))?;
        Ok(FileLink {
            inbox: run.inbox(index),
            offset: 0,
            outbox_path: run.outbox(index),
            outbox,
            unsent: Vec::new(),
            write_failing: false,
            goodbye: false,
            stopped: false,
            hosts,
            step_env,
            manifest: run.manifest(),
            next_check: Instant::now() + ORPHAN_CHECK,
            kill_at: None,
        })
    }

    /// The run's folder is gone (its workspace was deleted while no agent could stop the job):
    /// nobody will read what this launcher writes, so it stops its processes and ends.
    pub fn orphaned(&mut self) -> bool {
        if Instant::now() < self.next_check {
            return false;
        }
        self.next_check = Instant::now() + ORPHAN_CHECK;
        !self.manifest.exists()
    }

    /// Complete messages appended since the last call (a half-written last line waits).
    pub fn read(&mut self) -> Vec<ToSupervisor> {
        self.flush();
        let (messages, offset) = read_lines(&self.inbox, self.offset);
        self.offset = offset;
        messages
    }

    pub fn write(&mut self, message: &FromSupervisor) {
        if write_line(&mut self.unsent, message).is_ok() {
            self.flush();
        }
    }

    /// Append what is still unsent. A write that fails (a full disk) keeps the rest for the next
    /// call, so an exit is delayed, never lost, and no line is left half-written for good: the
    /// agent's reader waits for a line's end.
    fn flush(&mut self) {
        while !self.unsent.is_empty() {
            match self.outbox.write(&self.unsent) {
                Ok(0) => break,
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if !self.write_failing {
                        tracing::error!("cannot write to {} (retrying): {e}", self.outbox_path.display());
                    }
                    self.write_failing = true;
                    return;
                }
            }
        }
        self.write_failing = false;
    }

    pub fn finished(&self, nothing_left: bool) -> bool {
        self.goodbye && nothing_left
    }

    /// This node's view of a request: real addresses, the step's variables, Slurm's CPU binding.
    pub fn localize(&self, request: &mut SpawnRequest) {
        let replace = |text: &mut String| {
            if text.contains("@@batchai-host:") {
                for (placeholder, address) in &self.hosts {
                    *text = text.replace(placeholder, address);
                }
            }
        };
        request.args.iter_mut().for_each(replace);
        request.env.iter_mut().for_each(replace);
        for (name, value) in &self.step_env {
            let prefix = format!("{name}=");
            request.env.retain(|e| !e.starts_with(&prefix));
            request.env.push(format!("{name}={value}"));
        }
        // The agent's CPU numbers are slots, not this host's CPUs: Slurm binds the step.
        request.cpus.clear();
    }
}

/// The node launcher's main (see the module docs): returns the process exit code.
pub fn main(run_dir: &Path) -> i32 {
    match serve(&RunDir(run_dir.to_path_buf())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("batchai node launcher: {e}");
            1
        }
    }
}

fn serve(run: &RunDir) -> io::Result<()> {
    let index: usize = std::env::var("SLURM_NODEID")
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::other("SLURM_NODEID is not set: the node launcher runs under srun"))?;
    let manifest = run.read_manifest()?;
    if index >= manifest.nodes.len() {
        return Err(io::Error::other(format!("node {index} of a run of {} nodes", manifest.nodes.len())));
    }
    fs::create_dir_all(run.node(index))?;
    write_atomic(&run.address(index), own_address().as_bytes())?;
    let addresses = peer_addresses(run, manifest.nodes.len())?;
    let hosts: Vec<(String, String)> = manifest.nodes.iter().map(|n| host_placeholder(n)).zip(addresses).collect();
    if let Some(path) = manifest.host_files.get(index)
        && let Ok(text) = fs::read_to_string(path)
    {
        let mut text = text;
        for (placeholder, address) in &hosts {
            text = text.replace(placeholder, address);
        }
        write_atomic(path, text.as_bytes())?;
    }
    let step_env: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with("SLURM") || STEP_VARIABLES.contains(&k.as_str())).collect();
    let link = FileLink::open(run, index, hosts, step_env)?;
    let tag = format!("{}-{index}", manifest.uid);
    super::supervisor::Supervisor::with_files(link, &tag)?.run()
}

/// How other nodes reach this one: `BATCHAI_NODE_ADDRESS` if set, else the host name.
fn own_address() -> String {
    if let Ok(address) = std::env::var("BATCHAI_NODE_ADDRESS")
        && !address.is_empty()
    {
        return address;
    }
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn peer_addresses(run: &RunDir, count: usize) -> io::Result<Vec<String>> {
    let deadline = Instant::now() + PEER_WAIT;
    loop {
        let found: Vec<Option<String>> =
            (0..count).map(|i| fs::read_to_string(run.address(i)).ok().filter(|a| !a.is_empty())).collect();
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!("the other nodes of the run did not start within {PEER_WAIT:?}")));
        }
        std::thread::sleep(INBOX_POLL);
    }
}

/// What a node's outbox says: its launcher started (and its pid), which keys exited, which
/// markers were reaped. Read from `offset`; returns the messages and the new offset.
pub fn read_outbox(path: &Path, offset: u64) -> (Vec<FromSupervisor>, u64) {
    read_lines(path, offset)
}

/// The JSON-lines messages of `path` from `offset` on, and the offset after the last complete
/// line: a partly written last line is left for the next read. Lines that do not parse are
/// skipped (with a warning); a missing file has none.
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path, offset: u64) -> (Vec<T>, u64) {
    let Ok(mut file) = File::open(path) else { return (Vec::new(), offset) };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_to_end(&mut bytes)).is_err() {
        return (Vec::new(), offset);
    }
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |end| end + 1);
    let messages = bytes[..complete]
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| match serde_json::from_slice(line) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!("{}: ignoring a malformed message: {e}", path.display());
                None
            }
        })
        .collect();
    (messages, offset + complete as u64)
}

/// Append messages to a node's inbox.
pub fn append_inbox(path: &Path, messages: &[ToSupervisor]) -> io::Result<()> {
    let mut bytes = Vec::new();
    for message in messages {
        write_line(&mut bytes, message)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&bytes)
}

/// Every message in a node's inbox (what the agent asked for), for a restarted agent.
pub fn read_inbox(path: &Path) -> Vec<ToSupervisor> {
    read_lines(path, 0).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(env: &[&str], args: &[&str]) -> SpawnRequest {
        SpawnRequest {
            key: "task:u:1:0".into(),
            program: "/bin/sh".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.iter().map(|a| a.to_string()).collect(),
            cwd: "/".into(),
            stdout: "/o".into(),
            stderr: "/e".into(),
            append: false,
            cpus: vec![0, 1],
            make_dirs: vec![],
        }
    }

    #[test]
    fn a_request_gets_real_addresses_the_steps_variables_and_no_slot_cpus() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir(dir.path().to_path_buf());
        fs::create_dir_all(run.node(0)).unwrap();
        let hosts = vec![(host_placeholder("c-0"), "n1.cluster".to_string()), (host_placeholder("c-1"), "n2".into())];
        let step = vec![("CUDA_VISIBLE_DEVICES".to_string(), "1".to_string()), ("SLURM_JOB_ID".into(), "7".into())];
        let link = FileLink::open(&run, 0, hosts, step).unwrap();
        let mut spawn = request(
            &[
                "MASTER_ADDR=@@batchai-host:c-0@@",
                "TF_CONFIG={\"w\":[\"@@batchai-host:c-1@@:2222\"]}",
                "CUDA_VISIBLE_DEVICES=0",
            ],
            &["sh", "-c", "ping @@batchai-host:c-1@@"],
        );
        link.localize(&mut spawn);
        assert!(spawn.env.contains(&"MASTER_ADDR=n1.cluster".to_string()));
        assert!(spawn.env.contains(&"TF_CONFIG={\"w\":[\"n2:2222\"]}".to_string()));
        assert_eq!(spawn.env.iter().filter(|e| e.starts_with("CUDA_VISIBLE_DEVICES=")).count(), 1);
        assert!(spawn.env.contains(&"CUDA_VISIBLE_DEVICES=1".to_string()), "Slurm's GPUs win");
        assert!(spawn.env.contains(&"SLURM_JOB_ID=7".to_string()));
        assert_eq!(spawn.args[2], "ping n2");
        assert!(spawn.cpus.is_empty());
    }

    #[test]
    fn inbox_and_outbox_are_read_from_where_the_last_read_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir(dir.path().to_path_buf());
        fs::create_dir_all(run.node(0)).unwrap();
        append_inbox(&run.inbox(0), &[ToSupervisor::Spawn(request(&[], &["true"]))]).unwrap();
        let mut link = FileLink::open(&run, 0, Vec::new(), Vec::new()).unwrap();
        assert_eq!(link.read().len(), 1);
        assert!(link.read().is_empty(), "nothing twice");
        // Half a line stays for the next read.
        let mut file = OpenOptions::new().append(true).open(run.inbox(0)).unwrap();
        file.write_all(b"{\"op\":\"goodbye\"").unwrap();
        assert!(link.read().is_empty());
        file.write_all(b"}\n").unwrap();
        assert_eq!(link.read(), vec![ToSupervisor::Goodbye]);
        link.write(&FromSupervisor::Reaped { marker: "u".into() });
        let mut out = OpenOptions::new().append(true).open(run.outbox(0)).unwrap();
        out.write_all(b"{\"op\":\"reaped\",").unwrap();
        let (messages, offset) = read_outbox(&run.outbox(0), 0);
        assert_eq!(messages, vec![FromSupervisor::Reaped { marker: "u".into() }]);
        let (again, _) = read_outbox(&run.outbox(0), offset);
        assert!(again.is_empty(), "a partial line waits");
    }
}
