//! `metric_regex`: metric points parsed from what a program prints, for programs that only print.
//!
//! Theory of operation: the pattern runs over each complete line of the job's primary standard
//! output (`stdout.txt`, or rank / worker 0's file of a job of several processes: the one that
//! prints a distributed job's progress), and every match is a point. The named group `value` is
//! required; `step` (a whole number) and `name` are optional, a point without `name` being the
//! sweep's metric. The file is tailed like the metrics files, with its byte offset kept in the
//! same [`Offsets`](super::Offsets) under `stdout:<file name>`. A printed line has no timestamp,
//! so a point's time is the file's last modification when it was read: the moment it was printed
//! when the agent tails it live, and no earlier than that for a later read.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::MetricPoint;
use crate::engine::error::ValidationError;

/// The field named in errors about the pattern.
const FIELD: &str = "metric_regex";

/// The names a job's primary standard output may have, by toolkit: one process, TensorFlow's
/// worker 0, rank 0 of several (see `toolkits::plan`).
const PRIMARY_STDOUT: [&str; 3] = ["stdout.txt", "stdout-wk-0.txt", "stdout-0.txt"];

/// A compiled `metric_regex` reading one job's standard output.
#[derive(Debug, Clone)]
pub struct StdoutRegex {
    regex: Regex,
    /// The name of points whose pattern has no `name` group (the sweep's metric).
    metric: String,
    /// The job's `stdouterr` folder.
    stdouterr: PathBuf,
}

/// Compiles `pattern`, or says why it cannot be a `metric_regex`.
fn compile(pattern: &str) -> Result<Regex, ValidationError> {
    let value = serde_json::Value::String(pattern.to_string()).to_string();
    let regex = Regex::new(pattern).map_err(|e| {
        // The regex crate's text points at the error in the pattern over several lines.
        ValidationError::new(FIELD, &value, format!("is not a valid regular expression: {e}"))
    })?;
    if !regex.capture_names().any(|name| name == Some("value")) {
        return Err(ValidationError::new(
            FIELD,
            value,
            "must have a named group `value` that matches the number, for example r\"val_loss=(?P<value>\\S+)\" \
             (optional groups: `step`, `name`)",
        ));
    }
    Ok(regex)
}

/// Whether `pattern` can be a `metric_regex`: a valid regular expression with a named group
/// `value`. For validating a sweep when it is created.
pub fn check_metric_regex(pattern: &str) -> Result<(), ValidationError> {
    compile(pattern).map(drop)
}

impl StdoutRegex {
    /// `pattern` (checked as [`check_metric_regex`] does) over the primary standard output in the
    /// job's `stdouterr` folder; points without a `name` group are called `metric`.
    pub fn new(pattern: &str, metric: &str, stdouterr: impl Into<PathBuf>) -> Result<Self, ValidationError> {
        Ok(StdoutRegex { regex: compile(pattern)?, metric: metric.to_string(), stdouterr: stdouterr.into() })
    }

    /// The primary standard output file and its offset key, once the job has written it.
    pub fn file(&self) -> Option<(String, PathBuf)> {
        PRIMARY_STDOUT
            .iter()
            .map(|name| (format!("stdout:{name}"), self.stdouterr.join(name)))
            .find(|(_, path)| path.is_file())
    }

    /// The points in `text` (complete lines), all logged at `time`.
    pub fn points(&self, text: &str, time: f64) -> Vec<MetricPoint> {
        let mut points = Vec::new();
        for line in text.lines() {
            for caps in self.regex.captures_iter(line) {
                // A match whose `value` is not a number ("val_loss=n/a") is not a point.
                let Some(value) = caps.name("value").and_then(|v| v.as_str().trim().parse::<f64>().ok()) else {
                    continue;
                };
                let step = caps.name("step").and_then(|s| s.as_str().trim().parse::<u64>().ok());
                let name = caps.name("name").map_or(self.metric.as_str(), |n| n.as_str()).to_string();
                if !name.is_empty() {
                    points.push(MetricPoint { name, step, value, time });
                }
            }
        }
        points
    }
}

/// When `path` was last written, in Unix seconds (0 when unknown).
pub fn modified(path: &Path) -> f64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_needs_a_value_group_and_says_why_not() {
        assert!(check_metric_regex(r"val_loss=(?P<value>\S+)").is_ok());
        let e = check_metric_regex(r"val_loss=(\S+)").unwrap_err();
        assert_eq!(e.field, "metric_regex");
        assert_eq!(e.value, r#""val_loss=(\\S+)""#);
        assert!(e.rule.starts_with("must have a named group `value`"), "{}", e.rule);
        let e = check_metric_regex(r"loss=(?P<value>\S+").unwrap_err();
        assert!(e.rule.starts_with("is not a valid regular expression: "), "{}", e.rule);
        assert!(e.rule.contains("unclosed group"), "the regex error text is kept: {}", e.rule);
        assert!(!e.to_string().contains("Some("), "{e}");
    }

    #[test]
    fn every_match_of_every_line_is_a_point() {
        let r = StdoutRegex::new(r"(?P<name>\w+)=(?P<value>\S+)", "val_loss", "/none").unwrap();
        let got = r.points("epoch 3: loss=0.5 acc=nan\nnothing here\nloss=n/a\n", 2.0);
        let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["loss", "acc"], "a value that is no number is skipped");
        assert!(got[1].value.is_nan());
        let r =
            StdoutRegex::new(r"step (?P<step>\d+) val_loss=(?P<value>[-+.\deE]+|nan)", "val_loss", "/none").unwrap();
        let got = r.points("step 4 val_loss=-0.25\r\nstep 5 val_loss=1e-3\n", 7.5);
        assert_eq!(
            got,
            [
                MetricPoint { name: "val_loss".into(), step: Some(4), value: -0.25, time: 7.5 },
                MetricPoint { name: "val_loss".into(), step: Some(5), value: 1e-3, time: 7.5 },
            ]
        );
    }

    #[test]
    fn the_primary_stdout_is_rank_zeros_of_several() {
        let dir = tempfile::tempdir().unwrap();
        let r = StdoutRegex::new(r"(?P<value>\d+)", "m", dir.path()).unwrap();
        assert_eq!(r.file(), None, "nothing written yet");
        std::fs::write(dir.path().join("stdout-1.txt"), "1\n").unwrap();
        std::fs::write(dir.path().join("stdout-job_prep.txt"), "1\n").unwrap();
        assert_eq!(r.file(), None);
        std::fs::write(dir.path().join("stdout-0.txt"), "1\n").unwrap();
        assert_eq!(r.file(), Some(("stdout:stdout-0.txt".to_string(), dir.path().join("stdout-0.txt"))));
    }
}
