//! The batchai engine: everything except the Python bindings. Builds and tests without PyO3
//! (`cargo test --no-default-features`).

pub mod error;
pub mod model;
pub mod paths;
pub mod scheduler;
pub mod store;
pub mod submitter;
pub mod sweep;
pub mod toolkits;

pub use error::{Error, ResourceKind, Result, ValidationError};
pub mod agent;
pub mod api;
pub mod engines;
pub mod launcher;
pub mod logging;
pub mod metrics;
