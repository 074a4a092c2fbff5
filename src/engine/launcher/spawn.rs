//! Starting one process with `posix_spawn`.
//!
//! `posix_spawn` (glibc uses `CLONE_VM | CLONE_VFORK`) does not copy the parent's page tables,
//! which keeps a launch cheap even from a large parent, and it applies everything the child needs
//! between fork and exec without running Rust code in the child: a new session, default signal
//! dispositions (Python, which runs the agent, ignores SIGPIPE and SIGXFSZ, and ignored signals
//! survive exec), an empty signal mask (the supervisor blocks SIGCHLD for its signalfd), the
//! working directory and the three standard streams.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;

use super::protocol::SpawnRequest;

fn cstring(field: &str, value: &str) -> io::Result<CString> {
    CString::new(value).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{field} contains a NUL byte")))
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::from_raw_os_error(rc);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

/// RAII for the two posix_spawn attribute objects.
struct Attributes {
    actions: libc::posix_spawn_file_actions_t,
    attr: libc::posix_spawnattr_t,
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `spawn` before an `Attributes` was built.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
            libc::posix_spawnattr_destroy(&mut self.attr);
        }
    }
}

/// Start the process; returns its pid (which is also its session and process group id). The
/// caller pins CPUs and picks the cgroup (`contain::Containment::spawn_inside`): the child
/// inherits both from the calling thread.
pub fn spawn(request: &SpawnRequest) -> io::Result<i32> {
    for dir in &request.make_dirs {
        std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("creating {dir}: {e}")))?;
    }
    let program = cstring("program", &request.program)?;
    let args = request.args.iter().map(|a| cstring("argument", a)).collect::<io::Result<Vec<_>>>()?;
    let env = request.env.iter().map(|e| cstring("environment", e)).collect::<io::Result<Vec<_>>>()?;
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    let dev_null = c"/dev/null";
    let stdout = cstring("stdout", &request.stdout)?;
    let stderr = cstring("stderr", &request.stderr)?;
    let cwd = cstring("cwd", &request.cwd)?;
    let mode = libc::O_WRONLY | libc::O_CREAT | if request.append { libc::O_APPEND } else { libc::O_TRUNC };

    // SAFETY: every pointer handed to libc below points into CStrings and vectors that outlive the
    // calls; the attribute objects are initialised before use and destroyed by `Attributes`.
    unsafe {
        let mut actions = MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        check(libc::posix_spawn_file_actions_init(actions.as_mut_ptr()), "file actions")?;
        let mut attr = MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        if let Err(e) = check(libc::posix_spawnattr_init(attr.as_mut_ptr()), "spawn attributes") {
            libc::posix_spawn_file_actions_destroy(actions.as_mut_ptr());
            return Err(e);
        }
        let mut a = Attributes { actions: actions.assume_init(), attr: attr.assume_init() };

        check(
            libc::posix_spawn_file_actions_addopen(&mut a.actions, 0, dev_null.as_ptr(), libc::O_RDONLY, 0),
            "stdin",
        )?;
        check(libc::posix_spawn_file_actions_addopen(&mut a.actions, 1, stdout.as_ptr(), mode, 0o644), "stdout")?;
        if request.stdout == request.stderr {
            check(libc::posix_spawn_file_actions_adddup2(&mut a.actions, 1, 2), "stderr")?;
        } else {
            check(libc::posix_spawn_file_actions_addopen(&mut a.actions, 2, stderr.as_ptr(), mode, 0o644), "stderr")?;
        }
        check(libc::posix_spawn_file_actions_addchdir_np(&mut a.actions, cwd.as_ptr()), "working directory")?;

        let mut empty = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        let empty = empty.assume_init();
        let mut defaults = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(defaults.as_mut_ptr());
        let mut defaults = defaults.assume_init();
        for signal in 1..libc::SIGRTMIN() {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::sigaddset(&mut defaults, signal);
            }
        }
        check(libc::posix_spawnattr_setsigmask(&mut a.attr, &empty), "signal mask")?;
        check(libc::posix_spawnattr_setsigdefault(&mut a.attr, &defaults), "signal defaults")?;
        let flags =
            libc::POSIX_SPAWN_SETSID | (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        check(libc::posix_spawnattr_setflags(&mut a.attr, flags), "spawn flags")?;

        let mut pid: libc::pid_t = 0;
        let rc = libc::posix_spawn(&mut pid, program.as_ptr(), &a.actions, &a.attr, argv.as_ptr(), envp.as_ptr());
        check(rc, &format!("starting {}", request.program))?;
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &std::path::Path, program: &str, args: &[&str]) -> SpawnRequest {
        SpawnRequest {
            key: "k".into(),
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/bin:/bin".into(), "GREETING=hello".into()],
            cwd: dir.display().to_string(),
            stdout: dir.join("out.txt").display().to_string(),
            stderr: dir.join("err.txt").display().to_string(),
            append: false,
            cpus: vec![0],
            make_dirs: vec![dir.join("made/here").display().to_string()],
        }
    }

    fn wait(pid: i32) -> i32 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WEXITSTATUS(status)
    }

    #[test]
    fn runs_in_its_own_session_with_files_env_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let script = "echo $GREETING; pwd; echo oops >&2; ps -o sid= -p $$; exit 3";
        let pid = spawn(&request(dir.path(), "/bin/sh", &["sh", "-c", script])).unwrap();
        assert_eq!(wait(pid), 3);
        let out = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "hello");
        assert_eq!(std::fs::canonicalize(lines[1]).unwrap(), std::fs::canonicalize(dir.path()).unwrap());
        assert_eq!(lines[2].trim(), pid.to_string(), "the process leads its own session");
        assert_eq!(std::fs::read_to_string(dir.path().join("err.txt")).unwrap(), "oops\n");
        assert!(dir.path().join("made/here").is_dir());
    }

    #[test]
    fn sigpipe_is_default_in_the_child() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: ignoring SIGPIPE in this test process mimics Python; it is what Rust test
        // binaries do already.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let pid = spawn(&request(dir.path(), "/bin/sh", &["sh", "-c", "grep SigIgn /proc/self/status"])).unwrap();
        assert_eq!(wait(pid), 0);
        let out = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
        let ignored = u64::from_str_radix(out.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "SIGPIPE must not stay ignored: {out}");
    }

    #[test]
    fn missing_program_and_folder_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = spawn(&request(dir.path(), "/nonexistent/program", &["x"])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let mut bad_cwd = request(dir.path(), "/bin/true", &["true"]);
        bad_cwd.cwd = "/nonexistent/folder".into();
        assert!(spawn(&bad_cwd).is_err());
    }
}
