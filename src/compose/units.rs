//! Compose's units: memory sizes (`512M`, `1gb`, `1.5g`, bytes) and CPU counts.

use super::convert::Ctx;
use crate::error::InputError;
use crate::yaml::{Node, Value};

/// Parses a memory size as docker's `RAMInBytes` does: a number, an optional space, an
/// optional unit `b k m g t p` (binary, case-insensitive) with optional `i` and `b`.
pub fn parse_memory(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let number_len = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(t.len(), |(i, _)| i);
    let (number, unit) = t.split_at(number_len);
    let bad =
        || format!("invalid memory size `{text}` (write it like `512M`, `1.5g` or `1073741824`)");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let mut chars = unit.chars();
    let multiplier: f64 = match chars.next() {
        None | Some('b') if unit.len() <= 1 => 1.0,
        Some('k') => 1024.0,
        Some('m') => 1024.0 * 1024.0,
        Some('g') => 1024.0 * 1024.0 * 1024.0,
        Some('t') => 1024f64.powi(4),
        Some('p') => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let suffix = chars.as_str();
    if !matches!(suffix, "" | "b" | "i" | "ib") {
        return Err(bad());
    }
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("memory size `{text}` is too large"));
    }
    Ok(bytes as i64)
}

/// A memory size field: bytes, or a string with a unit.
pub fn memory(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<i64> {
    match &node.value {
        Value::Int(i) if *i >= 0 => Some(*i),
        Value::String { text, .. } => match parse_memory(text) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                ctx.error(
                    InputError::new(format!("`{path}`: {e}"), node.span.clone())
                        .with_label("not a memory size")
                        .with_help("write a size like `512M`, `1g` or a number of bytes"),
                );
                None
            }
        },
        _ => {
            ctx.type_error(
                node,
                path,
                "a memory size",
                "write a size like `512M`, `1g` or a number of bytes",
            );
            None
        }
    }
}

/// Converts a CPU count (`0.5`, `2`) into nano-CPUs, as Swarm wants them.
pub fn nano_cpus(cpus: f64) -> Result<i64, String> {
    if !cpus.is_finite() || cpus < 0.0 {
        return Err(format!(
            "invalid CPU count `{cpus}` (write a positive number like `0.5`)"
        ));
    }
    let nanos = (cpus * 1e9).round();
    if nanos > i64::MAX as f64 {
        return Err(format!("CPU count `{cpus}` is too large"));
    }
    Ok(nanos as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("512M"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1gb"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1GiB"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1.5k"), Ok(1536));
        assert_eq!(parse_memory("100"), Ok(100));
        assert_eq!(parse_memory("100b"), Ok(100));
        assert_eq!(parse_memory("64 m"), Ok(64 * 1024 * 1024));
        for bad in ["", "M", "12x", "1.2.3g", "-1g", "1gbb", ".5g"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus(0.5), Ok(500_000_000));
        assert_eq!(nano_cpus(2.0), Ok(2_000_000_000));
        assert_eq!(nano_cpus(0.001), Ok(1_000_000));
        assert!(nano_cpus(-1.0).is_err());
    }
}
