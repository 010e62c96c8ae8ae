//! `shipctl init`: the spec it writes for every compose file in `fixtures/` (snapshots), that
//! each loads and plans with the strategies init chose, that an existing spec is kept, and a
//! live deploy with what it wrote.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::cli_env::{CliEnv, fixtures, stderr, stdout};
use crate::support::docker::{Cleanup, require_docker};
use crate::support::stack::{SwarmKeys, swarm_kv, values};

/// Each fixture project: a name for its snapshot and its `-f` files (relative to `fixtures/`).
fn projects() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = [
        ("demo", vec!["demo/compose.yaml"]),
        ("stack", vec!["stack/compose.yaml"]),
        ("classic-canary", vec!["classic-canary/docker-compose.yml"]),
        ("full", vec!["compose/full/compose.yaml"]),
        ("include", vec!["compose/include/compose.yaml"]),
        (
            "merge",
            vec![
                "compose/merge/compose.yaml",
                "compose/merge/overrides/prod.yaml",
            ],
        ),
        (
            "discover",
            vec![
                "compose/discover/compose.yaml",
                "compose/discover/compose.override.yaml",
            ],
        ),
    ]
    .into_iter()
    .map(|(n, f)| (n.to_string(), f.into_iter().map(String::from).collect()))
    .collect();
    let mut real: Vec<PathBuf> = std::fs::read_dir(fixtures().join("compose/real-world"))
        .expect("read fixtures/compose/real-world")
        .flatten()
        .map(|e| e.path())
        .collect();
    real.sort();
    for path in real {
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        out.push((
            name,
            vec![format!(
                "compose/real-world/{}",
                path.file_name().expect("file").to_string_lossy()
            )],
        ));
    }
    out
}

/// `shipctl ARGS -f FILES...` run in `fixtures/`, so the written spec names the files as the
/// user typed them.
fn in_fixtures(env: &CliEnv, files: &[String], args: &[&str]) -> Output {
    let mut cmd = env.shipctl();
    cmd.current_dir(fixtures()).args(args);
    for f in files {
        cmd.args(["-f", f]);
    }
    cmd.output().expect("run shipctl")
}

/// `  web: blue-green` lines of init's report.
fn chosen(out: &Output) -> Vec<(String, String)> {
    stdout(out)
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(": "))
        .map(|(s, k)| (s.to_string(), k.to_string()))
        .collect()
}

