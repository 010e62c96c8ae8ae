//! External programs the integration tests need: in CI their absence fails the test with a
//! clear message; on a developer machine the test is skipped with a notice.

/// Call when `what` is missing. Panics in CI; returns (so the caller can skip) elsewhere.
pub fn missing(test: &str, what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what} (CI must provide it: run scripts/test)");
    }
    eprintln!("SKIPPED {test}: {what}");
}

/// A name unique to this test run, for keys and prefixes.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t{}-{}-{:x}-{}",
        std::process::id(),
        tag,
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
