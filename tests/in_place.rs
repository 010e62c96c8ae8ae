//! A service deployed in place on the live Swarm: Swarm updates its one service, shipctl gates
//! it, and a release that never gets healthy is put back to the previous spec by Swarm.

use crate::support::cli_env::stderr;
use crate::support::live::LiveProject;

/// The version label and the running tasks of the one service, as Swarm has them.
fn one_service(p: &LiveProject) -> (String, String) {
    let name = format!("{}_web", p.project());
    let out = std::process::Command::new("docker")
        .args([
            "service",
            "inspect",
            &name,
            "--format",
            "{{index .Spec.TaskTemplate.ContainerSpec.Labels \"io.shipctl.version\"}} {{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ])
        .output()
        .expect("docker service inspect");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (version, image) = text.split_once(' ').unwrap_or_default();
    (version.to_string(), image.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_update_in_place_goes_back_to_the_previous_spec() {
    let Some(p) = LiveProject::new("services:\n  web:\n    strategy: in-place\n").await else {
        return;
    };
    let out = p.run(&["plan", "--version", "1.0.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    p.deploy("1.0.0");
    assert_eq!(one_service(&p).0, "1.0.0");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.0.0"));

    p.deploy("1.1.0");
    assert_eq!(one_service(&p).0, "1.1.0");

    let out = p.run(&["deploy", "--version", "unhealthy", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (version, image) = one_service(&p);
    assert_eq!(version, "1.1.0", "Swarm's previous spec is back");
    assert!(image.starts_with("shipctl-test-app:1.1.0"), "{image}");
    assert_eq!(p.key("active-version").await.as_deref(), Some("1.1.0"));
    // And it serves: the next status settles.
    let out = p.run(&["status", "--wait", "--timeout", "60s"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
