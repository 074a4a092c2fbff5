//! Why a job could not be planned: a spec the model should have refused, or a request that does
//! not match the job (a bug in the caller).

use crate::engine::error::{Error, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The spec names no toolkit, or several.
    #[error(transparent)]
    Spec(#[from] ValidationError),

    #[error("the placement has {given} nodes but the job asks for {wanted}")]
    Placement { given: usize, wanted: u32 },

    #[error("the job needs {needed} TCP ports but {given} were reserved")]
    Ports { needed: usize, given: usize },

    /// `kind` is `input` or `output`.
    #[error("no resolved path was given for {kind} directory '{id}'")]
    MissingDirectory { kind: &'static str, id: String },

    #[error("secret '{0}' has no value")]
    MissingSecret(String),

    /// An MPI toolkit with several ranks, and no `mpirun` on the node: starting the ranks as
    /// independent singletons would run a different program (every rank of size 1).
    #[error(
        "{settings} runs its {ranks} ranks under mpirun, and no mpirun was found on the PATH of the \
         batchai agent: install Open MPI (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`; \
         Python programs also need `pip install mpi4py`), then restart the agent (`batchai agent stop`; \
         the next client starts it again with its own PATH), or set processCount to 1"
    )]
    MpirunNotFound { settings: &'static str, ranks: u32 },
}

impl PlanError {
    /// The `ErrorInfo` code of a job that fails because it could not be planned.
    pub fn code(&self) -> &'static str {
        match self {
            PlanError::MpirunNotFound { .. } => "MpirunNotFound",
            _ => "LaunchPlanFailed",
        }
    }
}

impl From<PlanError> for Error {
    fn from(err: PlanError) -> Self {
        match err {
            PlanError::Spec(v) => Error::Validation(v),
            PlanError::MissingSecret(name) => {
                Error::invalid("secrets", format!("{name:?}"), "has no value: a secret needs a value to run the job")
            }
            other => Error::Conflict(other.to_string()),
        }
    }
}
