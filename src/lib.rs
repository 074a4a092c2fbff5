//! batchai: Azure Batch AI's model of ML training infrastructure, rebuilt for local machines and
//! Slurm clusters.
//!
//! `engine` is the whole system without Python; `bindings` (feature `python`) is the PyO3 layer
//! that the `batchai` Python package loads as `batchai._core`.

pub mod engine;

#[cfg(feature = "python")]
mod bindings;
