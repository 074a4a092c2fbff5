//! Reading a metrics folder incrementally (see the module docs for why offsets are data).

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::stdout_regex::{self, StdoutRegex};
use super::{MetricPoint, jsonl, mlflow};
use crate::engine::error::ValidationError;

/// Bytes consumed per file, by path relative to the metrics folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Offsets(pub BTreeMap<String, u64>);

/// A reader of one job's metrics: the JSONL files of its metrics folder, MLflow's file store
/// under it, and optionally a `metric_regex` over its standard output. Each complete line is
/// returned once.
#[derive(Debug, Clone)]
pub struct MetricsTail {
    dir: PathBuf,
    pub offsets: Offsets,
    stdout: Option<StdoutRegex>,
}

impl MetricsTail {
    pub fn new(dir: impl Into<PathBuf>, offsets: Offsets) -> MetricsTail {
        MetricsTail { dir: dir.into(), offsets, stdout: None }
    }

    /// A reader that also takes points from the job's primary standard output in `stdouterr`
    /// (its `stdouterr` output folder), one per match of `pattern` (see [`StdoutRegex`]);
    /// `metric` names the points of a pattern without a `name` group. Fails on a pattern that
    /// [`check_metric_regex`](super::check_metric_regex) rejects.
    pub fn with_stdout_regex(
        dir: impl Into<PathBuf>,
        offsets: Offsets,
        stdouterr: impl Into<PathBuf>,
        pattern: &str,
        metric: &str,
    ) -> Result<MetricsTail, ValidationError> {
        let stdout = StdoutRegex::new(pattern, metric, stdouterr)?;
        Ok(MetricsTail { stdout: Some(stdout), ..MetricsTail::new(dir, offsets) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The points logged since the last call (or since the offsets given), oldest first. A
    /// missing folder is no metrics yet, not an error.
    pub fn read_new(&mut self) -> io::Result<Vec<MetricPoint>> {
        // A metrics folder the job replaced with a link is not read: it could point anywhere.
        let linked = std::fs::symlink_metadata(&self.dir).is_ok_and(|m| m.file_type().is_symlink());
        let mut points = if linked { Vec::new() } else { self.read_jsonl()? };
        let logged = if linked { Vec::new() } else { mlflow::metric_files(&self.dir)? };
        for file in logged {
            if let Some(text) = self.take_lines(file.key, &file.path)? {
                points.extend(text.lines().filter_map(|line| mlflow::parse_line(&file.name, line)));
            }
        }
        if let Some((key, path)) = self.stdout.as_ref().and_then(StdoutRegex::file) {
            let time = stdout_regex::modified(&path);
            if let Some(text) = self.take_lines(key, &path)? {
                points.extend(self.stdout.as_ref().map(|r| r.points(&text, time)).unwrap_or_default());
            }
        }
        // Files are per process: interleave them by the time each point was logged (a stable
        // sort, so the points of one file keep their order).
        points.sort_by(|a, b| a.time.total_cmp(&b.time));
        Ok(points)
    }

    /// The new points of the JSONL files at the top of the folder.
    fn read_jsonl(&mut self) -> io::Result<Vec<MetricPoint>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut points = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".jsonl") || !entry.file_type()?.is_file() {
                continue;
            }
            if let Some(text) = self.take_lines(name, &entry.path())? {
                points.extend(text.lines().filter_map(jsonl::parse_line));
            }
        }
        Ok(points)
    }

    /// The complete lines of `path` past its offset under `key`, which moves past them; `None`
    /// when there are none (yet). A file that vanished meanwhile has none. A file shorter than
    /// its offset was started anew (a requeued job's stdout is truncated when it runs again):
    /// it is read from its start.
    fn take_lines(&mut self, key: String, path: &Path) -> io::Result<Option<String>> {
        let mut consumed = self.offsets.0.get(&key).copied().unwrap_or(0);
        let len = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if len < consumed {
            consumed = 0;
            self.offsets.0.insert(key.clone(), 0);
        }
        if len <= consumed {
            return Ok(None);
        }
        let (text, used) = match complete_lines(path, consumed) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // Swapped for a link since it was listed: not the job's file, nothing to read.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
            Err(e) => return Err(e),
        };
        if used == 0 {
            return Ok(None);
        }
        self.offsets.0.insert(key, consumed + used);
        Ok(Some(text))
    }
}

