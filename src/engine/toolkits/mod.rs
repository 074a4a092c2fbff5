//! The toolkit planner: from a job and its placement to the processes that run it.
//!
//! Building blocks so far: when a command line can skip bash ([`simple_command`]), how ranks
//! are spread over nodes ([`distribution`]), what the caller provides ([`request`]) and the
//! environment every process gets ([`env`]).

pub mod distribution;
pub mod env;
mod error;
pub mod request;
pub mod simple_command;

pub use env::Env;
pub use error::PlanError;
pub use request::{DirectoryPath, JobIdentity, JobPaths, LaunchRequest, Mpirun, NodePaths, PlacedNode, SecretValue};
