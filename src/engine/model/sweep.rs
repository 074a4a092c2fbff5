//! A sweep: an experiment's search over a job template, driven by the agent.
//!
//! Theory of operation: a [`SweepSpec`] is what the user asked for, stored once and never
//! changed except for `maxTrials` (`extend`): the search space, sampler, optional early
//! termination policy, the objective (metric and mode), the trial template (any job spec) and
//! the limits, named as Azure ML's sweep job names them. Each trial is a job made from the
//! template by [`SweepSpec::trial_job`]: `${{search_space.NAME}}` placeholders in any string of
//! the spec take the trial's values, and the values also reach the job as environment
//! variables and as a JSON file. Validation happens here, before anything is stored, so a sweep
//! that can never run a trial fails at create.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::error::ValidationError;
use crate::engine::model::JobSpec;
use crate::engine::model::common::EnvironmentVariable;
use crate::engine::model::duration::{MAX_SECONDS, WallClock};
use crate::engine::model::validate;
use crate::engine::sweep::conditional::NAME;
use crate::engine::sweep::{Direction, Param, Policy, Sampler, Space};

/// Trials a sweep may ask for at most: far beyond any useful search, a guard against typos.
pub const MAX_TRIALS: u64 = 100_000;

/// Sweep names leave room for `-<trial>` in the job names of their trials.
const MAX_NAME: usize = 56;

fn one() -> u32 {
    1
}

fn minimize() -> Direction {
    Direction::Minimize
}

