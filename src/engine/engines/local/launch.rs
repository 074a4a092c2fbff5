//! From a planned process to a supervisor spawn request: program lookup, environment, files.
//!
//! Processes on a local node inherit the agent's environment (that of the client that started
//! it, so `python` is the user's), minus anything batchai sets itself, then get the plan's
//! variables on top. Programs are looked up on the PATH the process will have.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use crate::engine::launcher::protocol::SpawnRequest;
use crate::engine::launcher::tree::MARKER;
use crate::engine::toolkits::{Mpirun, Program};

pub use crate::engine::engines::Launch;

/// `name` on `path` (a PATH value), as execvp would find it. A name with a slash is taken as is.
pub fn find_program(name: &str, path: Option<&str>) -> Option<String> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| name.to_string());
    }
    path.unwrap_or("/usr/local/bin:/usr/bin:/bin").split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let candidate = Path::new(dir).join(name);
        is_executable(&candidate).then(|| candidate.display().to_string())
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// `base` with `extra` on top: a name already present takes the new value in its place, a new
/// name goes at the end, a later entry wins. Linear in both (a job may give 100,000 variables).
pub fn merge_env(
    base: &[(String, String)],
    extra: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = base.to_vec();
    let mut index: HashMap<String, usize> = HashMap::with_capacity(env.len());
    for (at, (name, _)) in env.iter().enumerate() {
        index.entry(name.clone()).or_insert(at);
    }
    for (name, value) in extra {
        match index.get(&name) {
            Some(&at) => env[at].1 = value,
            None => {
                index.insert(name.clone(), env.len());
                env.push((name, value));
            }
        }
    }
    env
}

/// What every launch on this machine shares: the base environment, bash, mpirun, and the
/// program lookups made so far.
pub struct Launcher {
    base_env: Vec<(String, String)>,
    bash: String,
    mpirun: Option<Mpirun>,
    /// (name, PATH) → path, checked again before use.
    programs: RefCell<HashMap<(String, String), String>>,
}

impl Launcher {
    /// From this process's environment: what jobs inherit and which bash and mpirun exist.
    pub fn from_environment() -> Launcher {
        let path = std::env::var("PATH").ok();
        let base_env = std::env::vars()
            .filter(|(k, _)| !k.starts_with("AZ_BATCHAI_") && !k.starts_with("BATCHAI_") && k != MARKER)
            .collect();
        Launcher {
            base_env,
            bash: find_program("bash", path.as_deref()).unwrap_or_else(|| "/bin/bash".into()),
            // SAFETY: getuid has no preconditions.
            mpirun: find_program("mpirun", path.as_deref())
                .map(|path| Mpirun { path, as_root: unsafe { libc::getuid() } == 0 }),
            programs: RefCell::new(HashMap::new()),
        }
    }

    pub fn mpirun(&self) -> Option<&Mpirun> {
        self.mpirun.as_ref()
    }

    pub fn request(&self, launch: Launch) -> SpawnRequest {
        let env = merge_env(&self.base_env, launch.env.into_iter().chain([(MARKER.to_string(), launch.marker)]));
        let path = env.iter().find(|(n, _)| n == "PATH").map(|(_, v)| v.as_str());
        // A relative program (`./run.sh`) is relative to the process's working directory. Plain
        // names are looked up on PATH once and remembered (checked again before use): searching
        // PATH costs a stat per directory, on every job.
        let resolve = |word: &str| -> Option<String> {
            if word.contains('/') && !word.starts_with('/') {
                return find_program(&launch.cwd.join(word).display().to_string(), path);
            }
            if word.contains('/') {
                return find_program(word, path);
            }
            let key = (word.to_string(), path.unwrap_or_default().to_string());
            if let Some(found) = self.programs.borrow().get(&key).filter(|p| is_executable(Path::new(p))) {
                return Some(found.clone());
            }
            let found = find_program(word, path)?;
            self.programs.borrow_mut().insert(key, found.clone());
            Some(found)
        };
        let (program, args) = match &launch.program {
            Program::Direct(argv) => match argv.first().and_then(|first| resolve(first)) {
                Some(found) => (found, argv.clone()),
                // Not a program on PATH (a builtin such as `cd`): bash gives the same result.
                None => {
                    (self.bash.clone(), vec![self.bash.clone(), "-c".into(), launch.program.shell_line().into_owned()])
                }
            },
            Program::Shell(line) => (self.bash.clone(), vec![self.bash.clone(), "-c".into(), line.clone()]),
        };
        SpawnRequest {
            key: launch.key,
            program,
            args,
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: launch.cwd.display().to_string(),
            stdout: launch.stdout.display().to_string(),
            stderr: launch.stderr.display().to_string(),
            append: launch.append,
            cpus: launch.cpus,
            make_dirs: launch.make_dirs.iter().map(|d| d.display().to_string()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_like_execvp() {
        assert_eq!(find_program("sh", Some("/nonexistent:/bin")).as_deref(), Some("/bin/sh"));
        assert_eq!(find_program("surely-not-a-program-xyz", Some("/bin:/usr/bin")), None);
        assert_eq!(find_program("/bin/sh", None).as_deref(), Some("/bin/sh"));
        assert_eq!(find_program("/nonexistent/sh", None), None);
    }

    #[test]
    fn merging_a_hundred_thousand_variables_keeps_order_and_later_ones_win() {
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        let base = vec![pair("HOME", "/root"), pair("V5", "inherited"), pair("PATH", "/bin")];
        let extra = (0..100_000)
            .map(|i| pair(&format!("V{i}"), &format!("a{i}")))
            .chain((0..100_000).rev().step_by(3).map(|i| pair(&format!("V{i}"), &format!("b{i}"))))
            .chain([pair("PATH", "/opt/bin")]);
        let env = merge_env(&base, extra);
        assert_eq!(env.len(), 3 + 99_999, "V5 replaces the inherited one in place");
        assert_eq!(env[..4], [pair("HOME", "/root"), pair("V5", "a5"), pair("PATH", "/opt/bin"), pair("V0", "b0")]);
        assert_eq!(env.last(), Some(&pair("V99999", "b99999")));
        let value = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        // 99,999 - i divisible by 3 got a second value.
        assert_eq!(value("V99996"), Some("b99996"));
        assert_eq!(value("V99998"), Some("a99998"));
        assert_eq!(value("V1"), Some("a1"));
        assert_eq!(value("V3"), Some("b3"));
    }
}
