//! What a job takes from the process that creates it: its working directory and its Python.
//!
//! Theory of operation: a job's processes run in their node's job temp, under an agent that may
//! have been started from another environment long before. A script path the submitter wrote
//! relative to where it stands (`train.py`), or the packages of the virtual environment its
//! notebook runs in, would mean nothing there. So at create time, in the submitter's process:
//! - a relative `pythonScriptFilePath` or `configFilePath` that names a file in the submitter's
//!   working directory becomes absolute; one that names no file there is kept as given, with a
//!   warning (it may be a file the job's preparation fetches into the job's working directory);
//!   paths that start with `$` or `~`, or contain `$`, are the node's to expand and left alone;
//! - the job's `pythonInterpreterPath`, unless given, becomes the submitter's interpreter, which
//!   the agent uses for toolkits whose settings name none.
//!
//! The result is stored in the job's spec, so `job show` tells what will run.

use std::path::{Component, Path, PathBuf};

use crate::engine::model::JobSpec;

/// The creating process.
pub struct Submitter<'a> {
    /// Its working directory (absolute).
    pub cwd: &'a Path,
    /// Its interpreter (`sys.executable`), when it has one.
    pub python: Option<&'a str>,
}

impl Submitter<'_> {
    /// Resolve `spec`'s relative script and config paths and record the interpreter. Returns the
    /// warnings to show the submitter.
    pub fn apply(&self, spec: &mut JobSpec) -> Vec<String> {
        let mut warnings = Vec::new();
        for (field, path) in script_paths(spec) {
            if let Some(warning) = self.resolve(&field, path) {
                warnings.push(warning);
            }
        }
        if spec.python_interpreter_path.is_none() {
            spec.python_interpreter_path = self.python.filter(|p| !p.is_empty()).map(str::to_string);
        }
        warnings
    }

    fn resolve(&self, field: &str, path: &mut String) -> Option<String> {
        if path.is_empty() || path.contains('$') || path.starts_with('~') || Path::new(path.as_str()).is_absolute() {
            return None;
        }
        let candidate = clean(&self.cwd.join(path.as_str()));
        if candidate.is_file() {
            *path = candidate.display().to_string();
            return None;
        }
        Some(format!(
            "{field}: '{path}' is not a file in the working directory {cwd}; it is kept relative, so the job \
             looks for it in its own working directory (the node's job temp) when it runs. Give an absolute \
             path, or create the job from the folder that holds the file",
            cwd = self.cwd.display()
        ))
    }
}

/// The script and config path fields of the job's toolkit, with their JSON field paths.
fn script_paths(spec: &mut JobSpec) -> Vec<(String, &mut String)> {
    let mut found: Vec<(String, &mut String)> = Vec::new();
    if let Some(s) = spec.py_torch_settings.as_mut() {
        found.push(required("pyTorchSettings", &mut s.python_script_file_path));
    }
    if let Some(s) = spec.tensor_flow_settings.as_mut() {
        found.push(required("tensorFlowSettings", &mut s.python_script_file_path));
    }
    if let Some(s) = spec.caffe2_settings.as_mut() {
        found.push(required("caffe2Settings", &mut s.python_script_file_path));
    }
    if let Some(s) = spec.chainer_settings.as_mut() {
        found.push(required("chainerSettings", &mut s.python_script_file_path));
    }
    if let Some(s) = spec.horovod_settings.as_mut() {
        found.push(required("horovodSettings", &mut s.python_script_file_path));
    }
    if let Some(s) = spec.cntk_settings.as_mut() {
        found.extend(s.python_script_file_path.as_mut().map(|p| ("cntkSettings.pythonScriptFilePath".into(), p)));
        found.extend(s.config_file_path.as_mut().map(|p| ("cntkSettings.configFilePath".into(), p)));
    }
    if let Some(s) = spec.caffe_settings.as_mut() {
        found.extend(s.python_script_file_path.as_mut().map(|p| ("caffeSettings.pythonScriptFilePath".into(), p)));
        found.extend(s.config_file_path.as_mut().map(|p| ("caffeSettings.configFilePath".into(), p)));
    }
    found
}

fn required<'a>(toolkit: &str, path: &'a mut String) -> (String, &'a mut String) {
    (format!("{toolkit}.pythonScriptFilePath"), path)
}

/// `.` components dropped (`./train.py` reads better without them).
fn clean(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> JobSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn relative_scripts_resolve_against_the_submitter_and_missing_ones_warn() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.py"), "").unwrap();
        std::fs::write(dir.path().join("solver.prototxt"), "").unwrap();
        let submitter = Submitter { cwd: dir.path(), python: Some("/venv/bin/python") };
        let mut pytorch =
            spec(r#"{"cluster": "c", "nodeCount": 1, "pyTorchSettings": {"pythonScriptFilePath": "./train.py"}}"#);
        assert!(submitter.apply(&mut pytorch).is_empty());
        let settings = pytorch.py_torch_settings.as_ref().unwrap();
        assert_eq!(settings.python_script_file_path, dir.path().join("train.py").display().to_string());
        assert_eq!(pytorch.python_interpreter_path.as_deref(), Some("/venv/bin/python"));

        let mut caffe = spec(
            r#"{"cluster": "c", "nodeCount": 1, "pythonInterpreterPath": "/mine",
                "caffeSettings": {"configFilePath": "solver.prototxt", "pythonScriptFilePath": "fetched.py"}}"#,
        );
        let warnings = submitter.apply(&mut caffe);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("caffeSettings.pythonScriptFilePath: 'fetched.py' is not a file"),
            "{warnings:?}"
        );
        let settings = caffe.caffe_settings.as_ref().unwrap();
        assert_eq!(settings.python_script_file_path.as_deref(), Some("fetched.py"));
        assert_eq!(settings.config_file_path.as_deref(), Some(dir.path().join("solver.prototxt").to_str().unwrap()));
        assert_eq!(caffe.python_interpreter_path.as_deref(), Some("/mine"), "a given interpreter is kept");
    }

    #[test]
    fn node_paths_are_left_to_the_node() {
        let dir = tempfile::tempdir().unwrap();
        let submitter = Submitter { cwd: dir.path(), python: None };
        for path in ["$AZ_BATCHAI_INPUT_SCRIPTS/train.py", "~/train.py", "/abs/train.py", "in/$X/t.py"] {
            let mut job = spec(&format!(
                r#"{{"cluster": "c", "nodeCount": 1, "horovodSettings": {{"pythonScriptFilePath": "{path}"}}}}"#
            ));
            assert!(submitter.apply(&mut job).is_empty(), "{path}");
            assert_eq!(job.horovod_settings.unwrap().python_script_file_path, path);
            assert_eq!(job.python_interpreter_path, None);
        }
    }
}
