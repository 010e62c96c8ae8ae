//! What the routing keys may hold. Values are read back from a store that anyone with write
//! access can change, and end up in router configs: only what shipctl itself writes passes.

use super::traffic;

/// The active zone must be one of the service's zones.
pub fn check_zone(value: &str, zones: &[&str]) -> Result<(), String> {
    if zones.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a zone (the zones are {})",
            traffic::shown(value),
            zones.join(", ")
        ))
    }
}

/// Docker's tag grammar: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.`
/// or `-`.
pub fn is_image_tag(value: &str) -> bool {
    let mut chars = value.chars();
    value.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A version is an image tag.
pub fn check_version(value: &str) -> Result<(), String> {
    if is_image_tag(value) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a version (an image tag)",
            traffic::shown(value)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_refused() {
        let zones = ["blue", "green"];
        assert!(check_zone("green", &zones).is_ok());
        assert!(check_zone("green\n}\nserver evil 6.6.6.6:80;", &zones).is_err());
        assert!(check_version("1.4.2").is_ok());
        assert!(check_version("v2_rc-1").is_ok());
        assert!(check_version("1.4.2\n# evil").is_err());
        assert!(check_version("").is_err());
        assert!(check_version("-x").is_err());
    }
}
