//! The engine's one error type.
//!
//! Every failure a user can cause or observe is a variant here, so the binding layer can map each
//! to a Python exception in one exhaustive `match` (see `src/bindings/errors.rs`). Messages are
//! complete sentences: they are shown as they are by the CLI and by Python's traceback.

use std::fmt;

/// The resource kinds of the Batch AI model, used in error messages and store keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Workspace,
    Cluster,
    FileServer,
    Experiment,
    Job,
    /// A compute node of a cluster (node exec names one).
    Node,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "workspace",
            ResourceKind::Cluster => "cluster",
            ResourceKind::FileServer => "file server",
            ResourceKind::Experiment => "experiment",
            ResourceKind::Job => "job",
            ResourceKind::Node => "node",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bad input: which field, the value given (rendered as JSON, secrets redacted) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub value: String,
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, value: impl Into<String>, rule: impl Into<String>) -> Self {
        ValidationError { field: field.into(), value: value.into(), rule: rule.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {} {}", self.field, self.value, self.rule)
    }
}

impl std::error::Error for ValidationError {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} '{name}' was not found")]
    NotFound { kind: ResourceKind, name: String },

    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: ResourceKind, name: String },

    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// The request is well formed but the resource's current state forbids it
    /// (for example deleting a workspace while it is being deleted).
    #[error("{0}")]
    Conflict(String),

    /// The workspace's SQLite file could not be read or written.
    #[error("workspace store {path}: {message}")]
    Store { path: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The per-workspace agent could not be started or reached.
    #[error("agent: {0}")]
    Agent(String),

    /// A wait ran out of time; the operation itself may still complete.
    #[error("{0}")]
    Timeout(String),
}

impl Error {
    pub fn not_found(kind: ResourceKind, name: impl Into<String>) -> Self {
        Error::NotFound { kind, name: name.into() }
    }

    pub fn already_exists(kind: ResourceKind, name: impl Into<String>) -> Self {
        Error::AlreadyExists { kind, name: name.into() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub fn invalid(field: impl Into<String>, value: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Validation(ValidationError::new(field, value, rule))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
