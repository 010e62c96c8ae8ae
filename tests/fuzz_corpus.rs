//! The fuzz corpora as a regression test on stable: every file of `fuzz/corpus/TARGET/` (the
//! seeds) and `fuzz/artifacts/TARGET/` (inputs that once crashed a target) goes through the
//! same entry function as the fuzz target (`shipctl::fuzzing`), which must not panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use shipctl::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// Runs `target` on every file of `fuzz/<kind>/<target>/`; returns how many it ran and the
/// files that panicked, with the panic message.
fn replay(kind: &str, target: &str, entry: fn(&[u8])) -> (usize, Vec<String>) {
    let inputs = files(&fuzz_dir().join(kind).join(target));
    let mut failures = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).expect("readable corpus file");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| entry(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    (inputs.len(), failures)
}

#[test]
fn no_corpus_input_makes_a_target_panic() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let (seeds, failed) = replay("corpus", target, *entry);
        failures.extend(failed);
        // A target whose seeds went missing would pass here without testing anything.
        assert!(seeds > 0, "fuzz/corpus/{target}/ has no seed");
    }
    assert!(
        failures.is_empty(),
        "inputs of fuzz/corpus/ that panic:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn no_crash_reproducer_makes_its_target_panic_again() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        failures.extend(replay("artifacts", target, *entry).1);
    }
    assert!(
        failures.is_empty(),
        "crash reproducers of fuzz/artifacts/ that still panic:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn every_fuzz_target_has_an_entry_and_a_seed_corpus() {
    // fuzz/fuzz_targets/NAME.rs, fuzz/corpus/NAME/ and shipctl::fuzzing::TARGETS name the same
    // targets, so none is left out of this test or of bench/fuzz.
    let sources: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(
        sources, names,
        "fuzz/fuzz_targets/ against shipctl::fuzzing::TARGETS"
    );
    let script = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/fuzz"))
        .expect("bench/fuzz");
    for name in &names {
        assert!(
            fuzz_dir().join("corpus").join(name).is_dir(),
            "fuzz/corpus/{name}/ is missing"
        );
        assert!(
            script.contains(name.as_str()),
            "bench/fuzz does not know `{name}`"
        );
    }
}
