//! The traffic split written to the `{service}-traffic` key: `blue=75,green=25`.
//!
//! Both zones are always listed, in the spec's zone order, with whole percentages that add up
//! to 100, so a router template can read it without special cases.

/// The split for `a` replicas in `zones[0]` and `b` in `zones[1]`, following the replica ratio.
pub fn split(zones: &[String; 2], a: u64, b: u64) -> String {
    let (pa, pb) = percentages(a, b);
    format!("{}={pa},{}={pb}", zones[0], zones[1])
}

/// All traffic to `zone`.
pub fn all_to(zones: &[String; 2], zone: &str) -> String {
    if zones[0] == zone {
        split(zones, 1, 0)
    } else {
        split(zones, 0, 1)
    }
}

/// Percentages following the ratio `a : b`; a zone with any replica gets at least 1% so a small
/// canary is never silently starved.
pub fn percentages(a: u64, b: u64) -> (u64, u64) {
    let total = u128::from(a) + u128::from(b);
    if total == 0 {
        return (0, 0);
    }
    let mut pa = ((u128::from(a) * 200 + total) / (total * 2)) as u64;
    if a > 0 && pa == 0 {
        pa = 1;
    }
    if b > 0 && pa == 100 {
        pa = 99;
    }
    (pa, 100 - pa)
}

/// The percentage `zone` gets in a split written by [`split`]; `None` if it is not there.
pub fn share_of(value: &str, zone: &str) -> Option<u64> {
    value.split(',').find_map(|part| {
        let (z, p) = part.split_once('=')?;
        (z.trim() == zone).then(|| p.trim().parse().ok())?
    })
}

/// Checks a traffic value read from the store: `zone=N` entries for known zones only, each
/// zone once, each a whole percentage written in digits, adding up to 100. Anything else (a
/// newline, a directive, a sign) is refused.
pub fn check(value: &str, zones: &[&str]) -> Result<(), String> {
    let mut total = 0u64;
    let mut seen: Vec<&str> = Vec::with_capacity(zones.len());
    for part in value.split(',') {
        let Some((zone, share)) = part.split_once('=') else {
            return Err(format!("`{}` is not `zone=percent`", shown(part)));
        };
        if !zones.contains(&zone) {
            return Err(format!("`{}` is not a zone", shown(zone)));
        }
        if seen.contains(&zone) {
            // Two shares for one zone: a router would take one or the other.
            return Err(format!("`{}` is given twice", shown(zone)));
        }
        seen.push(zone);
        // `parse` alone would take `+50`, which shipctl never writes.
        let number = Some(share)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        let Some(number) = number else {
            return Err(format!("`{}` is not a whole percentage", shown(share)));
        };
        // Shares too big to add up cannot add up to 100 either.
        total = total.saturating_add(number);
    }
    if total != 100 {
        return Err(format!("the shares add up to {total}, not 100"));
    }
    Ok(())
}

/// A value as a one-line, bounded excerpt for messages (it may be hostile).
pub fn shown(value: &str) -> String {
    let line: String = value
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().count() > 40 {
        format!("{line}...")
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_splits_pass() {
        let zones = ["blue", "green"];
        assert!(check("blue=75,green=25", &zones).is_ok());
        assert!(check("blue=100", &zones).is_ok());
        assert!(check("blue=75,green=26", &zones).is_err());
        assert!(check("blue=75,red=25", &zones).is_err());
        assert!(check("blue=100\n}\nserver evil 6.6.6.6:80;", &zones).is_err());
        assert!(check("blue=x,green=100", &zones).is_err());
        assert!(check("blue=0,green=0,green=100", &zones).is_err());
        assert!(check("blue=+100", &zones).is_err());
        assert!(check("blue=18446744073709551615,green=1", &zones).is_err());
        assert_eq!(shown("a\nb"), "a?b");
    }

    fn zones() -> [String; 2] {
        ["blue".into(), "green".into()]
    }

    #[test]
    fn follows_the_replica_ratio() {
        assert_eq!(split(&zones(), 3, 1), "blue=75,green=25");
        assert_eq!(split(&zones(), 2, 1), "blue=67,green=33");
        assert_eq!(split(&zones(), 0, 4), "blue=0,green=100");
        assert_eq!(split(&zones(), 999, 1), "blue=99,green=1");
        assert_eq!(split(&zones(), 1, 999), "blue=1,green=99");
        assert_eq!(all_to(&zones(), "green"), "blue=0,green=100");
        assert_eq!(share_of("blue=75,green=25", "green"), Some(25));
    }
}
