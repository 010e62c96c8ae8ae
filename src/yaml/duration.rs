//! Go-style durations (`1m30s`, `500ms`, `2h`), as Compose and Swarm users write them.

use std::time::Duration;

/// Why a duration did not parse; shown to the user with the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("missing unit in duration `{0}` (use ns, us, ms, s, m or h, e.g. `30s`)")]
    MissingUnit(String),
    #[error("unknown unit `{unit}` in duration `{text}` (use ns, us, ms, s, m or h)")]
    UnknownUnit { unit: String, text: String },
    #[error("invalid duration `{0}` (write it like `1m30s`, `500ms` or `2h`)")]
    Invalid(String),
    #[error("duration `{0}` is too large")]
    Overflow(String),
}

/// Parses a duration exactly as Go's `time.ParseDuration` does, refusing negative values.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Invalid(text.to_string()));
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::Invalid(text.to_string()));
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "" => return Err(DurationError::MissingUnit(text.to_string())),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_string(),
                    text: text.to_string(),
                });
            }
        };
        let overflow = || DurationError::Overflow(text.to_string());
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<u128>().map_err(|_| overflow())?
        };
        let mut value = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
        // Fractions beyond nanosecond precision are dropped, as Go does.
        let mut scale = unit_nanos;
        for digit in frac_part.bytes().take(30) {
            scale /= 10;
            value += u128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(value).ok_or_else(overflow)?;
        if total_nanos > u128::from(u64::MAX) {
            return Err(overflow());
        }
    }
    if negative && total_nanos > 0 {
        return Err(DurationError::Negative);
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000)
        .map_err(|_| DurationError::Overflow(text.to_string()))?;
    let nanos = u32::try_from(total_nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration compactly in the same syntax (`1m30s`, `500ms`, `2h`, `0s`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let total_secs = d.as_secs();
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let sub = d.subsec_nanos();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || sub > 0 {
        if sub == 0 {
            out.push_str(&format!("{s}s"));
        } else {
            let frac = format!("{sub:09}");
            out.push_str(&format!("{s}.{}s", frac.trim_end_matches('0')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("300us"), Ok(Duration::from_micros(300)));
        assert_eq!(parse("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h1m1s1ms1us1ns"), Ok(Duration::new(3661, 1_001_001)));
    }

    #[test]
    fn rejects_what_go_rejects() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(matches!(parse("10"), Err(DurationError::MissingUnit(_))));
        assert!(matches!(
            parse("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse("-5s"), Err(DurationError::Negative)));
        assert!(matches!(parse("."), Err(DurationError::Invalid(_))));
        assert!(matches!(parse("s"), Err(DurationError::Invalid(_))));
        assert!(matches!(
            parse("99999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        for (d, text) in [
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(7200), "2h"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1.5s"),
        ] {
            assert_eq!(format(d), text);
            assert_eq!(parse(text), Ok(d));
        }
    }
}

/// Serde support for a required duration written as a Go-style string.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An optional duration in serde, as text (`1m30s`) or null.
pub mod serde_opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::yaml::duration::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| crate::yaml::duration::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