/// The text from `offset` up to the last newline, and its length in bytes.
fn complete_lines(path: &Path, offset: u64) -> io::Result<(String, u64)> {
    // The job owns its metrics folder and can swap a file for a link between the listing and
    // this open: a link is refused here (ELOOP), and a FIFO cannot block the agent.
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Ok((String::new(), 0));
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let used = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(used);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), used as u64))
}

/// Every point in a metrics folder (complete lines only), oldest first.
pub fn read_all(dir: &Path) -> io::Result<Vec<MetricPoint>> {
    MetricsTail::new(dir, Offsets::default()).read_new()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn links_in_the_metrics_folder_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        append(&outside.path().join("secret.jsonl"), "{\"name\": \"leak\", \"value\": 1}\n");
        let job = tempfile::tempdir().unwrap();
        let dir = job.path().join("metrics");
        std::fs::create_dir(&dir).unwrap();
        append(&dir.join("own.jsonl"), "{\"name\": \"loss\", \"value\": 2}\n");
        std::os::unix::fs::symlink(outside.path().join("secret.jsonl"), dir.join("link.jsonl")).unwrap();
        let names: Vec<String> = read_all(&dir).unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["loss"]);
        // A file swapped for a link after it was listed is not opened through the link.
        assert!(complete_lines(&dir.join("link.jsonl"), 0).is_err());
        // The whole folder swapped for a link to another folder of metrics.
        std::fs::remove_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(outside.path(), &dir).unwrap();
        assert!(read_all(&dir).unwrap().is_empty());
    }

    #[test]
    fn a_tail_returns_each_complete_line_once_across_files_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = MetricsTail::new(dir.path().join("metrics"), Offsets::default());
        assert!(tail.read_new().unwrap().is_empty(), "no folder yet is no metrics");
        std::fs::create_dir(tail.dir()).unwrap();
        let (a, b) = (tail.dir().join("host-1.jsonl"), tail.dir().join("host-2.jsonl"));
        append(&a, "{\"name\": \"loss\", \"value\": 3, \"time\": 1}\n{\"name\": \"loss\", \"value\": 2, \"ti");
        append(&b, "{\"name\": \"loss\", \"value\": 9, \"time\": 0.5}\nnot json\n");
        append(&tail.dir().join("notes.txt"), "{\"name\": \"x\", \"value\": 1}\n");
        let got: Vec<f64> = tail.read_new().unwrap().iter().map(|p| p.value).collect();
        assert_eq!(got, [9.0, 3.0], "ordered by time, the half line left for later");
        assert!(tail.read_new().unwrap().is_empty());
        append(&a, "me\": 2}\n");
        // A reader restarted from the committed offsets sees only the rest.
        let mut restarted = MetricsTail::new(tail.dir(), tail.offsets.clone());
        let got: Vec<f64> = restarted.read_new().unwrap().iter().map(|p| p.value).collect();
        assert_eq!(got, [2.0]);
        assert_eq!(read_all(tail.dir()).unwrap().len(), 3);
    }

    #[test]
    fn mlflow_metric_files_are_tailed_with_nested_keys_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = MetricsTail::new(dir.path(), Offsets::default());
        let run = dir.path().join("mlruns/909234106604221890/0123456789abcdef0123456789abcdef");
        std::fs::create_dir_all(run.join("metrics/val")).unwrap();
        std::fs::create_dir_all(dir.path().join("mlruns/.trash/5/r/metrics")).unwrap();
        append(&dir.path().join("mlruns/.trash/5/r/metrics/loss"), "1000 1 0\n");
        append(&run.join("meta.yaml"), "status: 1\n");
        append(&run.join("metrics/loss"), "2000 0.5 0\n3000 nan 1\n4000 0.2");
        append(&run.join("metrics/val/acc"), "2500 0.75 0 digits 4f2a\n");
        let got = tail.read_new().unwrap();
        let seen: Vec<(&str, Option<u64>, f64)> = got.iter().map(|p| (p.name.as_str(), p.step, p.time)).collect();
        assert_eq!(seen, [("loss", Some(0), 2.0), ("val/acc", Some(0), 2.5), ("loss", Some(1), 3.0)]);
        assert!(got[2].value.is_nan());
        let key = "mlruns/909234106604221890/0123456789abcdef0123456789abcdef/metrics/val/acc";
        assert_eq!(tail.offsets.0.get(key), Some(&24), "offsets are keyed by the path in the folder");
        assert!(tail.read_new().unwrap().is_empty(), "the unfinished line waits for its newline");
        append(&run.join("metrics/loss"), " 2\n");
        let mut restarted = MetricsTail::new(dir.path(), tail.offsets.clone());
        let got = restarted.read_new().unwrap();
        assert_eq!((got.len(), got[0].value, got[0].step), (1, 0.2, Some(2)));
        assert_eq!(read_all(dir.path()).unwrap().len(), 4, "the deleted experiment in .trash is not read");
    }

    #[test]
    fn a_metric_regex_tails_the_primary_stdout_beside_the_other_sources() {
        let dir = tempfile::tempdir().unwrap();
        let (metrics, stdouterr) = (dir.path().join("metrics"), dir.path().join("stdouterr"));
        std::fs::create_dir_all(&metrics).unwrap();
        std::fs::create_dir_all(&stdouterr).unwrap();
        let pattern = r"epoch (?P<step>\d+) val_loss=(?P<value>\S+)";
        let new = |offsets| MetricsTail::with_stdout_regex(&metrics, offsets, &stdouterr, pattern, "val_loss").unwrap();
        let mut tail = new(Offsets::default());
        assert!(tail.read_new().unwrap().is_empty(), "no stdout yet");
        append(&stdouterr.join("stdout.txt"), "starting\nepoch 0 val_loss=0.9\nepoch 1 val_loss=-0.");
        append(&metrics.join("h-1.jsonl"), "{\"name\": \"lr\", \"value\": 0.1, \"time\": 1}\n");
        let got = tail.read_new().unwrap();
        let seen: Vec<(&str, Option<u64>, f64)> = got.iter().map(|p| (p.name.as_str(), p.step, p.value)).collect();
        assert_eq!(seen, [("lr", None, 0.1), ("val_loss", Some(0), 0.9)]);
        assert!(got[1].time > 1e9, "a printed point is timed by the file's last write");
        assert_eq!(tail.offsets.0.get("stdout:stdout.txt"), Some(&(9 + 21)));
        append(&stdouterr.join("stdout.txt"), "5\n");
        let got = new(tail.offsets.clone()).read_new().unwrap();
        assert_eq!((got.len(), got[0].step, got[0].value), (1, Some(1), -0.5));
        // The job runs again (requeued): its stdout starts over, shorter than the offset.
        std::fs::write(stdouterr.join("stdout.txt"), "epoch 0 val_loss=0.8\n").unwrap();
        let got = tail.read_new().unwrap();
        assert_eq!((got.len(), got[0].step, got[0].value), (1, Some(0), 0.8));
        assert_eq!(tail.offsets.0.get("stdout:stdout.txt"), Some(&21));
        let e = MetricsTail::with_stdout_regex(&metrics, Offsets::default(), &stdouterr, "(", "m").unwrap_err();
        assert_eq!(e.field, "metric_regex");
    }
}
