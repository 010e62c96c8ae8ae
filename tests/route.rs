//! `shipctl route` with the real binary: against the live Swarm and its swarm:// KV (a real
//! deploy, a real nginx when installed), and against the Consul double for the failure cases.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::consul_double::{ConsulDouble, Options};
use crate::support::docker::{require_docker, wait_until};
use crate::support::router::{
    Background, LiveRouterProject, ProjectOptions, deploy, free_port, host_targets, http_get,
    lines, read, route_once, shipctl, start_nginx,
};

/// route.rs's project: a 1s healthcheck timeout and no drain time.
fn write_project(dir: &std::path::Path, service: &str, wait_for_router: bool) {
    crate::support::router::write_project(
        dir,
        service,
        &ProjectOptions {
            health_timeout: "1s",
            drain_time: "0s",
            wait_for_router,
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_follows_keys_and_tasks_on_the_live_swarm() {
    let Some(live) = LiveRouterProject::new("r").await else {
        return;
    };
    let (cluster, project, service, kv, dir) = (
        &live.cluster,
        &live.project,
        &live.service,
        &live.kv,
        live.dir(),
    );
    // No router runs yet: the first deploy does not wait for one.
    write_project(dir, service, false);
    deploy(dir, project, "1.0.0");
    let blue = format!("{project}_{service}-blue");
    let green = format!("{project}_{service}-green");
    let blue_targets = host_targets(cluster, &blue).await;
    assert_eq!(blue_targets.len(), 2, "two running blue tasks");

    // --once: the active zone's task addresses with their weights.
    let config = dir.join("router.conf");
    let listen = format!("127.0.0.1:{}", free_port());
    route_once(dir, project, &listen, &config);
    let text = read(&config);
    for target in &blue_targets {
        assert!(
            text.contains(&format!("server {target} weight=50 max_fails=0;")),
            "{target} missing in:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("listen {listen} default_server;")),
        "{text}"
    );

    // A real nginx on the rendered file, when installed.
    let nginx = start_nginx("route test", dir, &config);
    if nginx.is_some() {
        let answer = wait_until("nginx answers", Duration::from_secs(10), || async {
            http_get(&listen, "/version")
        })
        .await;
        assert!(answer.contains("1.0.0"), "{answer}");
    }
    let reloads = dir.join("reloads.log");
    let reload = match &nginx {
        Some((_, pid)) => format!(
            "echo x >> {} && kill -HUP $(cat {})",
            reloads.display(),
            pid.display()
        ),
        None => format!("echo x >> {}", reloads.display()),
    };

    // The loop: the file from --once is current, so no reload at start.
    let check = if nginx.is_some() {
        "nginx -t -q -c {file}"
    } else {
        "test -s {file}"
    };
    let mut route = shipctl(dir, project);
    route
        .args(["route", "--listen", &listen, "--check", check])
        .arg("--config")
        .arg(&config)
        .args(["--reload", &reload]);
    let mut bg = Background::start(route, dir.join("route.log"));
    wait_until("the first report", Duration::from_secs(15), || async {
        let log = bg.log();
        if log.contains("reported") {
            Ok(())
        } else {
            Err(log)
        }
    })
    .await;
    assert_eq!(lines(&reloads), 0, "no reload for an unchanged file");

    // A deploy that waits for the router: it flips to green only once the router serves it.
    write_project(dir, service, true);
    deploy(dir, project, "1.1.0");
    let green_targets = host_targets(cluster, &green).await;
    let text = read(&config);
    for target in &green_targets {
        assert!(
            text.contains(&format!("server {target} weight=50 ")),
            "{text}"
        );
    }
    let reloaded = lines(&reloads);
    assert!(reloaded >= 1, "reloaded after the flip:\n{}", bg.log());
    if nginx.is_some() {
        wait_until("nginx serves 1.1.0", Duration::from_secs(10), || async {
            match http_get(&listen, "/version") {
                Ok(body) if body.contains("1.1.0") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    // A key write reaches the file within 500 ms.
    let before = read(&config);
    let written = Instant::now();
    kv.put(&format!("{service}-traffic"), "blue=40,green=60")
        .await
        .expect("write traffic");
    let deadline = written + Duration::from_secs(5);
    while read(&config) == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = written.elapsed();
    let text = read(&config);
    assert!(
        text.contains("weight=30"),
        "re-rendered:\n{text}\n{}",
        bg.log()
    );
    assert!(
        took < Duration::from_millis(500),
        "re-rendered {took:?} after the key write"
    );
    wait_until("one more reload", Duration::from_secs(5), || async {
        match lines(&reloads) {
            n if n == reloaded + 1 => Ok(()),
            n => Err(format!("{n} reloads")),
        }
    })
    .await;
    // The same value again changes nothing: no further reload.
    kv.put(&format!("{service}-traffic"), "blue=40,green=60")
        .await
        .expect("write traffic");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        lines(&reloads),
        reloaded + 1,
        "no reload without a change:\n{}",
        bg.log()
    );

    assert!(bg.interrupt(), "Ctrl-C exits 0:\n{}", bg.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_config_is_never_installed_and_a_lost_store_keeps_the_last_good_one() {
    let Some(_cluster) = require_docker().await else {
        return;
    };
    let consul = ConsulDouble::start(Options::default()).await;
    let kv = shipctl::kv::connect(&consul.url(), &HashMap::new())
        .await
        .expect("consul kv");
    kv.put("web-active-zone", "blue").await.expect("put");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    // No zone of this project exists: the template shows the keys only.
    let project = format!("st-none-{}", std::process::id());
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: shipctl-test-app:1.0.0\n",
    )
    .expect("compose");
    std::fs::write(dir.join("shipctl.yaml"), "kv:\n  layout: classic\n").expect("spec");
    std::fs::write(
        dir.join("keys.j2"),
        "{% for s in services %}{{ s.name }} {{ s.active_zone }}{{ \" \" ~ s.active_version if s.active_version else \"\" }}\n{% endfor %}",
    )
    .expect("template");
    let config = dir.join("out.conf");
    let route = |extra: &[&str]| {
        let mut cmd = shipctl(dir, &project);
        cmd.args(["--kv", &consul.url(), "route", "--template", "keys.j2"])
            .arg("--config")
            .arg(&config)
            .args(extra);
        cmd
    };

    // --once with a failing check: non-zero, nothing installed, the error said.
    let out = route(&["--once", "--check", "false"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check `false` refused"), "{stderr}");
    assert!(!config.exists(), "a refused config is not installed");

    // A template error names the file and line.
    std::fs::write(dir.join("bad.j2"), "ok\n{{ services[0].nope }}\n").expect("bad");
    let out = shipctl(dir, &project)
        .args([
            "--kv",
            &consul.url(),
            "route",
            "--once",
            "--template",
            "bad.j2",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.j2:2"), "{stderr}");

    // The loop: a value the check refuses leaves the good file in place.
    let mut bg = Background::start(
        route(&["--check", "! grep -q broken {file}"]),
        dir.join("route.log"),
    );
    wait_until("the first render", Duration::from_secs(15), || async {
        if read(&config) == "web blue\n" {
            Ok(())
        } else {
            Err(bg.log())
        }
    })
    .await;
    kv.put("web-active-version", "broken").await.expect("put");
    wait_until("the refusal", Duration::from_secs(5), || async {
        let log = bg.log();
        if log.contains("refused the new config") {
            Ok(())
        } else {
            Err(log)
        }
    })
    .await;
    assert_eq!(read(&config), "web blue\n");
    kv.delete("web-active-version").await.expect("delete");

    // A value shipctl never writes (a zone followed by a directive) never reaches the file.
    kv.put("web-active-zone", "green\n}\nserver evil 6.6.6.6:80;")
        .await
        .expect("put");
    wait_until(
        "the hostile value refused",
        Duration::from_secs(5),
        || async {
            let log = bg.log();
            if log.contains("refused the keys of web") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert_eq!(read(&config), "web blue\n");
    assert!(!read(&config).contains("evil"));
    kv.put("web-active-zone", "green").await.expect("put");
    wait_until("green", Duration::from_secs(5), || async {
        match read(&config).as_str() {
            "web green\n" => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;

    // The store goes away: the error is reported, the file stays, the router keeps running.
    consul.stop();
    wait_until("the store error", Duration::from_secs(10), || async {
        let log = bg.log();
        if log.contains("keeping the last good config") {
            Ok(())
        } else {
            Err(log)
        }
    })
    .await;
    assert_eq!(read(&config), "web green\n");
    assert!(matches!(bg.child.try_wait(), Ok(None)), "still running");
    assert!(bg.interrupt(), "Ctrl-C exits 0:\n{}", bg.log());
    assert_eq!(read(&config), "web green\n");
}
