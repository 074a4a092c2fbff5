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
    /// A sweep of an experiment.
    Sweep,
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
            ResourceKind::Sweep => "sweep",
        }
    }
}

impl ResourceKind {
    /// The plural, for lists of what exists ("clusters: local, cpu").
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Workspace => "workspaces",
            ResourceKind::Cluster => "clusters",
            ResourceKind::FileServer => "file servers",
            ResourceKind::Experiment => "experiments",
            ResourceKind::Job => "jobs",
            ResourceKind::Node => "nodes",
            ResourceKind::Sweep => "sweeps",
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
        // A field that was left out has no value to show: "cluster is required", not
        // "invalid cluster: null is required".
        match self.rule.strip_prefix("is required") {
            _ if self.value != "null" => write!(f, "invalid {}: {} {}", self.field, self.value, self.rule),
            Some(rest) => write!(f, "{} is required{rest}", self.field),
            None => write!(f, "invalid {}: no value given ({})", self.field, self.rule),
        }
    }
}

impl std::error::Error for ValidationError {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `parent` is the experiment of a job or sweep; `detail`, once the workspace has added
    /// where it looked and what exists there (see `api::Workspace`), is the whole message.
    #[error("{}", .detail.clone().unwrap_or_else(|| format!("{kind} '{name}' was not found")))]
    NotFound { kind: ResourceKind, name: String, parent: Option<String>, detail: Option<String> },

    /// `parent` and `detail` as for `NotFound`.
    #[error("{}", .detail.clone().unwrap_or_else(|| format!("{kind} '{name}' already exists")))]
    AlreadyExists { kind: ResourceKind, name: String, parent: Option<String>, detail: Option<String> },

    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// The request is well formed but the resource's current state forbids it
    /// (for example deleting a workspace while it is being deleted).
    #[error("{0}")]
    Conflict(String),

    /// No workspace at this folder (no `workspace.db` in it). `named` lists the named workspaces
    /// when the folder is where the workspace called `name` would be (under the home).
    #[error("{}", workspace_not_found(.name, .path, .named.as_deref()))]
    WorkspaceNotFound { name: String, path: String, named: Option<Vec<String>> },

    /// The workspace's SQLite file could not be read or written, or holds a value that cannot
    /// be read back (a damaged row).
    #[error("workspace store {path}: {message}")]
    Store { path: String, message: String },

    /// A file system call on `path` failed: `action` says what was being done ("creating the
    /// workspace folder").
    #[error("{action} {path}: {}", describe_io(.source))]
    File {
        action: String,
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// Any other I/O failure (sockets, the agent's runtime).
    #[error("{context}: {}", describe_io(.source))]
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
        Error::NotFound { kind, name: name.into(), parent: None, detail: None }
    }

    /// A job or sweep missing from `experiment`.
    pub fn not_found_in(kind: ResourceKind, name: impl Into<String>, experiment: impl Into<String>) -> Self {
        Error::NotFound { kind, name: name.into(), parent: Some(experiment.into()), detail: None }
    }

    pub fn already_exists(kind: ResourceKind, name: impl Into<String>) -> Self {
        Error::AlreadyExists { kind, name: name.into(), parent: None, detail: None }
    }

    /// A job or sweep of that name in `experiment` already.
    pub fn already_exists_in(kind: ResourceKind, name: impl Into<String>, experiment: impl Into<String>) -> Self {
        Error::AlreadyExists { kind, name: name.into(), parent: Some(experiment.into()), detail: None }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// A failed file system call: `action` is what was being done, `path` what it was done to.
    pub fn file(action: impl Into<String>, path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::File { action: action.into(), path: path.as_ref().display().to_string(), source }
    }

    /// The file system was full: a store write that could not happen (nothing of it was
    /// written) or a file call that failed with ENOSPC.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::Store { message, .. } => message.starts_with(crate::engine::store::NO_SPACE),
            Error::File { source, .. } | Error::Io { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    }

    pub fn invalid(field: impl Into<String>, value: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::Validation(ValidationError::new(field, value, rule))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn workspace_not_found(name: &str, path: &str, named: Option<&[String]>) -> String {
    match named {
        Some(named) => {
            let folder = std::path::Path::new(path).parent().map(|p| p.display().to_string()).unwrap_or_default();
            let listing = if named.is_empty() {
                "there are no workspaces yet".to_string()
            } else {
                format!("workspaces: {}", named.join(", "))
            };
            format!(
                "no workspace '{name}' in {folder}; {listing}; create it with batchai.Workspace.create(\"{name}\") \
                 or `batchai workspace create -n {name}`"
            )
        }
        None => format!(
            "workspace '{name}' was not found: {path} holds no workspace; create it with \
             batchai.Workspace.create(\"{name}\", path=\"{path}\") or `batchai workspace create -n {name} --path {path}`"
        ),
    }
}

/// An I/O error as a sentence: the system's words without Rust's `(os error N)` suffix, and what
/// to check for the failures a user can fix.
pub fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    };
    let hint = match e.kind() {
        ErrorKind::PermissionDenied => " (check the owner and mode of the path and its folders)",
        ErrorKind::NotADirectory => " (a part of the path is a file, not a folder)",
        ErrorKind::IsADirectory => " (the path is a folder, a file was expected)",
        ErrorKind::ReadOnlyFilesystem => " (the path is on a read-only file system)",
        ErrorKind::StorageFull => " (free some space on that file system)",
        _ => "",
    };
    format!("{text}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_read_as_sentences() {
        let e =
            Error::file("creating the workspace folder", "/tmp/f/ws", std::io::Error::from_raw_os_error(libc::ENOTDIR));
        assert_eq!(
            e.to_string(),
            "creating the workspace folder /tmp/f/ws: Not a directory (a part of the path is a file, not a folder)"
        );
        let e = Error::io("agent socket", std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "agent socket: Permission denied (check the owner and mode of the path and its folders)"
        );
        let e = Error::io("agent socket", std::io::Error::other("gone"));
        assert_eq!(e.to_string(), "agent socket: gone");
    }

    #[test]
    fn a_missing_workspace_says_where_and_how_to_create_it() {
        let e = Error::WorkspaceNotFound { name: "ws".into(), path: "/data/ws".into(), named: None };
        assert_eq!(
            e.to_string(),
            "workspace 'ws' was not found: /data/ws holds no workspace; create it with \
             batchai.Workspace.create(\"ws\", path=\"/data/ws\") or `batchai workspace create -n ws --path /data/ws`"
        );
        let e = Error::WorkspaceNotFound {
            name: "gpu".into(),
            path: "/h/workspaces/gpu".into(),
            named: Some(vec!["default".into(), "ws".into()]),
        };
        assert_eq!(
            e.to_string(),
            "no workspace 'gpu' in /h/workspaces; workspaces: default, ws; create it with \
             batchai.Workspace.create(\"gpu\") or `batchai workspace create -n gpu`"
        );
    }

    #[test]
    fn a_missing_field_is_required_not_null() {
        let e = ValidationError::new("cluster", "null", "is required");
        assert_eq!(e.to_string(), "cluster is required");
        let e = ValidationError::new("high", "null", "must be a number");
        assert_eq!(e.to_string(), "invalid high: no value given (must be a number)");
        let e = ValidationError::new("nodeCount", "0", "must be between 1 and 100");
        assert_eq!(e.to_string(), "invalid nodeCount: 0 must be between 1 and 100");
    }
}