fn tpe() -> Sampler {
    Sampler::Tpe(Default::default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SweepSpec {
    /// `{name: parameter}` in the shapes of `engine::sweep::Param`.
    pub search_space: Value,
    #[serde(default = "tpe")]
    pub sampler: Sampler,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// The objective: the metric trials log (`batchai.log_metric`, MLflow or `metricRegex`).
    pub metric: String,
    #[serde(default = "minimize")]
    pub mode: Direction,
    pub trial: JobSpec,
    pub max_trials: u64,
    #[serde(default = "one")]
    pub max_concurrent_trials: u32,
    /// Seconds from creation after which no trial starts and running ones are cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Seconds each trial may run (its job's `maxWallClockTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_timeout: Option<f64>,
    /// Failed trials after which the sweep fails (no limit when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_trials: Option<u64>,
    /// For programs that only print: a pattern with a named group `value` (and optionally `step`)
    /// matched against the trial's standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_regex: Option<String>,
}

/// A trial's job: its spec and the parameters as the job sees them.
#[derive(Debug, Clone)]
pub struct TrialJob {
    pub spec: JobSpec,
    pub params_json: String,
}

impl SweepSpec {
    /// Check everything that can be checked before a trial exists.
    pub fn validate(&self, name: &str) -> Result<Space, ValidationError> {
        validate::name("name", name)?;
        if name.chars().count() > MAX_NAME {
            validate::fail(
                "name",
                &name,
                &format!("must be at most {MAX_NAME} characters, so that trial job names ('<name>-<n>') fit in 64"),
            )?;
        }
        let space = Space::from_value(self.search_space.clone())
            .map_err(|e| ValidationError::new(format!("searchSpace.{}", e.field), e.value, e.rule))?;
        self.sampler.check(&space).map_err(|e| prefixed("sampler", e))?;
        if let Some(policy) = &self.policy {
            policy.validate().map_err(|e| prefixed("policy", e))?;
        }
        if self.metric.trim().is_empty() {
            validate::fail("metric", &self.metric, "must name the metric trials log (for example \"val_loss\")")?;
        }
        if !(1..=MAX_TRIALS).contains(&self.max_trials) {
            validate::fail("maxTrials", &self.max_trials, &format!("must be between 1 and {MAX_TRIALS}"))?;
        }
        if self.max_concurrent_trials == 0 {
            validate::fail("maxConcurrentTrials", &0, "must be at least 1")?;
        }
        for (field, value) in [("timeout", self.timeout), ("trialTimeout", self.trial_timeout)] {
            // Bounded: the agent adds the timeout to the sweep's start (a date), which overflowed
            // (a panic, at every start of the agent) for 1e300.
            if let Some(v) = value.filter(|v| !v.is_finite() || *v <= 0.0 || *v > MAX_SECONDS) {
                validate::fail(
                    field,
                    &v.to_string(),
                    "must be a positive number of seconds (at most 1e12), or left out for no limit",
                )?;
            }
        }
        if self.max_failed_trials == Some(0) {
            validate::fail("maxFailedTrials", &0, "must be at least 1, or left out for no limit")?;
        }
        if let Some(pattern) = &self.metric_regex {
            crate::engine::metrics::check_metric_regex(pattern)
                .map_err(|e| ValidationError::new("metricRegex", e.value, e.rule))?;
        }
        // The template must make a valid job with any values: try it with the first grid point
        // or, for continuous spaces, with placeholders filled by the parameter names.
        let names: Vec<&str> = space.params().iter().map(|(n, _)| n.as_str()).collect();
        let fields: Vec<(&str, Vec<String>)> =
            space.params().iter().map(|(n, p)| (n.as_str(), object_fields(p))).collect();
        let known = Known { names: &names, fields: &fields };
        check_placeholders(&serde_json::to_value(&self.trial).unwrap_or(Value::Null), "trial", &known)?;
        let probe: Map<String, Value> = names.iter().map(|n| (n.to_string(), Value::from(1))).collect();
        self.substituted(&probe).validate().map_err(|e| prefixed("trial", e))?;
        Ok(space)
    }

    /// The job of trial `id` with `params`; `params_file` is where the agent writes them.
    pub fn trial_job(&self, sweep: &str, id: u64, params: &Map<String, Value>, params_file: &str) -> TrialJob {
        let mut spec = self.substituted(params);
        // Added by batchai itself: names a user may not take (see `validate::env_name`).
        let mut env = vec![
            EnvironmentVariable { name: "BATCHAI_SWEEP".into(), value: sweep.into() },
            EnvironmentVariable { name: "BATCHAI_TRIAL_ID".into(), value: id.to_string() },
            EnvironmentVariable { name: "BATCHAI_TRIAL_PARAMS".into(), value: params_file.into() },
        ];
        for (name, value) in params {
            let text = placeholder_text(value);
            env.push(EnvironmentVariable { name: format!("BATCHAI_PARAM_{}", env_suffix(name)), value: text.clone() });
            // What Azure ML's sweep sets, for scripts written for it.
            if validate::env_name("", name).is_ok() {
                env.push(EnvironmentVariable { name: format!("AZUREML_SWEEP_{name}"), value: text });
            }
        }
        if self.metric_regex.is_some() {
            // Printed metrics are read from the output file: Python must not hold them in an
            // 8 KiB buffer until it exits.
            env.push(EnvironmentVariable { name: "PYTHONUNBUFFERED".into(), value: "1".into() });
        }
        env.retain(|v| !spec.environment_variables.iter().any(|u| u.name == v.name));
        spec.environment_variables.extend(env);
        TrialJob { spec, params_json: Value::Object(params.clone()).to_string() }
    }
}

impl SweepSpec {
    /// The template with the placeholders filled and the trial timeout applied.
    fn substituted(&self, params: &Map<String, Value>) -> JobSpec {
        let mut value = serde_json::to_value(&self.trial).unwrap_or(Value::Null);
        substitute(&mut value, params);
        let mut spec: JobSpec = serde_json::from_value(value).unwrap_or_else(|_| self.trial.clone());
        // Validated at create; a sweep stored before the bound is clamped rather than panicking.
        if let Some(Ok(limit)) = self.trial_timeout.map(|s| std::time::Duration::try_from_secs_f64(s.min(MAX_SECONDS)))
        {
            spec.constraints.max_wall_clock_time = WallClock(limit);
        }
        spec
    }
}

fn prefixed(prefix: &str, e: ValidationError) -> ValidationError {
    let field = if e.field.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", e.field) };
    ValidationError::new(field, e.value, e.rule)
}

/// `lr` → `LR`, `hidden-size` → `HIDDEN_SIZE`.
fn env_suffix(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// A value as it appears in a command line: strings bare, numbers as JSON writes them.
fn placeholder_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `${{ ... }}` placeholders of `s`: (byte range, trimmed inside), or the byte offset of
/// one left open.
fn placeholders(s: &str) -> Result<Vec<(std::ops::Range<usize>, &str)>, usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = s[from..].find("${{").map(|i| i + from) {
        let Some(len) = s[at + 3..].find("}}") else { return Err(at) };
        let end = at + 3 + len + 2;
        found.push((at..end, s[at + 3..end - 2].trim()));
        from = end;
    }
    Ok(found)
}

/// The keys a parameter's object value may have (`${{search_space.NAME.KEY}}`): a tied group's
/// keys, or a conditional's `name` and every option's parameters; empty for plain values.
fn object_fields(param: &Param) -> Vec<String> {
    let mut out: Vec<String> = match param {
        Param::Tied { values } => values.first().map(|g| g.keys().cloned().collect()).unwrap_or_default(),
        Param::Conditional { options } => std::iter::once(NAME.to_string())
            .chain(options.0.iter().flat_map(|(_, sub)| sub.params().iter().map(|(n, _)| n.clone())))
            .collect(),
        _ => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|k| seen.insert(k.clone()));
    out
}

/// The parameter names a template may refer to, and the keys of object-valued ones.
struct Known<'a> {
    names: &'a [&'a str],
    fields: &'a [(&'a str, Vec<String>)],
}

