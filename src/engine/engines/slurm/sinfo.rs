//! The partition's nodes: what `sinfo` says about the hosts a Slurm cluster's jobs run on.
//!
//! Theory of operation:
//! - A Slurm cluster's batchai nodes are slots (see the engine's module); the hosts are the
//!   partition's nodes, which Slurm owns. This is a read-only view of them for people: nothing
//!   here feeds the scheduler, and nothing is stored.
//! - One `sinfo --noheader --Node --partition=<p> --format=<FORMAT>` lists them, one line per
//!   node and partition; a node listed twice (a partition list such as `gpu,cpu`) is kept once.
//!   The reason is the last field, so a `|` inside it stays in it.
//! - Slurm's long states (`%T`) map to Batch AI's five ([`node_state`]); the suffix flags
//!   (`*`, `~`, `#`, ...) are stripped from the state, but a few change what the node can do
//!   (`*`: not responding) and are applied. `slurm_state` keeps Slurm's own words.
//! - `sinfo` answers nothing (and exits 0) for a partition Slurm does not have: only then is
//!   `scontrol show partition` asked, to tell an unknown partition from one without nodes.
//!   Every call has a timeout: a Slurm controller that does not answer is an error, not a hang.

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine::error::{Error, Result};
use crate::engine::model::node::NodeState;

/// How long `sinfo` (or `scontrol`) may take before batchai gives up on it.
pub const SINFO_TIMEOUT: Duration = Duration::from_secs(30);

/// Node name, long state, CPUs, memory (MB), gres, address, hostname, reason.
pub const SINFO_FORMAT: &str = "%N|%T|%c|%m|%G|%o|%n|%E";

/// One node of a partition, as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionNode {
    pub name: String,
    /// Slurm's state in Batch AI's words.
    #[serde(serialize_with = "state_name")]
    pub state: NodeState,
    /// Slurm's own long state, flags included (`idle`, `mixed`, `drained*`).
    pub slurm_state: String,
    pub cpus: u32,
    pub memory_mb: Option<u64>,
    /// Slurm's generic resources (`gpu:2`); empty when none.
    pub gres: String,
    /// The address Slurm reaches the node at (`NodeAddr`), else its host name.
    pub address: Option<String>,
    /// Why an administrator (or Slurm) took it out of service; None when it is in service.
    pub reason: Option<String>,
}

fn state_name<S: serde::Serializer>(state: &NodeState, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(state.as_str())
}

/// The `sinfo` arguments that list `partition`'s nodes.
pub fn sinfo_args(partition: &str) -> Vec<String> {
    vec![
        "--noheader".to_string(),
        "--Node".to_string(),
        format!("--partition={partition}"),
        format!("--format={SINFO_FORMAT}"),
    ]
}

/// `sinfo`'s answer to [`sinfo_args`]: each node once, in Slurm's order. Lines that are not
/// node lines (fewer fields) are skipped.
pub fn parse_sinfo(stdout: &str) -> Vec<PartitionNode> {
    let mut seen = BTreeSet::new();
    stdout.lines().filter_map(parse_line).filter(|node| seen.insert(node.name.clone())).collect()
}

fn parse_line(line: &str) -> Option<PartitionNode> {
    let fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).splitn(8, '|').map(str::trim).collect();
    let [name, state, cpus, memory, gres, address, hostname, rest @ ..] = fields.as_slice() else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    let given = |value: &str| (!matches!(value, "" | "(null)" | "N/A" | "n/a")).then(|| value.to_string());
    Some(PartitionNode {
        name: name.to_string(),
        state: node_state(state),
        slurm_state: state.to_string(),
        cpus: cpus.parse().unwrap_or(0),
        memory_mb: memory.parse().ok(),
        gres: given(gres).unwrap_or_default(),
        address: given(address).or_else(|| given(hostname)),
        reason: rest.first().and_then(|r| given(r)).filter(|r| r != "none"),
    })
}

/// The flags Slurm appends to a long state: `*` not responding, `~` powered off, `#` powering
/// up, `!` power down pending, `%` powering down, `$` maintenance reservation, `@` reboot
/// pending, `^` reboot issued, `-` planned by the backfill scheduler, `+` (`allocated+`) jobs
/// completing.
const FLAGS: &[char] = &['*', '~', '#', '!', '%', '$', '@', '^', '-', '+'];

