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

#[cfg(test)]
mod tests {
    use super::*;

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
