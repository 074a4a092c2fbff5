//! Waking the agent after a commit, without ever turning committed work into an error.
//!
//! The agent may be gone (killed, crashed, stopped) or restarting when a client has just
//! committed: a killed agent can still accept a connection for a moment and then close it, or
//! hold its lock while the kernel tears it down. So a failed wake-up is retried, connecting to or
//! starting a new agent each time, for a bounded time (`BATCHAI_WAKE_PATIENCE_SECONDS`, 1 s by
//! default). An agent that accepts the wake-up but does not answer it within that time (stopped
//! with SIGSTOP, hung, very busy) is not asked again: the request waits in its socket.
//!
//! Either way the change stays committed and the call succeeds, quickly: the agent acts on it
//! without the wake-up too. A stopped agent reads the queued request when it runs again, an
//! agent looks at the store on its own every couple of seconds (its folder check), and the next
//! agent to start (the supervisor restarts one that died; any wait starts one) reads the store
//! first. The failure is logged as a warning (`tracing`, which the Python module forwards to
//! Python's `logging`).

use std::time::{Duration, Instant};

use crate::engine::agent::client::{self, Launcher};
use crate::engine::agent::lock;
use crate::engine::paths::Layout;

/// What became of a wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Woken {
    /// The agent has acted on the store.
    Acted,
    /// The agent could not be reached, or did not answer; the change is committed and the agent
    /// acts on it on its own (see the module docs).
    Deferred(String),
}

/// The least time a running agent gets to answer, even when connecting used up the patience.
const LEAST_ANSWER: Duration = Duration::from_millis(200);
/// The time an agent this wake-up started gets to answer.
const FRESH_ANSWER: Duration = Duration::from_secs(10);

/// How long a wake-up after a commit keeps trying: `BATCHAI_WAKE_PATIENCE_SECONDS`, else 1 s.
pub(super) fn patience() -> Duration {
    std::env::var("BATCHAI_WAKE_PATIENCE_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        // At most a day: from_secs_f64 panics past Duration's range, and a wake-up that waits
        // longer than that is not one.
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(Duration::from_secs(1))
}

/// Wake the agent of `layout` (starting it if needed) after a commit, trying for `patience`;
/// see the module docs.
pub fn after_commit(layout: &Layout, launcher: &Launcher, patience: Duration) -> Woken {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // An agent started now (none held the workspace) is not stopped or hung: its first
        // answer waits for its supervisor and its first look at the store, which a loaded
        // machine can make slower than the patience.
        let starting = !lock::is_held(&layout.agent_lock());
        let failure = match client::connect_or_start_within(layout, launcher, left) {
            Ok(connection) => {
                let answer = if starting { left.max(FRESH_ANSWER) } else { left.max(LEAST_ANSWER) };
                match client::wake_on(connection, answer) {
                    Ok(true) => return Woken::Acted,
                    // It holds the workspace and has the request: asking again cannot help.
                    Ok(false) => {
                        return deferred(layout, client::not_answering(layout, "a wake-up", answer).to_string());
                    }
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return deferred(layout, failure);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn deferred(layout: &Layout, failure: String) -> Woken {
    tracing::warn!(
        workspace = %layout.root.display(),
        "the change is saved, but the workspace agent could not be woken ({failure}); the agent acts on it \
         when it runs again, or the next agent to start does"
    );
    Woken::Deferred(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_that_cannot_start_defers_the_wake_up_within_the_patience() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let broken = Launcher { program: "/bin/false".into(), args: Vec::new() };
        let started = Instant::now();
        let woken = after_commit(&layout, &broken, Duration::from_millis(300));
        let took = started.elapsed();
        match woken {
            Woken::Deferred(reason) => assert!(reason.contains("the agent failed to start"), "{reason}"),
            Woken::Acted => panic!("no agent can have acted"),
        }
        assert!(took >= Duration::from_millis(300), "gave up after {took:?}");
        assert!(took < Duration::from_secs(3), "kept trying for {took:?}");
    }
}
