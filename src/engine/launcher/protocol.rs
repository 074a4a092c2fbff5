//! Messages between the agent and the supervisor: one JSON object per line.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

/// Everything needed to start one process. `program` is an absolute path (the agent resolves it
/// against the job's PATH); `args` includes argv[0].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRequest {
    pub key: String,
    pub program: String,
    pub args: Vec<String>,
    /// `NAME=value` pairs: the complete environment (it may hold secrets: never log it).
    pub env: Vec<String>,
    pub cwd: String,
    pub stdout: String,
    pub stderr: String,
    /// Append to the output files instead of truncating them (setup tasks rerun on the same node).
    #[serde(default)]
    pub append: bool,
    /// CPU ids the process is pinned to; empty for no pinning.
    #[serde(default)]
    pub cpus: Vec<u32>,
    /// Folders to create (with their parents) before starting, such as the one the output files
    /// go in. Done here rather than by the agent so that this file-system work overlaps with
    /// the agent's own.
    #[serde(default)]
    pub make_dirs: Vec<String>,
}

impl std::fmt::Debug for SpawnRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnRequest")
            .field("key", &self.key)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &format_args!("<{} variables>", self.env.len()))
            .field("cwd", &self.cwd)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ToSupervisor {
    Spawn(SpawnRequest),
    /// Send `signal` to the process group of `key`, and to every process whose environment holds
    /// `BATCHAI_JOB_UID=<marker>` (descendants that left the group).
    Signal {
        key: String,
        signal: i32,
        marker: Option<String>,
    },
    /// The agent has committed these exits; forget them.
    Ack {
        keys: Vec<String>,
    },
    /// Start the agent again with `restart` if its connection drops without `Goodbye`, while
    /// the workspace database `db` exists: a killed agent comes back by itself instead of at
    /// the next client call, so queues never stall.
    Watchdog {
        restart: SpawnRequest,
        db: String,
    },
    /// The agent stops on purpose: do not start it again.
    Goodbye,
    /// Kill whatever is left of the marker's processes (descendants that outlived the job's own
    /// processes), keep killing until none is left, then answer `Reaped`.
    Reap {
        marker: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub key: String,
    pub pid: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub key: String,
    pub pid: i32,
    /// The exit status, when the process exited.
    pub code: Option<i32>,
    /// The signal, when the process was killed by one.
    pub signal: Option<i32>,
    pub end_us: i64,
    /// Known for certain that no process of its marker was left when it ended (only cgroup
    /// containment can tell cheaply): then nothing needs reaping.
    #[serde(default)]
    pub rest_gone: bool,
    /// A node launcher ended it because its engine stopped the launcher itself (Slurm cancelled
    /// the job: its time limit, a node taken away, `scancel` outside batchai), not because the
    /// agent asked: what it means waits for the engine's account of why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub engine_stop: bool,
}

impl Exit {
    /// Shell convention: 128 + signal number for a process killed by a signal.
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => -1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FromSupervisor {
    /// First message on every connection: what runs and what ended unacknowledged.
    Hello {
        pid: i32,
        running: Vec<Running>,
        exited: Vec<Exit>,
        /// How processes are contained: `cgroup-v2` or `process-tree` (see `contain`).
        #[serde(default)]
        containment: String,
        /// This supervisor process's identity (pid and start time): a different one than the
        /// store recorded means the processes the recorded one ran are lost.
        #[serde(default)]
        instance: String,
    },
    Spawned {
        key: String,
        pid: i32,
    },
    SpawnFailed {
        key: String,
        error: String,
    },
    Exited(Exit),
    /// No process of the marker is left.
    Reaped {
        marker: String,
    },
}

pub fn write_line<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

pub fn read_line<T: for<'de> Deserialize<'de>>(input: &mut impl BufRead) -> io::Result<Option<T>> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_lines() {
        let spawn = ToSupervisor::Spawn(SpawnRequest {
            key: "job:u:1:0".into(),
            program: "/bin/true".into(),
            args: vec!["true".into()],
            env: vec!["SECRET=hunter2".into()],
            cwd: "/".into(),
            stdout: "/tmp/o".into(),
            stderr: "/tmp/e".into(),
            append: false,
            cpus: vec![0],
            make_dirs: vec![],
        });
        let mut buffer = Vec::new();
        write_line(&mut buffer, &spawn).unwrap();
        write_line(&mut buffer, &ToSupervisor::Ack { keys: vec!["a".into()] }).unwrap();
        let mut reader = io::BufReader::new(&buffer[..]);
        assert_eq!(read_line::<ToSupervisor>(&mut reader).unwrap(), Some(spawn.clone()));
        assert!(matches!(read_line::<ToSupervisor>(&mut reader).unwrap(), Some(ToSupervisor::Ack { .. })));
        assert_eq!(read_line::<ToSupervisor>(&mut reader).unwrap(), None);
        assert!(!format!("{spawn:?}").contains("hunter2"));
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        let exit = |code, signal| Exit {
            key: String::new(),
            pid: 1,
            code,
            signal,
            end_us: 0,
            rest_gone: false,
            engine_stop: false,
        };
        assert_eq!(exit(Some(3), None).exit_code(), 3);
        assert_eq!(exit(None, Some(9)).exit_code(), 137);
    }
}
