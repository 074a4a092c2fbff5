//! Scheduler time: an integer the caller injects, never a clock read.
//!
//! Microseconds since the Unix epoch, the unit of the store's `*_us` columns, so the agent can pass
//! what it already has. Arithmetic saturates: a 365-day wall clock added to a far-future time must
//! not wrap around into the past and make a job look finished.

use std::time::Duration;

use crate::engine::model::Timestamp;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

impl Time {
    pub const fn from_secs(seconds: i64) -> Time {
        Time(seconds.saturating_mul(1_000_000))
    }

    pub fn from_timestamp(at: Timestamp) -> Time {
        Time(at.timestamp_micros())
    }

    /// For showing a reservation time; `None` only for times chrono cannot represent.
    pub fn to_timestamp(self) -> Option<Timestamp> {
        Timestamp::from_timestamp_micros(self.0)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `self + span`, saturating at the end of time.
    pub fn after(self, span: Duration) -> Time {
        let micros = i64::try_from(span.as_micros()).unwrap_or(i64::MAX);
        Time(self.0.saturating_add(micros))
    }
}
