//! Argument errors exit 2 and say what is wrong; help and version exit 0.

use crate::support::cli_env::{CliEnv, stderr, stdout};

#[test]
fn clap_definitions_are_consistent() {
    use clap::CommandFactory;
    shipctl::cli::Cli::command().debug_assert();
}

#[test]
fn help_lists_every_command_and_exits_zero() {
    let env = CliEnv::new();
    let output = env.shipctl().arg("--help").output().expect("run");
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for command in [
        "plan",
        "deploy",
        "status",
        "promote",
        "abort",
        "rollback",
        "history",
        "route",
        "unlock",
        "completions",
    ] {
        assert!(
            text.contains(&format!("\n  {command} ")),
            "{command} missing from:\n{text}"
        );
    }
}

#[test]
fn unknown_flag_exits_2_with_a_hint() {
    let env = CliEnv::new();
    let output = env.run(&["deploy", "--stratgy", "canary"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--stratgy"), "{err}");
    assert!(err.contains("--strategy"), "suggests the right flag: {err}");
}

#[test]
fn invalid_strategy_value_exits_2() {
    let env = CliEnv::new();
    let output = env.run(&["plan", "--strategy", "big-bang"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("blue-green, canary, rolling"));
}

#[test]
fn saved_plan_conflicts_with_version() {
    let env = CliEnv::new();
    let output = env.run(&["deploy", "--plan", "p.json", "--version", "1.0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot be used with"));
}
