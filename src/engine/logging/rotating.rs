//! A log file that never grows without bound, shared by several processes.
//!
//! Theory of operation: every event is appended with one `write` to a file opened in append mode,
//! under an exclusive `flock`, so the agent and the supervisor (two processes writing the same
//! log) never interleave inside a line. When the file passes `max_bytes`, the writer that pushed
//! it over renames it to `<name>.1` (shifting `<name>.1` to `<name>.2` and so on, dropping the
//! oldest past `keep`) while still holding the lock. A writer that opened the file just before a
//! rotation sees, once it holds the lock, that the path now names another file, and opens again:
//! no line lands in a file that was already rotated away.
//!
//! The file is opened for each event. The agent logs a few lines per job at most, so this costs
//! nothing that matters, and it needs no state that a `fork` could break.
//!
//! A missing file is created, but only while its `anchor` exists (the workspace's database for
//! the agent's log): a process that logs after its workspace was deleted must not leave a fresh
//! log behind in the folder, or recreate the folder's contents the deletion just removed.
//!
//! Failures never reach the caller as a panic: a full disk loses log lines, not the agent.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// An append-only log at `path`, rotated past `max_bytes`, with `keep` older files.
#[derive(Debug, Clone)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    anchor: Option<PathBuf>,
}

impl RotatingFile {
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64, keep: usize) -> Self {
        RotatingFile { path: path.into(), max_bytes, keep, anchor: None }
    }

    /// Create the log only while `anchor` exists (see the module docs).
    pub fn anchored_to(mut self, anchor: impl Into<PathBuf>) -> Self {
        self.anchor = Some(anchor.into());
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `n`th older file: `agent.log.1` is the most recent one rotated away.
    pub fn rotated(&self, n: usize) -> PathBuf {
        rotated(&self.path, n)
    }

    /// Append `bytes` (one whole event) and rotate if the file has passed its cap.
    pub fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let file = self.open_current()?;
        (&*file).write_all(bytes)?;
        if file.metadata()?.len() >= self.max_bytes {
            self.rotate();
        }
        Ok(())
    }

    /// The file the path names, opened and locked.
    fn open_current(&self) -> io::Result<Flock<File>> {
        // Each retry means another writer rotated the file between our open and our lock, so
        // 100 retries take a hundred rotations (hundreds of MiB of log) during one wait: only
        // then is this line lost rather than waited for. `flock` is not fair, so a writer may
        // lose several races in a row.
        for _ in 0..100 {
            let create = self.anchor.as_ref().is_none_or(|anchor| anchor.exists());
            let file = OpenOptions::new().create(create).append(true).open(&self.path)?;
            let locked = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))?;
            let held = locked.metadata()?;
            match std::fs::metadata(&self.path) {
                Ok(named) if named.dev() == held.dev() && named.ino() == held.ino() => return Ok(locked),
                _ => continue,
            }
        }
        Err(io::Error::other("the log file was replaced while being opened"))
    }

    /// Shift the older files up by one and move the current one to `.1`. Called with the current
    /// file locked, so two processes never rotate the same file twice. Errors are ignored: at
    /// worst the file grows until a later rotation succeeds.
    fn rotate(&self) {
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        for n in (1..self.keep).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        let _ = std::fs::rename(&self.path, self.rotated(1));
    }
}

/// The `n`th older file of the log at `path`: `agent.log` → `agent.log.1`.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The writer `tracing_subscriber` gets for each event. The formatter hands it the whole event in
/// one `write_all`; errors are swallowed here (see the module docs).
pub struct Appender<'a> {
    file: &'a RotatingFile,
}

impl Write for Appender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.file.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = Appender<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Appender { file: self }
    }
}
