//! The toolkit planner: from a job and its placement to the processes that run it.
//!
//! Building blocks so far: when a command line can skip bash ([`simple_command`]) and how ranks
//! are spread over nodes ([`distribution`]).

pub mod distribution;
pub mod simple_command;
