//! Wall-clock limits as Batch AI wrote them.
//!
//! Batch AI's JSON carried `maxWallClockTime` as an ISO-8601 duration (`P7D`, `PT1H30M`), its docs
//! and CLI showed .NET time spans (`7.00:00:00`), and Python code passes `timedelta`s (sent here as
//! seconds). All three are accepted; the canonical output is ISO-8601.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallClock(pub Duration);

impl WallClock {
    pub const DEFAULT: WallClock = WallClock(Duration::from_secs(7 * 24 * 3600));
    /// Far beyond Batch AI's 7 days (local machines run longer jobs) but still a sanity bound.
    pub const MAX: WallClock = WallClock(Duration::from_secs(365 * 24 * 3600));

    pub fn parse(text: &str) -> Result<WallClock, String> {
        let text = text.trim();
        let parsed = if text.starts_with(['P', 'p']) { parse_iso8601(text) } else { parse_timespan(text) };
        parsed.map(WallClock)
    }
}

/// The longest length batchai takes, in seconds (about 31,700 years): a longer one fits no
/// Duration or date (Duration::from_secs_f64 panics past u64::MAX seconds, on infinity too, which
/// 400 digits parse to).
pub const MAX_SECONDS: f64 = 1e12;

fn to_duration(seconds: f64) -> Result<Duration, String> {
    if seconds.is_finite() && (0.0..MAX_SECONDS).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{seconds:e} seconds is not a usable length (at most {MAX_SECONDS:e})"))
    }
}

fn parse_number(text: &str) -> Result<f64, String> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("'{text}' is not a number"));
    }
    text.parse::<f64>().map_err(|_| format!("'{text}' is not a number"))
}

fn parse_iso8601(text: &str) -> Result<Duration, String> {
    let body = &text[1..];
    let (date, time) = match body.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut seconds = 0f64;
    let mut consume = |part: &str, units: &[(char, f64)], section: &str| -> Result<(), String> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let unit = c.to_ascii_uppercase();
            match units.iter().find(|(u, _)| *u == unit) {
                Some((_, scale)) => seconds += parse_number(&number)? * scale,
                None if section == "date" && (unit == 'Y' || unit == 'M') => {
                    return Err("years and months have no fixed length; use days (D) or weeks (W)".to_string());
                }
                None => return Err(format!("'{c}' is not a unit of the {section} part")),
            }
            number.clear();
        }
        if number.is_empty() { Ok(()) } else { Err(format!("'{number}' has no unit")) }
    };
    consume(date, &[('W', 604_800.0), ('D', 86_400.0)], "date")?;
    if let Some(time) = time {
        if time.is_empty() {
            return Err("'T' must be followed by hours, minutes or seconds".to_string());
        }
        consume(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)], "time")?;
    }
    if body.is_empty() {
        return Err("'P' alone gives no duration".to_string());
    }
    to_duration(seconds)
}

/// `[d.]hh:mm:ss[.fraction]`, the .NET `TimeSpan` form.
fn parse_timespan(text: &str) -> Result<Duration, String> {
    let (days, clock) = match text.split_once(':') {
        Some((head, _)) => match head.split_once('.') {
            Some((d, _)) => (parse_number(d)?, &text[d.len() + 1..]),
            None => (0.0, text),
        },
        None => return Err("expected ISO-8601 (P7D, PT1H30M) or d.hh:mm:ss".to_string()),
    };
    let fields: Vec<&str> = clock.split(':').collect();
    let [h, m, s] = fields.as_slice() else {
        return Err("expected hh:mm:ss after the optional days".to_string());
    };
    let (h, m, s) = (parse_number(h)?, parse_number(m)?, parse_number(s)?);
    if m >= 60.0 || s >= 60.0 {
        return Err("minutes and seconds must be below 60".to_string());
    }
    to_duration(days * 86_400.0 + h * 3600.0 + m * 60.0 + s)
}

impl fmt::Display for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        let (days, rest) = (total / 86_400, total % 86_400);
        let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
        write!(f, "P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rest > 0 || nanos > 0 || days == 0 {
            write!(f, "T")?;
            if h > 0 {
                write!(f, "{h}H")?;
            }
            if m > 0 {
                write!(f, "{m}M")?;
            }
            if nanos > 0 {
                let frac = format!("{:.6}", nanos as f64 / 1e9);
                write!(f, "{s}{}S", frac.trim_start_matches('0').trim_end_matches('0'))?;
            } else if s > 0 || (h == 0 && m == 0) {
                write!(f, "{s}S")?;
            }
        }
        Ok(())
    }
}

impl Serialize for WallClock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WallClock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a duration: ISO-8601 text such as \"PT1H\", \"d.hh:mm:ss\", or a number of seconds"
        )]
        enum Form {
            Seconds(f64),
            Text(String),
        }
        match Form::deserialize(deserializer)? {
            Form::Seconds(s) if s.is_finite() && (0.0..MAX_SECONDS).contains(&s) => {
                Ok(WallClock(Duration::from_secs_f64(s)))
            }
            Form::Seconds(s) => {
                Err(serde::de::Error::custom(format!("invalid duration: {s} seconds is not a usable length")))
            }
            Form::Text(t) => {
                WallClock::parse(&t).map_err(|why| serde::de::Error::custom(format!("invalid duration: {why}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        WallClock::parse(text).unwrap().0.as_secs()
    }

    #[test]
    fn lengths_past_any_clock_are_errors_not_panics() {
        let digits = "9".repeat(400); // parses to infinity
        for text in
            [format!("P{digits}W"), format!("PT{digits}S"), format!("{digits}.00:00:00"), "P99999999999999W".into()]
        {
            let why = WallClock::parse(&text).unwrap_err();
            assert!(why.contains("is not a usable length"), "{text}: {why}");
        }
    }

    #[test]
    fn parses_iso_and_timespan_forms() {
        assert_eq!(secs("P7D"), 604_800);
        assert_eq!(secs("PT1H30M"), 5400);
        assert_eq!(secs("P1DT2H"), 93_600);
        assert_eq!(secs("P2W"), 1_209_600);
        assert_eq!(secs("7.00:00:00"), 604_800);
        assert_eq!(secs("01:30:00"), 5400);
        assert_eq!(WallClock::parse("PT0.5S").unwrap().0, Duration::from_millis(500));
    }

    #[test]
    fn rejects_ambiguous_or_malformed() {
        for bad in ["P1Y", "P1M", "PT", "P", "1 hour", "PT5X", "00:61:00", "P1H", "-PT1S"] {
            assert!(WallClock::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["P7D", "PT1H30M", "P1DT2H", "PT0S", "PT45S", "PT0.25S", "P1DT1S"] {
            let parsed = WallClock::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(WallClock::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }
}
