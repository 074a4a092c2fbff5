//! Node exec on the local engine: run a command on a node as `az batchai cluster node exec` did
//! over SSH, here as a local process.
//!
//! The command runs through bash in the node's folder, pinned to the node's CPUs, with the
//! caller's environment plus the node's (`node_env`, the same variables its jobs get). It runs in
//! its own process group, so a timeout kills everything it started, not only bash.

use std::process::Stdio;
use std::time::Duration;

use super::{node_env::node_env, workdirs};
use crate::engine::error::{Error, Result};
use crate::engine::paths::Layout;
use crate::engine::store::Node;

/// What a command run on a node left: its exit code (`-N` when signal N killed it, as Python's
/// `subprocess` says) and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `command` on `node`; a timeout error once `timeout` has passed (the command is killed).
pub fn exec(layout: &Layout, node: &Node, command: &str, timeout: Option<Duration>) -> Result<ExecOutput> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("-c")
        .arg(command)
        .current_dir(workdirs::node_root(layout, &node.name))
        .envs(node_env(layout, &node.name, &super::machine::detect_machine().visible_gpus(&node.gpus)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let cpus = cpu_set(&node.cpus)?;
    // SAFETY: the closure only makes the sched_setaffinity system call (async-signal-safe) on a
    // set built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(set) = &cpus {
                nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), set).map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting node exec", e))?;
    runtime.block_on(async move {
        let failed = |e: std::io::Error| Error::io(format!("running bash on node {}", node.name), e);
        let mut child = cmd.spawn().map_err(failed)?;
        let group = child.id().map(|pid| pid as i32);
        let stdout = tokio::spawn(read_all(child.stdout.take()));
        let stderr = tokio::spawn(read_all(child.stderr.take()));
        let limit = async {
            match timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let status = tokio::select! {
            status = child.wait() => status.map_err(failed)?,
            _ = limit => {
                if let Some(group) = group {
                    // SAFETY: signalling the process group we made; its leader (bash) is not
                    // reaped yet, so the group id is still ours.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                }
                let _ = child.wait().await;
                let limit = timeout.unwrap_or_default().as_secs_f64();
                return Err(Error::Timeout(format!("the command did not finish within {limit} s")));
            }
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or_else(|| status.signal().map(|s| -s)).unwrap_or(-1);
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        Ok(ExecOutput {
            code,
            stdout: text(stdout.await.unwrap_or_default()),
            stderr: text(stderr.await.unwrap_or_default()),
        })
    })
}

/// Everything a pipe gives until it closes (what the command's descendants write too, while
/// they hold it open).
async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    bytes
}

/// The node's CPUs as an affinity set; `None` for a node without a CPU list (no pinning).
fn cpu_set(cpus: &[u32]) -> Result<Option<nix::sched::CpuSet>> {
    if cpus.is_empty() {
        return Ok(None);
    }
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu as usize).map_err(|_| {
            Error::invalid(
                "cpus",
                cpu.to_string(),
                format!("must be below {} (the machine's CPU limit)", nix::sched::CpuSet::count()),
            )
        })?;
    }
    Ok(Some(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cpus: Vec<u32>, gpus: Vec<u32>) -> Node {
        Node {
            name: name.into(),
            number: 0,
            cluster: "c".into(),
            state: crate::engine::store::NodeState::Idle,
            state_transition_time: chrono::Utc::now(),
            cpus,
            gpus,
            memory_mb: None,
            job: None,
            ip_address: "127.0.0.1".into(),
            creation_time: chrono::Utc::now(),
        }
    }

    #[test]
    fn runs_in_the_nodes_folder_with_its_variables_and_cpus() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(workdirs::node_root(&layout, "c-0")).unwrap();
        let cpu = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
        let first = (0..nix::sched::CpuSet::count()).find(|&i| cpu.is_set(i).unwrap_or(false)).unwrap() as u32;
        let script = "echo $BATCHAI_NODE_ID $CUDA_DEVICE_ORDER $CUDA_VISIBLE_DEVICES; basename $PWD; \
                      grep Cpus_allowed_list /proc/self/status | cut -f2; echo oops >&2; exit 3";
        let out = exec(&layout, &node("c-0", vec![first], vec![4]), script, None).unwrap();
        assert_eq!(out.stdout, format!("c-0 PCI_BUS_ID 4\nc-0\n{first}\n"));
        assert_eq!((out.code, out.stderr.as_str()), (3, "oops\n"));
    }

    #[test]
    fn a_timeout_kills_the_command_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(workdirs::node_root(&layout, "c-0")).unwrap();
        let pid_file = dir.path().join("bg");
        let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
        let started = std::time::Instant::now();
        let err = exec(&layout, &node("c-0", vec![], vec![]), &script, Some(Duration::from_millis(300))).unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err}");
        assert_eq!(err.to_string(), "the command did not finish within 0.3 s");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // The background sleep was in the command's group: killed with it (gone or a zombie
        // waiting for this test process, its subreaper-less parent's parent, to be reaped).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("gone");
            if state == "Z" || state == "gone" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the background child survived the timeout: {state}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
