//! The per-workspace agent: the one process that owns execution state.
//!
//! Theory of operation:
//! - Clients (scripts, notebooks, the CLI) never run jobs. Through `engine::api` they commit
//!   what they want to the store (a job row, new scale settings, a terminate request, a deleted
//!   row, a workspace marked for deletion) and wake the agent over its socket, starting it first
//!   when none answers (`client`). Jobs therefore outlive the process that submitted them.
//! - The agent compares what the store asks for with what exists and closes the gap
//!   (`core`): it allocates and removes nodes, places queued jobs with the pure scheduler,
//!   plans their processes with the pure toolkit planner, realizes nodes and runs on this
//!   machine through the local engine (`engines::local`: folders, mounts, launch requests), and
//!   asks the supervisor (`launcher`) to start and stop processes.
//! - Every state change is committed before it is acted on or reported: a job is `running` in
//!   the store before its first process starts, and `succeeded` before a waiting client hears.
//! - It is event driven: client requests, process exits from the supervisor and timer deadlines
//!   (wall-clock limits, kill escalation). Between events it sleeps in `epoll`; an idle agent
//!   uses no CPU.
//! - Crash safety comes from the supervisor, which outlives the agent and holds exit statuses
//!   until they are committed. A restarted agent reconnects, learns what runs and what ended,
//!   and carries on; nothing runs twice, nothing stays `running` forever.
//! - Exactly one agent per workspace: an exclusive lock (`lock`), taken before the socket is
//!   bound.

pub mod client;
mod core;
pub mod daemon;
pub mod lock;
pub mod protocol;
mod server;
pub mod watch;
