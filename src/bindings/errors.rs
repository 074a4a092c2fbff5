//! Engine errors → Python exceptions, in one exhaustive match.
//!
//! The exception classes are defined in Python (`batchai/exceptions.py`) so they can inherit from
//! both `BatchAIError` and the matching builtin (`ValueError`, `LookupError`, `TimeoutError`,
//! `FileNotFoundError`...), which lets users catch them either way. They are looked up once and cached.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::engine::{Error, ResourceKind};

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

pub(crate) fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = EXCEPTIONS.get_or_try_init(py, || py.import("batchai.exceptions").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn raise<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    let made = class(py, name).and_then(|cls| cls.call1(args));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(lookup_failed) => lookup_failed,
    }
}

pub fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::NotFound { kind, name, .. } => raise(py, "NotFoundError", (message, kind.as_str(), name)),
        Error::AlreadyExists { kind, name, .. } => {
            let hint = already_exists_hint(kind);
            raise(py, "AlreadyExistsError", (message, kind.as_str(), name, hint))
        }
        Error::Validation(v) => raise(py, "ValidationError", (message, v.field, v.value, v.rule)),
        Error::Conflict(_) => raise(py, "ConflictError", (message,)),
        Error::WorkspaceNotFound { name, path, .. } => raise(py, "WorkspaceNotFoundError", (message, name, path)),
        Error::Store { .. } => raise(py, "StoreError", (message,)),
        Error::File { path, source, .. } => raise(py, os_class(&source), (message, source.raw_os_error(), Some(path))),
        Error::Io { source, .. } => raise(py, os_class(&source), (message, source.raw_os_error(), None::<String>)),
        Error::Agent(_) => raise(py, "AgentError", (message,)),
        Error::Timeout(_) => raise(py, "BatchAITimeoutError", (message,)),
    }
}

/// What a Python caller can do about a name that is taken.
fn already_exists_hint(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Cluster | ResourceKind::FileServer | ResourceKind::Experiment => "pass exist_ok=True to reuse it",
        ResourceKind::Sweep => "pass exist_ok=True to reuse it (with the same definition)",
        ResourceKind::Workspace => {
            "open it with batchai.Workspace.open(...), or batchai.Workspace(...) to open or create"
        }
        ResourceKind::Job => {
            "give the new job another name, or delete the old one first (experiment.job(name).delete())"
        }
        ResourceKind::Node => "choose another name",
    }
}

/// The batchai class for an I/O error: the one that also derives from the matching builtin
/// (`FileNotFoundError`, `PermissionError`, ...), else `StoreError` (an `OSError`).
fn os_class(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "BatchAIFileNotFoundError",
        ErrorKind::PermissionDenied => "BatchAIPermissionError",
        ErrorKind::AlreadyExists => "BatchAIFileExistsError",
        ErrorKind::IsADirectory => "BatchAIIsADirectoryError",
        ErrorKind::NotADirectory => "BatchAINotADirectoryError",
        _ => "StoreError",
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        Python::attach(|py| to_py(py, error))
    }
}
