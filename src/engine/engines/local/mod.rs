//! The local engine: nodes are slices of this machine.
//!
//! - `engine`: the [`crate::engine::engines::Engine`] implementation the agent drives.
//! - `machine`: what the machine offers (CPU ids, GPU ids, memory) and how nodes share it.
//! - `workdirs`: the folders of nodes and jobs, and mount volumes made visible without root.
//! - `real_paths`: where a recorded output path really is (through the volume links).
//! - `launch`: a planned process as a request to the supervisor (environment, program lookup).
//! - `node_env`: the variables a node gives every process on it (jobs, setup tasks, node exec).
//! - `exec`: node exec, a command run on a node as a local process.
//! - `unmount`: unmounting what unmanaged file systems mounted under a node that goes.

pub mod engine;
pub mod exec;
pub mod launch;
pub mod machine;
pub mod node_env;
pub mod real_paths;
pub mod unmount;
pub mod workdirs;

pub use engine::{LocalEngine, Outbox, event_from_supervisor};