/// A Slurm long state (`%T`, any case, flags and `+`-joined extra states allowed) in Batch AI's
/// words:
/// - `idle` (and `powered_down`: Slurm powers it up for a job) → idle;
/// - `allocated`, `mixed`, `completing`, `planned` (held for a job Slurm is about to start) →
///   running;
/// - `draining` → leaving, not unusable: it finishes the jobs it runs and takes no new one, then
///   is out of service, which is what Batch AI's `leaving` is (a node removed once its last job
///   is gone); `drained` (out of service until resumed) → unusable. `power_down`,
///   `powering_down` and `reboot_requested` also end with the node gone for a while: leaving;
/// - `powering_up`, `reboot_issued` → preparing: it will be ready soon;
/// - `down`, `drained`, `fail`, `failing`, `not_responding`, `maint`, `reserved`, `inval`,
///   `future`, `unknown`, and any state batchai does not know → unusable (batchai cannot say it
///   takes jobs).
///
/// Flags: `*` (not responding) and `$` (maintenance reservation) make any state unusable; `#`
/// and `^` make a usable one preparing; `%` makes an idle one leaving; the others change nothing.
pub fn node_state(slurm: &str) -> NodeState {
    let text = slurm.trim().to_ascii_lowercase();
    let words = text.trim_end_matches(FLAGS);
    let flags = &text[words.len()..];
    let mut parts = words.split('+').filter(|w| !w.is_empty());
    let mut state = parts.next().map_or(NodeState::Unusable, base_state);
    for extra in parts {
        state = with_extra_state(state, extra.trim_end_matches(FLAGS));
    }
    for flag in flags.chars() {
        state = with_flag(state, flag);
    }
    state
}

fn base_state(word: &str) -> NodeState {
    match word {
        "idle" | "powered_down" => NodeState::Idle,
        "allocated" | "alloc" | "mixed" | "mix" | "completing" | "comp" | "planned" | "plnd" => NodeState::Running,
        "draining" | "drng" | "power_down" | "powering_down" | "pow_dn" | "reboot_requested" => NodeState::Leaving,
        "powering_up" | "power_up" | "pow_up" | "reboot_issued" => NodeState::Preparing,
        _ => NodeState::Unusable,
    }
}

/// A second state in a `+`-joined list (`mixed+drain`, `idle+maint`), as newer Slurms write.
fn with_extra_state(state: NodeState, word: &str) -> NodeState {
    use NodeState::*;
    match word {
        "drain" | "draining" => match state {
            Running | Leaving => Leaving,
            _ => Unusable,
        },
        "drained" | "down" | "fail" | "failing" | "maint" | "not_responding" | "no_respond" | "inval" | "blocked" => {
            Unusable
        }
        "powering_up" | "power_up" | "reboot_issued" if state != Unusable => Preparing,
        "powering_down" | "power_down" | "reboot_requested" if state == Idle => Leaving,
        "completing" if state == Idle => Running,
        _ => state,
    }
}

fn with_flag(state: NodeState, flag: char) -> NodeState {
    use NodeState::*;
    match flag {
        '*' | '$' => Unusable,
        '#' | '^' if state != Unusable => Preparing,
        '%' if state == Idle => Leaving,
        _ => state,
    }
}

/// The nodes of Slurm partition `partition`, from `sinfo` on this machine.
pub fn partition_nodes(partition: &str) -> Result<Vec<PartitionNode>> {
    let listing = format!("listing the nodes of Slurm partition '{partition}'");
    let output = run("sinfo", &sinfo_args(partition), SINFO_TIMEOUT).map_err(|e| e.with(&listing))?;
    if !output.success {
        return Err(Error::Conflict(format!("{listing}: sinfo failed: {}", output.said())));
    }
    let nodes = parse_sinfo(&output.stdout);
    if nodes.is_empty() && !output.stdout.trim().is_empty() {
        return Err(Error::Conflict(format!("{listing}: sinfo answered no node line: {}", output.said())));
    }
    if nodes.is_empty() {
        // sinfo is silent about a partition it does not have: ask whether it exists.
        let args = ["show".to_string(), "partition".to_string(), partition.to_string()];
        return match run("scontrol", &args, SINFO_TIMEOUT) {
            Ok(shown) if shown.success => Ok(nodes),
            Ok(shown) => Err(unknown_partition(partition, &shown.said())),
            Err(_) => Err(unknown_partition(partition, "sinfo lists no nodes in it")),
        };
    }
    Ok(nodes)
}

