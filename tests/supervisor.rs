//! The supervisor as a real process, driven over its socket the way the agent drives it.
//!
//! `harness = false`: this binary's `main` is single-threaded, which `start_detached` (a fork)
//! requires; the test harness would run tests on threads.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use batchai::engine::launcher::protocol::{Exit, FromSupervisor, SpawnRequest, ToSupervisor, write_line};
use batchai::engine::launcher::supervisor::{Started, start_detached};
use batchai::engine::launcher::{socket, tree};

struct Agent {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Agent {
    fn connect(name: &str) -> (Agent, FromSupervisor) {
        let stream = socket::connect(name).expect("connect to the supervisor");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut agent = Agent { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
        let hello = agent.receive();
        (agent, hello)
    }

    fn send(&mut self, message: &ToSupervisor) {
        write_line(&mut self.writer, message).unwrap();
        self.writer.flush().unwrap();
    }

    fn receive(&mut self) -> FromSupervisor {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("a message from the supervisor");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad message {line:?}: {e}"))
    }

    fn exit_of(&mut self, key: &str) -> Exit {
        loop {
            match self.receive() {
                FromSupervisor::Exited(exit) if exit.key == key => return exit,
                _ => continue,
            }
        }
    }
}

fn spawn(dir: &std::path::Path, key: &str, script: &str) -> ToSupervisor {
    ToSupervisor::Spawn(SpawnRequest {
        key: key.into(),
        program: "/bin/sh".into(),
        args: vec!["sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/usr/bin:/bin".into(), format!("{}={key}", tree::MARKER)],
        cwd: dir.display().to_string(),
        stdout: dir.join(format!("{key}.out")).display().to_string(),
        stderr: dir.join(format!("{key}.err")).display().to_string(),
        append: false,
        cpus: vec![],
        make_dirs: vec![dir.join("logs/deep").display().to_string()],
    })
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("batchai-test/{}/supervisor", std::process::id());
    assert_eq!(start_detached(&name).unwrap(), Started::Started);
    assert_eq!(start_detached(&name).unwrap(), Started::AlreadyRunning, "one supervisor per name");
    let mut checks = 0;

    // Spawn, exit status, files, folders.
    let (mut agent, hello) = Agent::connect(&name);
    let FromSupervisor::Hello { pid: supervisor, running, exited, .. } = hello else { panic!("expected Hello") };
    assert!(running.is_empty() && exited.is_empty());
    agent.send(&spawn(dir.path(), "quick", "echo out; echo err >&2; exit 3"));
    let exit = agent.exit_of("quick");
    assert_eq!((exit.code, exit.exit_code()), (Some(3), 3));
    assert_eq!(std::fs::read_to_string(dir.path().join("quick.out")).unwrap(), "out\n");
    assert!(dir.path().join("logs/deep").is_dir());
    checks += 1;

    // The same key again is reported, not started again.
    agent.send(&spawn(dir.path(), "quick", "echo second run >> twice; exit 0"));
    assert_eq!(agent.exit_of("quick").code, Some(3));
    assert!(!dir.path().join("twice").exists());
    agent.send(&ToSupervisor::Ack { keys: vec!["quick".into()] });
    checks += 1;

    // A start is silent; asking again for a running key says it runs.
    agent.send(&spawn(dir.path(), "slow", "sleep 0.5; exit 7"));
    agent.send(&spawn(dir.path(), "slow", "exit 0"));
    let FromSupervisor::Spawned { pid: slow, .. } = agent.receive() else { panic!("expected Spawned") };
    // The agent disappears while the process runs; the exit waits for the next agent.
    drop(agent);
    wait_until("the slow process to end", || !alive(slow));
    let (mut agent, hello) = Agent::connect(&name);
    let FromSupervisor::Hello { pid, running, exited, .. } = hello else { panic!("expected Hello") };
    assert_eq!(pid, supervisor, "the same supervisor");
    assert!(running.is_empty());
    assert_eq!(exited.iter().map(|e| (e.key.as_str(), e.code)).collect::<Vec<_>>(), [("slow", Some(7))]);
    agent.send(&ToSupervisor::Ack { keys: vec!["slow".into()] });
    checks += 1;

    // Stopping a tree: the group, and a descendant that left it (found by its marker).
    let pid_file = dir.path().join("daemon.pid");
    agent.send(&spawn(
        dir.path(),
        "tree",
        &format!("trap '' TERM; setsid sh -c 'echo $$ > {}; exec sleep 300' & exec sleep 300", pid_file.display()),
    ));
    agent.send(&spawn(dir.path(), "tree", "exit 0"));
    let FromSupervisor::Spawned { pid: root, .. } = agent.receive() else { panic!("expected Spawned") };
    wait_until("the daemon's pid", || std::fs::read_to_string(&pid_file).is_ok_and(|s| !s.trim().is_empty()));
    let daemon: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    agent.send(&ToSupervisor::Signal { key: "tree".into(), signal: libc::SIGKILL, marker: Some("tree".into()) });
    let exit = agent.exit_of("tree");
    assert_eq!((exit.pid, exit.signal), (root, Some(libc::SIGKILL)));
    wait_until("the daemon to be killed and reaped", || !alive(daemon));
    agent.send(&ToSupervisor::Ack { keys: vec!["tree".into()] });
    checks += 1;

    // A program that cannot start is reported, not fatal.
    let mut missing = spawn(dir.path(), "missing", "");
    if let ToSupervisor::Spawn(request) = &mut missing {
        request.program = "/nonexistent/program".into();
    }
    agent.send(&missing);
    assert!(matches!(agent.receive(), FromSupervisor::SpawnFailed { key, .. } if key == "missing"));
    checks += 1;

    // Idle and unwatched, it leaves by itself.
    drop(agent);
    wait_until("the idle supervisor to exit", || !alive(supervisor));
    checks += 1;

    println!("supervisor: {checks} passed, 0 failed");
}
