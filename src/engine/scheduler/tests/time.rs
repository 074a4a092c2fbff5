//! Injected time: microseconds, saturating.

use std::time::Duration;

use crate::engine::scheduler::Time;

#[test]
fn seconds_are_microseconds_and_spans_add() {
    assert_eq!(Time::from_secs(2).micros(), 2_000_000);
    assert_eq!(Time::from_secs(2).after(Duration::from_millis(1_500)), Time(3_500_000));
}

#[test]
fn far_future_saturates_instead_of_wrapping_into_the_past() {
    let late = Time(i64::MAX - 10);
    assert_eq!(late.after(Duration::from_secs(365 * 24 * 3600)), Time(i64::MAX));
    assert_eq!(Time(0).after(Duration::MAX), Time(i64::MAX));
}

#[test]
fn converts_to_and_from_store_timestamps() {
    let at = Time::from_secs(1_700_000_000);
    assert_eq!(Time::from_timestamp(at.to_timestamp().unwrap()), at);
}