fn unknown_partition(partition: &str, said: &str) -> Error {
    Error::Conflict(format!(
        "Slurm has no partition '{partition}' ({said}): `sinfo --summarize` lists the partitions; \
         create the cluster again with one of them"
    ))
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Output {
    /// What the command said about its failure: its stderr, else its stdout.
    fn said(&self) -> String {
        let text = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        match text.trim() {
            "" => "it said nothing".to_string(),
            said => said.lines().collect::<Vec<_>>().join("; "),
        }
    }
}

/// Why a Slurm command gave no answer at all.
enum NoAnswer {
    Spawn { program: &'static str, source: std::io::Error },
    Timeout { program: &'static str, after: Duration },
}

impl NoAnswer {
    fn with(self, what: &str) -> Error {
        match self {
            NoAnswer::Spawn { program, source } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::io(format!("{what}: {program} was not found (Slurm's client commands must be on PATH)"), source)
            }
            NoAnswer::Spawn { program, source } => Error::io(format!("{what}: running {program}"), source),
            NoAnswer::Timeout { program, after } => Error::Timeout(format!(
                "{what}: {program} did not answer within {} s (is slurmctld reachable?)",
                after.as_secs()
            )),
        }
    }
}

/// Run a Slurm command; killed after `timeout`. Its output is read while it runs, so a long
/// answer never blocks it.
fn run(program: &'static str, args: &[String], timeout: Duration) -> Result<Output, NoAnswer> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NoAnswer::Spawn { program, source })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                // Not reaped yet, so the pid is still this child's.
                let _ = child.kill();
                let _ = child.wait();
                return Err(NoAnswer::Timeout { program, after: timeout });
            }
            Err(source) => return Err(NoAnswer::Spawn { program, source }),
        }
    };
    Ok(Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use NodeState::*;

    /// Captured from the two-node test Slurm (slurm-wlm 22.05.8) with `--format=SINFO_FORMAT`:
    /// idle, one job on n1, an exclusive job on n2, n2 drained while running a job and after it.
    const CAPTURED: &str = "\
n1|idle|8|2000|gpu:2|127.0.1.1|n1|none
n2|idle|8|2000|gpu:2|127.0.1.2|n2|none
n1|mixed|8|2000|gpu:2|127.0.1.1|n1|none
n2|allocated|8|2000|gpu:2|127.0.1.2|n2|none
n2|draining|8|2000|gpu:2|127.0.1.2|n2|batchai sinfo parser | capture
n2|drained|8|2000|gpu:2|127.0.1.2|n2|batchai sinfo parser | capture
";

    #[test]
    fn captured_lines_parse() {
        let lines: Vec<PartitionNode> = CAPTURED.lines().filter_map(parse_line).collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[0],
            PartitionNode {
                name: "n1".into(),
                state: Idle,
                slurm_state: "idle".into(),
                cpus: 8,
                memory_mb: Some(2000),
                gres: "gpu:2".into(),
                address: Some("127.0.1.1".into()),
                reason: None,
            }
        );
        let states: Vec<NodeState> = lines.iter().map(|n| n.state).collect();
        assert_eq!(states, [Idle, Idle, Running, Running, Leaving, Unusable]);
        assert_eq!(lines[4].reason.as_deref(), Some("batchai sinfo parser | capture"), "a | in the reason stays");
        assert_eq!(lines[5].slurm_state, "drained");
    }

    #[test]
    fn a_node_listed_twice_is_kept_once() {
        let nodes = parse_sinfo(
            "n1|idle|8|2000|gpu:2|127.0.1.1|n1|none\nn2|mixed|8|2000|(null)|n2|n2|none\n\
             n1|idle|8|2000|gpu:2|127.0.1.1|n1|none\n",
        );
        assert_eq!(nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(nodes[1].gres, "", "(null) is no gres");
    }

    #[test]
    fn missing_values_and_other_lines() {
        let nodes = parse_sinfo(
            "garbage\n\ncn7|down*|64|N/A|(null)|(null)|cn7.cluster|Not responding\n\
             cn8|idle~|x|512000|gpu:a100:4(S:0-1)|N/A|N/A|none\n|idle|1|1||||\n",
        );
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        assert_eq!(nodes[0].memory_mb, None);
        assert_eq!(nodes[0].address.as_deref(), Some("cn7.cluster"), "the host name when there is no address");
        assert_eq!(nodes[0].reason.as_deref(), Some("Not responding"));
        assert_eq!(nodes[0].state, Unusable);
        assert_eq!((nodes[1].cpus, nodes[1].address.as_deref(), nodes[1].state), (0, None, Idle));
        assert_eq!(nodes[1].gres, "gpu:a100:4(S:0-1)");
    }

    #[test]
    fn slurm_states_in_batch_ais_words() {
        for (slurm, state) in [
            ("idle", Idle),
            ("IDLE", Idle),
            ("idle~", Idle),
            ("idle-", Idle),
            ("idle@", Idle),
            ("idle!", Idle),
            ("powered_down", Idle),
            ("allocated", Running),
            ("allocated+", Running),
            ("mixed", Running),
            ("completing", Running),
            ("planned", Running),
            ("draining", Leaving),
            ("draining@", Leaving),
            ("mixed+drain", Leaving),
            ("idle%", Leaving),
            ("powering_down", Leaving),
            ("reboot_requested", Leaving),
            ("powering_up", Preparing),
            ("idle#", Preparing),
            ("allocated#", Preparing),
            ("reboot_issued", Preparing),
            ("mixed^", Preparing),
            // Captured: n2 just after `scontrol update state=resume`.
            ("idle*", Unusable),
            ("down", Unusable),
            ("down*", Unusable),
            ("down#", Unusable),
            ("drained", Unusable),
            ("drained*", Unusable),
            ("idle+drain", Unusable),
            ("idle+maint", Unusable),
            ("fail", Unusable),
            ("failing", Unusable),
            ("not_responding", Unusable),
            ("maint", Unusable),
            ("idle$", Unusable),
            ("reserved", Unusable),
            ("inval", Unusable),
            ("future", Unusable),
            ("unknown", Unusable),
            ("unknown*", Unusable),
            ("blocked", Unusable),
            ("something_new", Unusable),
            ("", Unusable),
        ] {
            assert_eq!(node_state(slurm), state, "{slurm}");
        }
    }

    #[test]
    fn the_arguments_name_the_partition_and_the_fields() {
        assert_eq!(sinfo_args("gpu"), ["--noheader", "--Node", "--partition=gpu", "--format=%N|%T|%c|%m|%G|%o|%n|%E"]);
    }

    #[test]
    fn a_command_that_does_not_answer_is_killed_at_its_timeout() {
        let started = Instant::now();
        let Err(NoAnswer::Timeout { after, .. }) = run("sleep", &["10".to_string()], Duration::from_millis(200)) else {
            panic!("sleep 10 answered within 200 ms");
        };
        assert_eq!(after, Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(5));
        let error = NoAnswer::Timeout { program: "sinfo", after: SINFO_TIMEOUT }.with("listing p");
        assert!(matches!(error, Error::Timeout(_)));
        assert_eq!(error.to_string(), "listing p: sinfo did not answer within 30 s (is slurmctld reachable?)");
    }

    #[test]
    fn a_missing_command_says_so() {
        let Err(missing) = run("batchai-no-such-sinfo", &[], SINFO_TIMEOUT) else {
            panic!("a missing program ran");
        };
        let error = missing.with("listing the nodes of Slurm partition 'gpu'");
        assert!(matches!(&error, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
        assert!(error.to_string().starts_with("listing the nodes of Slurm partition 'gpu': batchai-no-such-sinfo"));
        let output =
            run("sh", &["-c".into(), "echo out; echo 'line 1' >&2; echo 'line 2' >&2; exit 3".into()], SINFO_TIMEOUT)
                .unwrap_or_else(|_| panic!("sh did not run"));
        assert!(!output.success);
        assert_eq!(output.said(), "line 1; line 2");
    }
}
