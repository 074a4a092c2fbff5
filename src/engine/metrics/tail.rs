//! Reading a metrics folder incrementally (see the module docs for why offsets are data).

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{MetricPoint, jsonl};

/// Bytes consumed per file, by path relative to the metrics folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Offsets(pub BTreeMap<String, u64>);

/// A reader of one job's metrics folder that returns each complete line once.
#[derive(Debug, Clone)]
pub struct MetricsTail {
    dir: PathBuf,
    pub offsets: Offsets,
}

impl MetricsTail {
    pub fn new(dir: impl Into<PathBuf>, offsets: Offsets) -> MetricsTail {
        MetricsTail { dir: dir.into(), offsets }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The points logged since the last call (or since the offsets given), oldest first. A
    /// missing folder is no metrics yet, not an error.
    pub fn read_new(&mut self) -> io::Result<Vec<MetricPoint>> {
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
            let consumed = self.offsets.0.get(&name).copied().unwrap_or(0);
            if entry.metadata()?.len() <= consumed {
                continue;
            }
            let (text, used) = complete_lines(&entry.path(), consumed)?;
            if used > 0 {
                self.offsets.0.insert(name, consumed + used);
                points.extend(text.lines().filter_map(jsonl::parse_line));
            }
        }
        // Files are per process: interleave them by the time each point was logged.
        points.sort_by(|a, b| a.time.total_cmp(&b.time));
        Ok(points)
    }
}

/// The text from `offset` up to the last newline, and its length in bytes.
fn complete_lines(path: &Path, offset: u64) -> io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
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
}
