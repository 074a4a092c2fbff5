//! When the agent scrubs erased secret values from the database files.
//!
//! Theory of operation. A job's secrets are erased in the commit that ends it, but their bytes
//! stay in the WAL until a `TRUNCATE` checkpoint (see `store::secrets`), which syncs the
//! database file. Paying for one after every turn that ended a job with secrets made 1,000
//! one-line jobs over six times slower, so the agent scrubs at most once per
//! [`SCRUB_INTERVAL`]: at once when it has not scrubbed for that long (a lone job's secrets are
//! gone before its waiter hears that it ended), else when the interval is over (a burst of
//! jobs pays one checkpoint per interval). A checkpoint that a reader of an older snapshot
//! kept from finishing is tried again an interval later. The next scrub is one of the core's
//! deadlines, so it happens even when nothing else does.

use std::time::{Duration, Instant};

use super::Core;

/// The longest an erased secret stays in the database files while the agent runs (readers of
/// an old snapshot aside).
pub(super) const SCRUB_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(super) struct Scrub {
    last: Option<Instant>,
    /// When the owed scrub is due; `None` when nothing is owed.
    pub due: Option<Instant>,
}

impl Core {
    /// Scrub now if a scrub is owed and the last one is an interval old, else say when.
    pub(super) fn scrub_secrets(&mut self) {
        if !self.store.scrub_owed() {
            self.scrub.due = None;
            return;
        }
        let now = self.now.instant;
        let earliest = self.scrub.last.map_or(now, |last| last + SCRUB_INTERVAL);
        if earliest > now {
            self.scrub.due = Some(earliest);
            return;
        }
        self.scrub.last = Some(now);
        self.scrub.due = if self.store.scrub() { None } else { Some(now + SCRUB_INTERVAL) };
    }
}
