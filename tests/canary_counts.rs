//! `--new N --old M` as the classic canary script has them: task counts, on the classic
//! canary compose file (one service per zone, no replica count), on the live Swarm.

use crate::support::cli_env::stderr;
use crate::support::live::LiveProject;
use crate::support::stack::SwarmKeys;

const SPEC: &str = "kv:\n  url: swarm://\ndefaults:\n  health:\n    timeout: 1m\n    min_healthy: 1s\n  drain: 1s\n  on_failure: rollback\n";

/// Desired and running tasks of each zone service of `workstation-8`.
fn zone_tasks(p: &LiveProject, zone: &str) -> (u64, u64) {
    let name = format!("{}_workstation-8-{zone}", p.project());
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Name}} {{.Replicas}}",
        ])
        .output()
        .expect("docker service ls");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .unwrap_or_default();
    let replicas = line.split_whitespace().nth(1).unwrap_or("0/0");
    let (running, desired) = replicas.split_once('/').unwrap_or(("0", "0"));
    (desired.parse().unwrap_or(0), running.parse().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_classic_canary_command_runs_one_new_and_three_old_tasks() {
    let Some(p) = LiveProject::new("").await else {
        return;
    };
    let _keys = SwarmKeys {
        docker_host: std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        prefix: format!("{}/", p.project()),
    };
    p.env
        .copy_fixture("classic-canary/docker-compose.yml", "docker-compose.yml");
    p.env.write("shipctl.yaml", SPEC);
    std::fs::remove_file(p.env.dir().join("compose.yaml")).expect("only the classic file");

    // Blue serves 1.0.0 with one task: the compose file has no replica count.
    p.deploy("1.0.0");
    assert_eq!(zone_tasks(&p, "blue"), (1, 1));

    let out = p.run(&[
        "deploy",
        "--strategy",
        "canary",
        "--new",
        "1",
        "--old",
        "3",
        "--version",
        "1.1.0",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(zone_tasks(&p, "green"), (1, 1), "1 new task");
    assert_eq!(
        zone_tasks(&p, "blue"),
        (3, 3),
        "3 old tasks: blue scaled up"
    );

    // Promote: the full count is what the old zone ran, 3.
    let out = p.run(&["promote", "--yes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(zone_tasks(&p, "green"), (3, 3));
    assert_eq!(zone_tasks(&p, "blue").0, 0);

    // Both counts 0, or no new task, is bad input: exit 2, nothing changed.
    let out = p.run(&[
        "deploy",
        "--strategy",
        "canary",
        "--new",
        "0",
        "--old",
        "3",
        "--version",
        "1.0.0",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(zone_tasks(&p, "green").0, 3);
}
