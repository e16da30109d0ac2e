//! The only home of wall-clock time: the server reads "now" through [`Clock`] so tests and
//! replays can pin it, and this module formats the timestamps the API shows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, shared by the whole server.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    fixed: Option<SystemTime>,
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock frozen at `unix_secs` (tests, reproducible snapshots).
    pub fn fixed(unix_secs: u64) -> Self {
        Self {
            fixed: Some(UNIX_EPOCH + Duration::from_secs(unix_secs)),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now_unix(&self) -> u64 {
        #[allow(clippy::disallowed_methods)] // this is the one sanctioned call site
        let now = self.fixed.unwrap_or_else(SystemTime::now);
        now.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// Civil (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ECS's `CreationTime` format, minute precision UTC: `2023-09-04T08:33Z`.
pub fn format_minutes(unix_secs: u64) -> String {
    MinuteStamp::new(unix_secs).as_str().to_string()
}

/// [`format_minutes`] on the stack: DescribeKeyPairs formats one per listed key pair, and
/// `format!` per item showed in its profile.
#[derive(Clone, Copy)]
pub struct MinuteStamp {
    buf: [u8; 32],
    len: u8,
}

impl MinuteStamp {
    pub fn new(unix_secs: u64) -> Self {
        let secs = unix_secs as i64;
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400);
        let (h, mi) = (rem / 3600, rem % 3600 / 60);
        let mut buf = [0u8; 32];
        let len = if (0..=9999).contains(&y) {
            let two = |v: i64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
            let [y1, y2] = two(y / 100);
            let [y3, y4] = two(y % 100);
            let [m1, m2] = two(i64::from(mo));
            let [d1, d2] = two(i64::from(d));
            let [h1, h2] = two(h);
            let [n1, n2] = two(mi);
            let text = [
                y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'T', h1, h2, b':', n1, n2, b'Z',
            ];
            buf[..text.len()].copy_from_slice(&text);
            text.len()
        } else {
            // Years outside four digits (only from an absurd clock): the general path.
            use std::io::Write as _;
            let mut rest = &mut buf[..];
            write!(rest, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}Z")
                .expect("at most 26 bytes: a 13-character year and 13 more");
            32 - rest.len()
        };
        Self {
            buf,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).expect("ASCII digits and marks")
    }
}

impl serde::Serialize for MinuteStamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Parses the signature timestamp format `yyyy-MM-ddTHH:mm:ssZ` into Unix seconds (negative
/// before 1970: a well-formed stamp that is merely old is expired, not malformed).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > month_len[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86_400 + i64::from(h * 3600 + mi * 60 + se))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minutes_like_ecs() {
        assert_eq!(format_minutes(0), "1970-01-01T00:00Z");
        assert_eq!(format_minutes(1_693_816_380), "2023-09-04T08:33Z");
        assert_eq!(format_minutes(951_782_400), "2000-02-29T00:00Z");
    }

    #[test]
    fn the_stack_stamp_matches_the_general_format_at_every_edge() {
        let general = |unix: u64| {
            let secs = unix as i64;
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let rem = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}Z",
                rem / 3600,
                rem % 3600 / 60
            )
        };
        let year_10000 = 253_402_300_800; // 10000-01-01T00:00Z
        for unix in [
            0,
            59,
            60,
            86_399,
            1_693_816_380,
            year_10000 - 60,
            year_10000,
            u64::MAX / 2,
            u64::MAX / 2 + 1, // negative as i64: years before 0
            u64::MAX,
        ] {
            assert_eq!(MinuteStamp::new(unix).as_str(), general(unix), "{unix}");
        }
        assert_eq!(
            MinuteStamp::new(year_10000 - 60).as_str(),
            "9999-12-31T23:59Z"
        );
        assert_eq!(MinuteStamp::new(year_10000).as_str(), "10000-01-01T00:00Z");
    }

    #[test]
    fn parses_signature_timestamps() {
        assert_eq!(parse_timestamp("2023-09-04T08:33:00Z"), Some(1_693_816_380));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(
            parse_timestamp("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200)
        );
        for bad in [
            "",
            "2023-09-04T08:33Z",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-09-04 08:33:00Z",
            "2023-09-04T24:00:00Z",
            "+023-09-04T08:33:00Z",
            "2023-09-04T08:33:00+",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("2024-02-29T12:00:00Z"), Some(1_709_208_000));
    }

    #[test]
    fn fixed_clock_is_fixed() {
        assert_eq!(Clock::fixed(42).now_unix(), 42);
    }
}
