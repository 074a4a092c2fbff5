//! The creating process, for `engine::submitter`: the working directory and `sys.executable` of
//! the Python process that creates a job, and the warnings it is owed.

use std::ffi::CString;
use std::path::PathBuf;

use pyo3::prelude::*;

use crate::engine::model::JobSpec;
use crate::engine::submitter::Submitter;

/// What a job takes from this process; read with the GIL, applied without it.
pub struct Context {
    cwd: Option<PathBuf>,
    python: Option<String>,
}

impl Context {
    pub fn here(py: Python<'_>) -> Context {
        let python = py
            .import("sys")
            .and_then(|sys| sys.getattr("executable"))
            .and_then(|exe| exe.extract::<Option<String>>())
            .ok()
            .flatten();
        // A working directory that was deleted under the process resolves nothing.
        Context { cwd: std::env::current_dir().ok(), python }
    }

    /// Resolve the spec's paths and record the interpreter; returns the warnings.
    pub fn apply(&self, spec: &mut JobSpec) -> Vec<String> {
        match &self.cwd {
            Some(cwd) => Submitter { cwd, python: self.python.as_deref() }.apply(spec),
            None => {
                if spec.python_interpreter_path.is_none() {
                    spec.python_interpreter_path = self.python.clone().filter(|p| !p.is_empty());
                }
                Vec::new()
            }
        }
    }
}

/// Show each distinct warning once, as a `BatchAIWarning` pointing at the caller's caller (the
/// user's code that called `create_job`).
pub fn warn(py: Python<'_>, warnings: &[String]) -> PyResult<()> {
    let category = super::errors::class(py, "BatchAIWarning")?;
    let mut shown = std::collections::BTreeSet::new();
    for warning in warnings {
        if shown.insert(warning) {
            let text = CString::new(warning.replace('\0', "")).expect("NULs removed");
            PyErr::warn(py, &category, &text, 2)?;
        }
    }
    Ok(())
}