#[test]
fn init_writes_a_spec_for_every_fixture_that_loads_and_plans_as_it_says() {
    let env = CliEnv::new();
    // The planner's own choice, with every default: an empty spec.
    let empty = env.write("empty.yaml", "{}\n").display().to_string();
    for (name, files) in projects() {
        let spec = env.dir().join(format!("{name}.yaml"));
        let spec_arg = spec.display().to_string();
        let out = in_fixtures(&env, &files, &["init", "--spec", &spec_arg]);
        assert!(out.status.success(), "init {name}: {}", stderr(&out));
        let text = std::fs::read_to_string(&spec).expect("the spec was written");
        insta::assert_snapshot!(format!("init_{name}"), text);

        // The spec loads as every command loads it.
        if let Err(e) = shipctl::spec::load(Some(&spec)) {
            panic!("the spec init wrote for {name} does not load: {e:?}\n{text}");
        }
        // The planner deploys each service the way init said, for the same reasons.
        let plan = in_fixtures(
            &env,
            &files,
            &[
                "plan",
                "--spec",
                &spec_arg,
                "--assume-state",
                "none",
                "--output",
                "json",
            ],
        );
        assert!(
            plan.status.success(),
            "plan {name} with its spec: {}",
            stderr(&plan)
        );
        let plan: Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
        // The plan lists services with their dependencies first; init in the file's order.
        let mut planned: Vec<(String, String)> = plan["services"]
            .as_array()
            .expect("services")
            .iter()
            .map(|s| {
                (
                    s["service"].as_str().unwrap_or_default().to_string(),
                    s["strategy"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        planned.sort();
        let mut written = chosen(&out);
        written.sort();
        assert_eq!(planned, written, "{name}: init and the plan disagree");
        // And the planner left to itself (no spec) picks the same.
        let bare = in_fixtures(
            &env,
            &files,
            &[
                "plan",
                "--spec",
                &empty,
                "--assume-state",
                "none",
                "--output",
                "json",
            ],
        );
        if bare.status.success() {
            let bare: Value = serde_json::from_slice(&bare.stdout).expect("plan JSON");
            for s in bare["services"].as_array().expect("services") {
                let service = s["service"].as_str().unwrap_or_default();
                let written = written.iter().find(|(name, _)| name == service);
                assert_eq!(
                    s["strategy"].as_str(),
                    written.map(|(_, strategy)| strategy.as_str()),
                    "{name}: {service}"
                );
            }
        }
    }
}

#[test]
fn init_refuses_what_the_planner_refuses() {
    let env = CliEnv::new();
    // Fixtures of compose loading that declare `web` and `web-blue`: no plan, no spec.
    for files in [
        ["compose/env/compose.yaml"],
        ["compose/extends/compose.yaml"],
    ] {
        let files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        let spec = env.dir().join("refused.yaml");
        let out = in_fixtures(
            &env,
            &files,
            &["init", "--spec", &spec.display().to_string()],
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("declares both `web` and `web-blue`"),
            "{}",
            stderr(&out)
        );
        assert!(!spec.exists(), "a refused init wrote a file");
    }
}

#[test]
fn init_keeps_an_existing_spec_unless_forced() {
    let env = CliEnv::new();
    env.copy_fixture("demo/compose.yaml", "compose.yaml");
    let first = env.run(&["init"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with("wrote shipctl.yaml\n  web: blue-green\n"),
        "{}",
        stdout(&first)
    );
    let path = env.dir().join("shipctl.yaml");
    std::fs::write(&path, "# mine\n").expect("edit the spec");

    let again = env.run(&["init"]);
    assert_eq!(again.status.code(), Some(2));
    let err = stderr(&again);
    assert!(
        err.contains("shipctl.yaml already exists; nothing was written"),
        "{err}"
    );
    assert!(err.contains("shipctl init --force"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "# mine\n");

    // Also the spec other commands would read beside the compose file, not only ./shipctl.yaml.
    let nested = CliEnv::new();
    nested.copy_fixture("demo/compose.yaml", "deploy/compose.yaml");
    nested.write("deploy/shipctl.yml", "# theirs\n");
    let out = nested.run(&["init", "-f", "deploy/compose.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("deploy/shipctl.yml already exists"),
        "{}",
        stderr(&out)
    );

    let forced = env.run(&["init", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with("# shipctl.yaml: how shipctl deploys"),
        "{text}"
    );
    assert!(shipctl::spec::load(Some(Path::new(&path))).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spec_written_by_init_deploys_and_switches() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let project = cleanup.project.clone();
    let _keys = SwarmKeys {
        docker_host: cluster.host().to_string(),
        prefix: format!("{project}/"),
    };
    let mut env = CliEnv::new();
    env.with_docker_host();
    env.copy_fixture("demo/compose.yaml", "compose.yaml");
    let init = env.run(&["init", "-p", &project]);
    assert!(init.status.success(), "{}", stderr(&init));
    let spec = std::fs::read_to_string(env.dir().join("shipctl.yaml")).expect("spec");
    assert!(spec.contains(&format!("project: {project}")), "{spec}");

    // No -p from here on: the spec names the project.
    for version in ["1.0.0", "1.1.0"] {
        let out = env.run(&["deploy", "--version", version, "--yes"]);
        assert!(out.status.success(), "deploy {version}: {}", stderr(&out));
    }
    let kv = swarm_kv(&cluster);
    let keys: Vec<String> = ["active-zone", "active-version", "traffic"]
        .iter()
        .map(|k| format!("{project}/web-{k}"))
        .collect();
    let now = values(&kv, &keys).await;
    assert_eq!(now.get(&keys[0]).map(String::as_str), Some("green"));
    assert_eq!(now.get(&keys[1]).map(String::as_str), Some("1.1.0"));
    assert_eq!(
        now.get(&keys[2]).map(String::as_str),
        Some("blue=0,green=100")
    );
}

/// Removes the stack's named volume once its services are gone (dropped after them).
struct Volume(String);

impl Drop for Volume {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let out = std::process::Command::new("docker")
                .args(["volume", "rm", "-f", &self.0])
                .output();
            if out.is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

/// The README's whole-stack quick start, command by command, on the real stack images.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_stack_quick_start_runs_as_the_readme_says() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let cleanup = Cleanup::new(&cluster);
    let project = cleanup.project.clone();
    let _volume = Volume(format!("{project}_data"));
    let _keys = SwarmKeys {
        docker_host: cluster.host().to_string(),
        prefix: format!("{project}/"),
    };
    let mut env = CliEnv::new();
    env.with_docker_host();
    env.copy_fixture("stack/compose.yaml", "compose.yaml");
    let run = |args: &[&str]| {
        let out = env.run(args);
        assert!(out.status.success(), "shipctl {args:?}: {}", stderr(&out));
        out
    };

    let init = run(&["init", "-p", &project]);
    assert_eq!(
        chosen(&init),
        [
            ("redis", "in-place"),
            ("api", "blue-green"),
            ("client", "blue-green")
        ]
        .map(|(s, k)| (s.to_string(), k.to_string()))
    );
    let plan = run(&["plan"]);
    assert!(
        stdout(&plan).contains("redis: in-place"),
        "{}",
        stdout(&plan)
    );
    // The images as written (a --version would retag Redis too), then a new API.
    run(&["deploy", "--yes"]);
    let canary = run(&[
        "deploy",
        "api",
        "--version",
        "2.0.0",
        "--strategy",
        "canary",
        "--new",
        "1",
        "--yes",
    ]);
    assert!(
        stdout(&canary).contains("api: canary green@2.0.0 is running"),
        "{}",
        stdout(&canary)
    );
    run(&["promote", "api"]);
    let history = run(&["history", "api", "--markdown"]);
    let md = stdout(&history);
    assert!(
        md.contains("| promote | canary | blue@1.0.0 | green@2.0.0 | success |"),
        "{md}"
    );
    assert!(md.contains("```mermaid\ngantt\n"), "{md}");

    let kv = swarm_kv(&cluster);
    let keys: Vec<String> = [
        "api-active-version",
        "redis-active-version",
        "client-active-version",
    ]
    .iter()
    .map(|k| format!("{project}/{k}"))
    .collect();
    let now = values(&kv, &keys).await;
    assert_eq!(now.get(&keys[0]).map(String::as_str), Some("2.0.0"));
    assert_eq!(now.get(&keys[1]).map(String::as_str), Some("7.0"));
    assert_eq!(now.get(&keys[2]).map(String::as_str), Some("1.0.0"));
}
