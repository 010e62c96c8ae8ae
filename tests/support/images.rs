//! The shipctl and router images, built offline from the binary under test with
//! docker/build-local.sh (the path the guide gives users without a registry), once per run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::nodes;
use super::prereq;

/// The Debian base that scripts/prepare makes (scripts/stack-images/build.sh).
pub const BASE: &str = "local/debian:bookworm";

/// The two images of one binary.
#[derive(Debug, Clone)]
pub struct Images {
    pub shipctl: String,
    pub router: String,
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "`{program} {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A short content hash of the binary: the tag, so that another build gets other images.
fn tag_of(binary: &Path) -> Result<String, String> {
    let out = run("sha256sum", &[&binary.display().to_string()])?;
    Ok(out.chars().take(12).collect())
}

fn build() -> Result<Images, String> {
    let binary = PathBuf::from(assert_cmd::cargo::cargo_bin!("shipctl"));
    let tag = tag_of(&binary)?;
    let images = Images {
        shipctl: format!("shipctl-under-test:{tag}"),
        router: format!("shipctl-router-under-test:{tag}"),
    };
    let present = [&images.shipctl, &images.router]
        .iter()
        .all(|i| run("docker", &["image", "inspect", "--format", "{{.Id}}", i]).is_ok());
    if present {
        return Ok(images);
    }
    // The test binary carries debug info the image does not need (a release build has none).
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let copy = dir.path().join("shipctl");
    std::fs::copy(&binary, &copy).map_err(|e| format!("copy {}: {e}", binary.display()))?;
    let _ = run("strip", &["--strip-debug", &copy.display().to_string()]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/build-local.sh");
    run(
        &script.display().to_string(),
        &[&copy.display().to_string(), &images.shipctl, &images.router],
    )?;
    // Images of earlier binaries are of no further use; those of the last hour may belong to
    // a test run of another checkout.
    for repo in ["shipctl-under-test", "shipctl-router-under-test"] {
        let Ok(list) = run(
            "docker",
            &["image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}"],
        ) else {
            continue;
        };
        for old in list.lines().filter(|i| !i.ends_with(&format!(":{tag}"))) {
            let created = run(
                "docker",
                &["image", "inspect", "--format", "{{.Created}}", old],
            )
            .ok()
            .and_then(|c| humantime::parse_rfc3339_weak(&c).ok());
            let stale = created
                .and_then(|c| c.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if stale {
                let _ = run("docker", &["image", "rm", old]);
            }
        }
    }
    Ok(images)
}

/// The images, built when missing; `None` (test skipped, failed in CI) without the Debian base.
pub async fn images(test: &str) -> Option<Images> {
    static BUILT: tokio::sync::OnceCell<Result<Images, String>> =
        tokio::sync::OnceCell::const_new();
    if run("docker", &["image", "inspect", "--format", "{{.Id}}", BASE]).is_err() {
        prereq::missing(test, &format!("no image {BASE} (scripts/prepare makes it)"));
        return None;
    }
    let built = BUILT
        .get_or_init(|| async {
            tokio::task::spawn_blocking(build)
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
        })
        .await;
    match built {
        Ok(images) => Some(images.clone()),
        Err(e) => panic!("{test}: building the images failed: {e}"),
    }
}

/// Loads `image` from the default engine into every node of the three-node Swarm that lacks
/// it (each engine has its own image store).
pub fn load_into_nodes(image: &str) -> Result<(), String> {
    let wanted = run(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", image],
    )?;
    let stale: Vec<&str> = nodes::NODES
        .into_iter()
        .filter(|n| {
            nodes::docker(n, &["image", "inspect", "--format", "{{.Id}}", image]).as_ref()
                != Ok(&wanted)
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tar = dir.path().join("image.tar").display().to_string();
    run("docker", &["save", "-o", &tar, image])?;
    for n in stale {
        nodes::docker(n, &["load", "-q", "-i", &tar])?;
    }
    Ok(())
}
