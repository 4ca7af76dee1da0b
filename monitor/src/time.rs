//! Converts the kernel's CLOCK_MONOTONIC timestamps into wall-clock time for output, and formats
//! wall-clock times as RFC 3339 (the one time format the monitor prints).
//!
//! The offset between the two clocks is taken once at start; NTP slews after that are ignored,
//! which is fine for event timestamps (latencies are computed from monotonic values only).
use std::fmt;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    /// Wall-clock nanoseconds since the epoch minus monotonic nanoseconds, at start.
    offset_ns: i128,
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl WallClock {
    pub fn now() -> Self {
        Self {
            offset_ns: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC),
        }
    }

    /// Wall-clock minus monotonic nanoseconds (saved in recordings).
    pub fn offset_ns(&self) -> i128 {
        self.offset_ns
    }

    /// A fixed offset (tests, replays).
    pub fn with_offset_ns(offset_ns: i128) -> Self {
        Self { offset_ns }
    }

    /// Monotonic nanoseconds now (same clock as `bpf_ktime_get_ns`).
    pub fn monotonic_now_ns() -> u64 {
        u64::try_from(clock_ns(libc::CLOCK_MONOTONIC)).unwrap_or(0)
    }

    /// Unix seconds of a monotonic timestamp.
    pub fn unix_secs(&self, monotonic_ns: u64) -> u64 {
        u64::try_from((i128::from(monotonic_ns) + self.offset_ns) / 1_000_000_000).unwrap_or(0)
    }

    /// Unix milliseconds of a monotonic timestamp.
    pub fn unix_ms(&self, monotonic_ns: u64) -> u64 {
        u64::try_from((i128::from(monotonic_ns) + self.offset_ns) / 1_000_000).unwrap_or(0)
    }

    /// RFC 3339 UTC time of a monotonic timestamp.
    pub fn format(&self, monotonic_ns: u64) -> String {
        self.at(monotonic_ns).to_string()
    }

    /// The wall-clock instant of a monotonic timestamp, formatted only when printed.
    pub fn at(&self, monotonic_ns: u64) -> WallTime {
        WallTime {
            unix_ns: i128::from(monotonic_ns) + self.offset_ns,
        }
    }
}

/// A wall-clock instant that prints as RFC 3339 UTC (nothing when out of range). Formatted on a
/// stack buffer when serialised: every API call carries one, and a `String` per call was one
/// of the allocations that dominated the pipeline's cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime {
    unix_ns: i128,
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(time) = OffsetDateTime::from_unix_timestamp_nanos(self.unix_ns) else {
            return Ok(());
        };
        // `2023-11-14T22:13:21.123456789Z` is 30 bytes; years past 9999 do not format.
        const CAPACITY: usize = 40;
        let mut buf = [0u8; CAPACITY];
        let mut out = &mut buf[..];
        if time.format_into(&mut out, &Rfc3339).is_err() {
            return Ok(());
        }
        // What the cursor moved past (the count `format_into` returns leaves out the `Z`).
        let len = CAPACITY - out.len();
        f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for WallTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Milliseconds since the Unix epoch now (wall clock; 0 if the clock is before 1970).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 3339 UTC time of a Unix timestamp in milliseconds (empty if out of range).
pub fn format_unix_ms(unix_ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// RFC 3339 UTC time of a wall-clock instant, with nanoseconds (empty if out of range).
pub fn format_system_time(time: std::time::SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_milliseconds_as_rfc3339() {
        assert_eq!(
            format_unix_ms(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_unix_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_ms(u64::MAX), "");
    }

    #[test]
    fn formats_monotonic_time_as_rfc3339() {
        let clock = WallClock::with_offset_ns(1_700_000_000_000_000_000);
        assert_eq!(clock.format(1_500_000_000), "2023-11-14T22:13:21.5Z");
        assert_eq!(
            serde_json::to_string(&clock.at(1_500_000_001)).unwrap(),
            "\"2023-11-14T22:13:21.500000001Z\""
        );
        assert_eq!(WallClock::with_offset_ns(i128::MAX / 2).format(0), "");
    }
}
