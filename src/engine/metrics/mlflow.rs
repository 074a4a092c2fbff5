//! MLflow's file store as a metrics source, so scripts written for Azure ML that call
//! `mlflow.log_metric` report to batchai unchanged.
//!
//! Theory of operation: every job process gets `MLFLOW_TRACKING_URI=file://<metrics dir>/mlruns`
//! (see `toolkits::env`), so MLflow's FileStore appends one line per logged value to
//! `mlruns/<experiment id>/<run id>/metrics/<key>`, where a key with `/` becomes subfolders
//! (`val/acc`). A line is `<timestamp_ms> <value> <step>`; older writers left out the step and
//! newer ones add `<dataset name> <dataset digest>`. These files are tailed like the JSONL files,
//! by byte offsets keyed by their path relative to the metrics folder, so the same committed
//! offsets cover both sources. MLflow's other files (`meta.yaml`, params, tags) are ignored.

use std::io;
use std::path::{Path, PathBuf};

use super::MetricPoint;

/// The FileStore's root inside a metrics folder.
pub const MLRUNS: &str = "mlruns";

/// One line of a metric file whose key is `name`; `None` for anything else (skipped).
pub fn parse_line(name: &str, line: &str) -> Option<MetricPoint> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if !matches!(fields.len(), 2 | 3 | 5) {
        return None;
    }
    let millis: f64 = fields[0].parse().ok()?;
    // Rust reads `nan`, `inf` and `-inf` as Python's `str(float)` writes them.
    let value: f64 = fields[1].parse().ok()?;
    // MLflow's steps are signed; a negative one has no place in batchai's (u64) and is dropped
    // rather than the point. A line without a step is step 0, as MLflow itself reads it.
    let step = match fields.get(2) {
        None => Some(0),
        Some(step) => Some(step.parse::<i64>().ok()?).and_then(|s| u64::try_from(s).ok()),
    };
    Some(MetricPoint { name: name.to_string(), step, value, time: millis / 1000.0 })
}

/// A metric file: its offset key (path relative to the metrics folder), path and metric key.
pub struct MetricFile {
    pub key: String,
    pub path: PathBuf,
    pub name: String,
}

/// Every metric file under `<dir>/mlruns`. Folders vanishing meanwhile (a run deleted) are
/// skipped: MLflow writes while this reads.
pub fn metric_files(dir: &Path) -> io::Result<Vec<MetricFile>> {
    let mut files = Vec::new();
    let root = dir.join(MLRUNS);
    for experiment in subfolders(&root)? {
        for run in subfolders(&root.join(&experiment))? {
            let prefix = format!("{MLRUNS}/{experiment}/{run}/metrics");
            collect(&dir.join(&prefix), &prefix, "", &mut files)?;
        }
    }
    Ok(files)
}

/// The names of the folders in `dir` (none if it is missing), hidden ones (`.trash`) left out.
fn subfolders(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_gone(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.file_type()?.is_dir() {
            names.push(name);
        }
    }
    Ok(names)
}

/// The files under `folder` (a run's `metrics` folder or a subfolder of it), recursively.
fn collect(folder: &Path, key_prefix: &str, name_prefix: &str, files: &mut Vec<MetricFile>) -> io::Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if is_gone(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let part = entry.file_name().to_string_lossy().into_owned();
        let (key, name) = (format!("{key_prefix}/{part}"), format!("{name_prefix}{part}"));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&entry.path(), &key, &format!("{name}/"), files)?;
        } else if kind.is_file() {
            files.push(MetricFile { key, path: entry.path(), name });
        }
    }
    Ok(())
}

/// Missing, or replaced by a file: nothing to read there (yet, or any more).
fn is_gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_two_three_and_five_fields_parse() {
        let p = parse_line("loss", "1764630000125 0.25 3\n").unwrap();
        assert_eq!(p, MetricPoint { name: "loss".into(), step: Some(3), value: 0.25, time: 1764630000.125 });
        assert_eq!(parse_line("loss", "1000 -1.5").unwrap().step, Some(0), "no step is step 0, as MLflow reads it");
        let p = parse_line("acc", "1000 0.9 7 train-set 4f2a").unwrap();
        assert_eq!((p.step, p.value), (Some(7), 0.9));
        assert!(parse_line("l", "1000 nan 1").unwrap().value.is_nan());
        assert_eq!(parse_line("l", "1000 -inf 1").unwrap().value, f64::NEG_INFINITY);
        assert_eq!(parse_line("l", "1000 inf 1").unwrap().value, f64::INFINITY);
        assert_eq!(parse_line("l", "1000 1e-05 2").unwrap().value, 1e-5);
        let p = parse_line("l", "1000 2.0 -4").unwrap();
        assert_eq!((p.step, p.value), (None, 2.0), "a negative step is dropped, not the point");
        for bad in ["", "1000", "1000 x 1", "x 1 1", "1000 1 1.5", "1000 1 2 3", "1 2 3 4 5 6"] {
            assert_eq!(parse_line("l", bad), None, "{bad:?}");
        }
    }
}
