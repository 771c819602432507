//! Pure parsers for the sizes (`"20GiB"`) and durations (`"5m"`) written in the configuration.

use std::time::Duration;

/// Binary and decimal size units, matched case-insensitively; `""` and `B` are bytes.
const SIZE_UNITS: [(&str, u64); 10] = [
    ("", 1),
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses a byte size: `"1024"` (bytes), `"512MiB"`, `"20 GiB"`, `"1.5GiB"`, `"10GB"`.
///
/// `KiB/MiB/GiB/TiB` are powers of 1024, `KB/MB/GB/TB` powers of 1000 (as `bytesize` and
/// disk vendors use them). Fractions are rounded down to a whole byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let Some(&(_, factor)) = SIZE_UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "{text:?} is not a size: use a number of bytes or a unit among KiB, MiB, GiB, TiB, KB, MB, GB, TB"
        ));
    };
    let too_big = || format!("{text:?} is too large");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(format!(
            "{text:?} is not a size: the number is missing or malformed"
        ));
    }
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(factor).ok_or_else(too_big);
    }
    let fraction: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: the number is malformed"))?;
    let bytes = fraction * factor as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(too_big());
    }
    // Truncation is the documented rounding; the range was checked just above.
    Ok(bytes as u64)
}

/// Parses a duration with a unit: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1h 30m"`, `"0s"`.
///
/// A bare number is refused because it is ambiguous (seconds? milliseconds?).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("{text:?} needs a unit, e.g. \"{text}s\""));
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("{text:?} is not a duration ({err}); e.g. \"30s\", \"5m\", \"1h\""))
}

/// Seconds given as a number (Pulp's remote timeouts: `30`, `0.5`) as a `Duration`.
pub fn seconds(value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{value} is not a valid number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let rows: [(&str, Option<u64>); 20] = [
            ("1024", Some(1024)),
            ("0", Some(0)),
            ("20GiB", Some(20 << 30)),
            ("512MiB", Some(512 << 20)),
            ("1KiB", Some(1024)),
            ("2TiB", Some(2 << 40)),
            ("20 GiB", Some(20 << 30)),
            ("20gib", Some(20 << 30)),
            ("10GB", Some(10_000_000_000)),
            ("1KB", Some(1000)),
            ("3MB", Some(3_000_000)),
            ("100B", Some(100)),
            ("1.5GiB", Some(3 << 29)),
            ("GiB", None),
            ("-1GiB", None),
            ("1.GiB", None),
            ("20 gigs", None),
            ("1.2.3MiB", None),
            ("99999999999TiB", None),
            ("", None),
        ];
        for (text, want) in rows {
            assert_eq!(parse_size(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn durations() {
        let rows: [(&str, Option<Duration>); 10] = [
            ("5m", Some(Duration::from_secs(300))),
            ("30s", Some(Duration::from_secs(30))),
            ("1h", Some(Duration::from_secs(3600))),
            ("500ms", Some(Duration::from_millis(500))),
            ("1h 30m", Some(Duration::from_secs(5400))),
            ("0s", Some(Duration::ZERO)),
            ("30", None),
            ("", None),
            ("5 parsecs", None),
            ("-5s", None),
        ];
        for (text, want) in rows {
            assert_eq!(parse_duration(text).ok(), want, "{text:?}");
        }
        assert!(parse_duration("30").unwrap_err().contains("\"30s\""));
        assert_eq!(seconds(0.5).ok(), Some(Duration::from_millis(500)));
        assert!(seconds(-1.0).is_err());
        assert!(seconds(f64::NAN).is_err());
    }
}
