//! Converts the kernel's CLOCK_MONOTONIC timestamps into wall-clock time for output, and formats
//! wall-clock times as RFC 3339 (the one time format the monitor prints).
//!
//! The offset between the two clocks is taken once at start; NTP slews after that are ignored,
//! which is fine for event timestamps (latencies are computed from monotonic values only).
use std::{cell::Cell, fmt};

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

/// `2023-11-14T22:13:21.123456789Z` is 30 bytes; years past 9999 do not format.
pub(crate) const RFC3339_MAX: usize = 30;
/// `2023-11-14T22:13:21`: the part that changes once a second.
const SECOND_PREFIX: usize = 19;

thread_local! {
    /// The last second formatted on this thread and its text. Calls come in bursts within
    /// the same second, and working out the calendar date was most of the formatting's cost.
    static LAST_SECOND: Cell<Option<(i64, [u8; SECOND_PREFIX])>> = const { Cell::new(None) };
}

impl WallTime {
    /// Writes the RFC 3339 text into `buf` and returns it; `None` when out of range. The date
    /// and time of day come from the `time` crate (once per second, see `LAST_SECOND`); the
    /// fraction follows its rules: none for a whole second, else the nanoseconds without
    /// trailing zeros.
    pub(crate) fn write<'b>(&self, buf: &'b mut [u8; RFC3339_MAX]) -> Option<&'b str> {
        let secs = i64::try_from(self.unix_ns.div_euclid(1_000_000_000)).ok()?;
        // In 0..1e9: fits.
        let nanos = self.unix_ns.rem_euclid(1_000_000_000) as u32;
        let prefix = match LAST_SECOND.get() {
            Some((cached, prefix)) if cached == secs => prefix,
            _ => {
                let prefix = second_prefix(secs)?;
                LAST_SECOND.set(Some((secs, prefix)));
                prefix
            }
        };
        buf[..SECOND_PREFIX].copy_from_slice(&prefix);
        let mut len = SECOND_PREFIX;
        if nanos != 0 {
            buf[len] = b'.';
            let mut digits = [0u8; 9];
            let mut rest = nanos;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            let kept = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            buf[len + 1..len + 1 + kept].copy_from_slice(&digits[..kept]);
            len += 1 + kept;
        }
        buf[len] = b'Z';
        // Digits and separators only (the prefix is the `time` crate's RFC 3339 text).
        crate::short_text::ascii(&buf[..=len])
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix second, as the `time` crate's RFC 3339 prints it.
fn second_prefix(secs: i64) -> Option<[u8; SECOND_PREFIX]> {
    let time = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let mut buf = [0u8; RFC3339_MAX];
    let mut out = &mut buf[..];
    time.format_into(&mut out, &Rfc3339).ok()?;
    // A whole second prints as the prefix and `Z`.
    (RFC3339_MAX - out.len() == SECOND_PREFIX + 1).then_some(())?;
    buf[..SECOND_PREFIX].try_into().ok()
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; RFC3339_MAX];
        f.write_str(self.write(&mut buf).unwrap_or_default())
    }
}

impl serde::Serialize for WallTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_MAX];
        serializer.serialize_str(self.write(&mut buf).unwrap_or_default())
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

    /// What the `time` crate prints for the whole instant: the cached path must agree.
    fn reference(unix_ns: i128) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(unix_ns)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    #[test]
    fn cached_seconds_print_as_the_time_crate_does() {
        let base: i128 = 1_700_000_000_000_000_000;
        let mut instants = vec![
            0,
            1,
            -1,
            -1_000_000_000,
            -1_500_000_000,
            base,
            base + 1,
            base + 10,
            base + 999_999_999,
            base + 1_000_000_000,
            base + 120_000_000,
            base + 100_000_000,
            base + 123_456_000,
            253_402_300_799_999_999_999, // 9999-12-31T23:59:59.999999999
            253_402_300_800_000_000_000, // year 10000: does not format
            -62_167_219_200_000_000_000, // 0000-01-01
            -62_167_219_200_000_000_001, // before year 0
            i128::MAX,
            i128::MIN,
        ];
        // Back and forth across seconds, so that the cache is hit and replaced.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            instants.push(base + i128::from(x % 5_000_000_000));
        }
        for unix_ns in instants {
            let time = WallTime { unix_ns };
            assert_eq!(time.to_string(), reference(unix_ns), "{unix_ns}");
            assert_eq!(
                serde_json::to_string(&time).unwrap(),
                format!("\"{}\"", reference(unix_ns)),
                "{unix_ns}"
            );
        }
    }
}
