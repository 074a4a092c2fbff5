//! Trials and their history: what samplers learn from and policies judge.
//!
//! Theory of operation: a [`Trial`] is one configuration of the space being (or having been)
//! evaluated. It has an id, its parameters as JSON values (a tied group's value is an object), a
//! [`TrialState`], a final value once completed, and the intermediate values reported per step.
//! Everything is plain serde data so a later layer can store a sweep's history as JSON.
//! [`Direction`] says whether smaller or larger is better; helpers here turn values into a
//! "loss" (smaller is better) so the algorithms are written once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    /// Suggested and not finished: samplers treat its parameters as taken (constant liar).
    Running,
    /// Finished with a final value.
    Completed,
    /// Crashed or gave no usable value: samplers ignore it.
    Failed,
    /// Ended early by a policy (or by the user): its intermediate values still count.
    Stopped,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Running => "running",
            TrialState::Completed => "completed",
            TrialState::Failed => "failed",
            TrialState::Stopped => "stopped",
        }
    }

    pub fn is_finished(self) -> bool {
        self != TrialState::Running
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[serde(alias = "min", alias = "minimise")]
    Minimize,
    #[serde(alias = "max", alias = "maximise")]
    Maximize,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Direction> {
        match text.to_ascii_lowercase().as_str() {
            "min" | "minimize" | "minimise" => Some(Direction::Minimize),
            "max" | "maximize" | "maximise" => Some(Direction::Maximize),
            _ => None,
        }
    }

    /// The value as a loss: smaller is better in either direction.
    pub fn loss(self, value: f64) -> f64 {
        match self {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        self.loss(a) < self.loss(b)
    }

    /// The better of two values.
    pub fn best(self, a: f64, b: f64) -> f64 {
        if self.better(b, a) { b } else { a }
    }

    /// "below" or "above": the words for a worse value, in messages.
    pub fn worse_word(self) -> &'static str {
        match self {
            Direction::Minimize => "above",
            Direction::Maximize => "below",
        }
    }
}

/// One intermediate value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub step: u64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub id: u64,
    pub params: Map<String, Value>,
    pub state: TrialState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Intermediate values in increasing step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intermediate: Vec<Report>,
}

impl Trial {
    pub fn new(id: u64, params: Map<String, Value>) -> Trial {
        Trial { id, params, state: TrialState::Running, value: None, intermediate: Vec::new() }
    }

    /// The last reported step, if any.
    pub fn last_step(&self) -> Option<u64> {
        self.intermediate.last().map(|r| r.step)
    }

    /// Reports at or before `step`.
    pub fn up_to(&self, step: u64) -> impl Iterator<Item = &Report> {
        self.intermediate.iter().take_while(move |r| r.step <= step)
    }

    /// Whether the trial has reported at `step` or later.
    pub fn reached(&self, step: u64) -> bool {
        self.last_step().is_some_and(|s| s >= step)
    }

    /// The last value reported at or before `step`.
    pub fn value_at(&self, step: u64) -> Option<f64> {
        self.up_to(step).last().map(|r| r.value)
    }

    /// The best value reported at or before `step`.
    pub fn best_up_to(&self, step: u64, direction: Direction) -> Option<f64> {
        self.up_to(step).map(|r| r.value).reduce(|a, b| direction.best(a, b))
    }

    /// The mean of the values reported at or before `step`.
    pub fn running_average(&self, step: u64) -> Option<f64> {
        let (sum, n) = self.up_to(step).fold((0.0, 0usize), |(s, n), r| (s + r.value, n + 1));
        (n > 0).then(|| sum / n as f64)
    }

    /// The first value reported at or after `step`.
    pub fn first_at_or_after(&self, step: u64) -> Option<f64> {
        self.intermediate.iter().find(|r| r.step >= step).map(|r| r.value)
    }
}

/// Format a metric value for reasons: short, but exact enough to compare.
pub fn fmt_value(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" { "0".to_string() } else { s.to_string() }
    } else {
        format!("{x:.4e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn curve(values: &[(u64, f64)]) -> Trial {
        let mut t = Trial::new(0, Map::new());
        t.intermediate = values.iter().map(|&(step, value)| Report { step, value }).collect();
        t
    }

    #[test]
    fn history_helpers_look_back_from_a_step() {
        let t = curve(&[(1, 0.9), (2, 0.5), (4, 0.7)]);
        assert_eq!(t.value_at(3), Some(0.5));
        assert_eq!(t.best_up_to(4, Direction::Minimize), Some(0.5));
        assert_eq!(t.best_up_to(4, Direction::Maximize), Some(0.9));
        assert!((t.running_average(2).unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(t.first_at_or_after(3), Some(0.7));
        assert!(t.reached(4) && !t.reached(5));
        assert_eq!(t.value_at(0), None);
    }

    #[test]
    fn trials_serialize_as_plain_json() {
        let mut t = Trial::new(3, json!({"lr": 0.1, "g": {"a": 1}}).as_object().unwrap().clone());
        t.intermediate.push(Report { step: 1, value: 0.5 });
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(
            text,
            r#"{"id":3,"params":{"lr":0.1,"g":{"a":1}},"state":"running","intermediate":[{"step":1,"value":0.5}]}"#
        );
        assert_eq!(serde_json::from_str::<Trial>(&text).unwrap(), t);
        assert_eq!(serde_json::from_str::<Direction>("\"max\"").unwrap(), Direction::Maximize);
    }

    #[test]
    fn values_format_compactly() {
        assert_eq!(fmt_value(0.41), "0.41");
        assert_eq!(fmt_value(12.0), "12");
        assert_eq!(fmt_value(1.5e-7), "1.5000e-7");
        assert_eq!(fmt_value(0.0), "0");
    }
}
