//! The node launcher: one small process per workspace that starts, watches and stops every
//! process the workspace runs (setup tasks, job preparations, job processes).
//!
//! Theory of operation:
//! - The agent decides; the launcher (a "supervisor" process) executes. It is forked by the agent
//!   before the agent starts any thread, double-forked into its own session, and marks itself a
//!   child subreaper, so every process a job leaves behind (even one that starts its own session)
//!   is re-parented to it and reaped by it, never by init.
//! - Each process is started with `posix_spawn` in a new session (so one `killpg` reaches its
//!   whole group), with stdin from /dev/null, stdout/stderr into files, default signal handlers
//!   and an empty signal mask, and the environment marker `BATCHAI_JOB_UID` so that descendants
//!   which left the session can still be found in /proc and stopped (`tree`).
//! - The supervisor outlives the agent. It keeps the exit status of every process until the agent
//!   acknowledges it (after committing it to the store). If the agent is killed, a new agent
//!   connects and receives the processes still running and the exits it missed: nothing is lost
//!   and nothing is started twice (spawn requests are idempotent per key).
//! - It exits by itself when no agent is connected, no process runs and no exit is unacknowledged.
//!
//! The wire protocol (`protocol`) is JSON lines over a Unix socket in the abstract namespace;
//! only processes of the same user may connect (checked with SO_PEERCRED).

pub mod contain;
pub mod node;
pub mod protocol;
pub mod socket;
pub mod spawn;
pub mod supervisor;
pub mod tree;