impl Known<'_> {
    /// Whether `NAME` or `NAME.KEY` refers to a parameter (or a key of its object value).
    fn knows(&self, name: &str) -> bool {
        self.names.contains(&name)
            || self.fields.iter().any(|(n, keys)| {
                name.strip_prefix(n)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|k| keys.iter().any(|f| f == k))
            })
    }
}

/// `${{search_space.NAME}}`'s text, or `NAME.KEY` in an object value (a tied group, a
/// conditional). A key the chosen option does not have is empty: `--momentum
/// ${{search_space.optimizer.momentum}}` gives `--momentum ` when adam was chosen.
fn lookup(params: &Map<String, Value>, name: &str) -> Option<String> {
    if let Some(v) = params.get(name) {
        return Some(placeholder_text(v));
    }
    name.match_indices('.').find_map(|(i, _)| match params.get(&name[..i]) {
        Some(Value::Object(o)) => Some(o.get(&name[i + 1..]).map(placeholder_text).unwrap_or_default()),
        _ => None,
    })
}

/// Every placeholder in the strings under `value` must be `${{search_space.NAME}}` of a
/// parameter, or `${{search_space.NAME.KEY}}` of a key of an object-valued one.
fn check_placeholders(value: &Value, path: &str, known: &Known<'_>) -> Result<(), ValidationError> {
    let names = known.names;
    match value {
        Value::String(s) => {
            let Ok(found) = placeholders(s) else {
                return validate::fail(path, s, "has a '${{' placeholder without its closing '}}'");
            };
            for (_, inside) in found {
                let Some(name) = inside.strip_prefix("search_space.") else {
                    let rule = format!(
                        "has the placeholder '${{{{{inside}}}}}'; a sweep fills only ${{{{search_space.NAME}}}} (put other values in the command line itself)"
                    );
                    return validate::fail(path, s, &rule);
                };
                if !known.knows(name.trim()) {
                    let rule = format!(
                        "names the parameter '{}', which the search space does not have (it has: {})",
                        name.trim(),
                        names.join(", ")
                    );
                    return validate::fail(path, s, &rule);
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, v)| check_placeholders(v, &format!("{path}[{i}]"), known))
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| check_placeholders(v, &format!("{path}.{k}"), known)),
        _ => Ok(()),
    }
}

fn substitute(value: &mut Value, params: &Map<String, Value>) {
    match value {
        Value::String(s) => {
            let Ok(found) = placeholders(s) else { return };
            if found.is_empty() {
                return;
            }
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for (range, inside) in found {
                let param = inside.strip_prefix("search_space.").and_then(|n| lookup(params, n.trim()));
                out.push_str(&s[last..range.start]);
                match param {
                    Some(text) => out.push_str(&text),
                    None => out.push_str(&s[range.clone()]),
                }
                last = range.end;
            }
            out.push_str(&s[last..]);
            *s = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, params)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, params)),
        _ => {}
    }
}

