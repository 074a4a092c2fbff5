//! Waking the agent after a commit, without ever turning committed work into an error.
//!
//! The agent may be gone (killed, crashed, stopped) or restarting when a client has just
//! committed: a killed agent can still accept a connection for a moment and then close it, or
//! hold its lock while the kernel tears it down. So a failed wake-up is retried, connecting to or
//! starting a new agent each time, for a bounded time (`BATCHAI_WAKE_PATIENCE_SECONDS`, 10 s by
//! default). If the agent still cannot be reached, the change stays committed and the call
//! succeeds: the next agent to start reads the store and acts on it. The failure is logged
//! (`tracing`, which the Python module forwards to Python's `logging`).

use std::time::{Duration, Instant};

use crate::engine::agent::client::{self, Launcher};
use crate::engine::paths::Layout;

/// What became of a wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woken {
    /// The agent has acted on the store.
    Acted,
    /// The agent could not be reached; the change is committed and waits for the next agent.
    Deferred(String),
}

fn patience() -> Duration {
    std::env::var("BATCHAI_WAKE_PATIENCE_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(10))
}

/// Wake the agent of `layout` (starting it if needed) after a commit; see the module docs.
pub fn after_commit(layout: &Layout, launcher: &Launcher) -> Woken {
    let deadline = Instant::now() + patience();
    let mut pause = Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let failure = match client::connect_or_start_within(layout, launcher, left)
            .and_then(|connection| client::wake_on(connection))
        {
            Ok(()) => return Woken::Acted,
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            tracing::warn!(
                workspace = %layout.root.display(),
                "the change is saved, but the workspace agent could not be woken ({failure}); \
                 the next agent to start will act on it"
            );
            return Woken::Deferred(failure);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
