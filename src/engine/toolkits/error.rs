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