/// A sweep's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepState {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl SweepState {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepState::Running => "running",
            SweepState::Completed => "completed",
            SweepState::Cancelled => "cancelled",
            SweepState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<SweepState> {
        [SweepState::Running, SweepState::Completed, SweepState::Cancelled, SweepState::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// How a trial ended, as stored. A trial that has not ended is `active`; whether it is queued or
/// running is its job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialStatus {
    Active,
    Completed,
    Failed,
    /// Ended early by the policy.
    Stopped,
    /// By the user, or because the sweep was cancelled or timed out.
    Cancelled,
}

impl TrialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialStatus::Active => "active",
            TrialStatus::Completed => "completed",
            TrialStatus::Failed => "failed",
            TrialStatus::Stopped => "stopped",
            TrialStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TrialStatus> {
        [TrialStatus::Active, TrialStatus::Completed, TrialStatus::Failed, TrialStatus::Stopped, TrialStatus::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(command: &str) -> SweepSpec {
        serde_json::from_value(json!({
            "searchSpace": {"lr": {"type": "uniform", "low": 1e-4, "high": 0.1, "log": true}, "opt": {"type": "choice", "values": ["adam", "sgd"]}},
            "metric": "val_loss",
            "trial": {"cluster": {"id": "c"}, "nodeCount": 1, "customToolkitSettings": {"commandLine": command}},
            "maxTrials": 4,
        }))
        .unwrap()
    }

    #[test]
    fn placeholders_take_the_trial_values_and_the_job_gets_them_as_variables() {
        let s = spec("python t.py --lr ${{search_space.lr}} --opt ${{ search_space.opt }}");
        s.validate("sw").unwrap();
        let params = json!({"lr": 0.01, "opt": "sgd"}).as_object().unwrap().clone();
        let job = s.trial_job("sw", 3, &params, "/p.json");
        let line = job.spec.custom_toolkit_settings.as_ref().unwrap().command_line.clone().unwrap();
        assert_eq!(line, "python t.py --lr 0.01 --opt sgd");
        let env: Vec<(String, String)> =
            job.spec.environment_variables.iter().map(|v| (v.name.clone(), v.value.clone())).collect();
        assert!(env.contains(&("BATCHAI_PARAM_LR".into(), "0.01".into())), "{env:?}");
        assert!(env.contains(&("AZUREML_SWEEP_opt".into(), "sgd".into())), "{env:?}");
        assert!(env.contains(&("BATCHAI_TRIAL_PARAMS".into(), "/p.json".into())), "{env:?}");
        assert_eq!(job.params_json, r#"{"lr":0.01,"opt":"sgd"}"#);
    }

    #[test]
    fn placeholders_reach_into_conditional_and_tied_values() {
        let mut s = spec(
            "python t.py --opt ${{search_space.optimizer.name}} --lr ${{search_space.optimizer.lr}} --m=${{search_space.optimizer.momentum}} --bs ${{search_space.g.bs}}",
        );
        s.search_space = json!({
            "optimizer": {"type": "conditional", "options": {
                "adam": {"lr": {"type": "uniform", "low": 1e-4, "high": 0.1}},
                "sgd": {"lr": {"type": "uniform", "low": 1e-3, "high": 1.0}, "momentum": {"type": "uniform", "low": 0, "high": 1}},
            }},
            "g": {"type": "tied", "values": [{"bs": 16}, {"bs": 32}]},
        });
        s.validate("sw").unwrap();
        let line = |params: Value| {
            let job = s.trial_job("sw", 0, params.as_object().unwrap(), "/p.json");
            job.spec.custom_toolkit_settings.as_ref().unwrap().command_line.clone().unwrap()
        };
        assert_eq!(
            line(json!({"optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9}, "g": {"bs": 32}})),
            "python t.py --opt sgd --lr 0.5 --m=0.9 --bs 32"
        );
        // Adam has no momentum: the placeholder is empty, not left in the command line.
        assert_eq!(
            line(json!({"optimizer": {"name": "adam", "lr": 0.01}, "g": {"bs": 16}})),
            "python t.py --opt adam --lr 0.01 --m= --bs 16"
        );
        s.trial.custom_toolkit_settings.as_mut().unwrap().command_line =
            Some("t ${{search_space.optimizer.beta1}}".into());
        let err = s.validate("sw").unwrap_err();
        assert!(err.rule.contains("'optimizer.beta1'"), "{err}");
    }

    #[test]
    fn bad_sweeps_fail_with_the_field() {
        let err = spec("python t.py --lr ${{search_space.learning_rate}}").validate("sw").unwrap_err();
        assert!(err.field.starts_with("trial.customToolkitSettings"), "{err}");
        assert!(err.rule.contains("'learning_rate'") && err.rule.contains("lr, opt"), "{err}");
        let err = spec("python t.py --data ${{inputs.data}}").validate("sw").unwrap_err();
        assert!(err.rule.contains("${{inputs.data}}"), "{err}");
        let err = spec("python t.py --lr ${{search_space.lr").validate("sw").unwrap_err();
        assert!(err.rule.contains("without its closing"), "{err}");
        let mut s = spec("python t.py");
        s.max_trials = 0;
        assert_eq!(s.validate("sw").unwrap_err().field, "maxTrials");
        let mut s = spec("python t.py");
        s.metric_regex = Some("loss=(\\S+)".into());
        assert_eq!(s.validate("sw").unwrap_err().field, "metricRegex");
        let mut s = spec("python t.py");
        s.search_space = json!({"lr": {"type": "uniform", "low": 2, "high": 1}});
        assert!(s.validate("sw").unwrap_err().field.starts_with("searchSpace.lr"));
        let long = "x".repeat(57);
        assert_eq!(spec("python t.py").validate(&long).unwrap_err().field, "name");
        let mut s = spec("python t.py");
        s.sampler = Sampler::grid();
        assert!(s.validate("sw").unwrap_err().field.starts_with("sampler"), "a grid over a continuous lr");
    }
}
