//! Caddy as the router: a real `caddy run` whose config `shipctl route --template caddy` loads
//! through the admin API, carrying a blue-green deploy under load.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::support::cli_env::{CliEnv, stderr};
use crate::support::docker::wait_until;
use crate::support::router::{
    Background, LiveRouterProject, Load, ProjectOptions, StopOnDrop, deploy, free_port, http_get,
    shipctl, start_caddy, start_load, write_project,
};

fn options(wait_for_router: bool) -> ProjectOptions {
    ProjectOptions {
        health_timeout: "2s",
        drain_time: "2s",
        wait_for_router,
    }
}

#[test]
fn caddy_flags_that_cannot_work_are_refused_before_anything_runs() {
    let env = CliEnv::new();
    env.write("compose.yaml", "services:\n  web:\n    image: nginx:1.27\n");
    let admin = ["--caddy-admin", "http://127.0.0.1:2019"];
    for (args, code, expected) in [
        (
            &["--template", "nginx", admin[0], admin[1]][..],
            2,
            "--caddy-admin loads a config into Caddy; --template nginx renders for nginx",
        ),
        (
            &["--template", "caddy", "--caddy-admin", "127.0.0.1:2019"][..],
            2,
            "--caddy-admin `127.0.0.1:2019` is not http://HOST:PORT",
        ),
        (
            &["--template", "caddy", "--stats-listen", "127.0.0.1:0"][..],
            2,
            "Caddy 2.6 logs no upstream per request",
        ),
        (
            &["--template", "caddy", "--haproxy-socket", "/run/h.sock"][..],
            2,
            "--template caddy renders for Caddy",
        ),
        (
            &[
                "--template",
                "caddy",
                admin[0],
                admin[1],
                "--reload",
                "true",
            ][..],
            2,
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["route", "--config", "caddy.json"];
        all.extend_from_slice(args);
        let output = env.run(&all);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_carries_a_blue_green_deploy_under_load_without_an_error_answer() {
    let Some(live) = LiveRouterProject::new("c").await else {
        return;
    };
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    write_project(dir, service, &options(false));
    deploy(dir, project, "1.0.0");

    // Caddy starts with its admin API only; the router loads the first real config into it.
    let config = dir.join("caddy.json");
    let admin = format!("127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    std::fs::write(&config, format!(r#"{{"admin": {{"listen": "{admin}"}}}}"#))
        .expect("write the first config");
    let Some(mut caddy) = start_caddy("caddy test", dir, &config) else {
        return;
    };
    wait_until("caddy's admin API", Duration::from_secs(10), || async {
        std::net::TcpStream::connect(&admin)
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;

    let mut cmd = shipctl(dir, project);
    cmd.args(["route", "--template", "caddy", "--id", "caddy"])
        .args(["--listen", &listen])
        .args(["--caddy-admin", &format!("http://{admin}")])
        .args(["--check", "caddy validate --config {file}"])
        .arg("--config")
        .arg(&config);
    let route = Background::start(cmd, dir.join("route.log"));
    let answer = wait_until("caddy answers", Duration::from_secs(20), || async {
        http_get(&listen, "/version").map_err(|e| format!("{e}\n{}", route.log()))
    })
    .await;
    assert_eq!(answer, "1.0.0");
    // The deploy waits for every registered router before it takes the old zone away.
    let registration = format!("{service}-router/caddy");
    wait_until("the registration", Duration::from_secs(20), || async {
        match live.kv.get(&registration).await {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("{other:?}\n{}", route.log())),
        }
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let stopper = StopOnDrop(stop.clone());
    let loads: Vec<_> = (0..2).map(|_| start_load(&listen, &stop)).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    write_project(dir, service, &options(true));
    let started = Instant::now();
    let out = shipctl(dir, project)
        .args([
            "deploy",
            "--version",
            "1.1.0",
            "--strategy",
            "blue-green",
            "--yes",
        ])
        .output()
        .expect("deploy");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "deploy failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        route.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(stopper);
    let mut load = Load::default();
    for one in loads {
        let one = one.join().expect("load thread");
        load.requests += one.requests;
        load.non_2xx.extend(one.non_2xx);
        load.connection_errors.extend(one.connection_errors);
        // Each client's answers stay in its own order: first and last are checked per client.
        assert_eq!(one.versions.first().map(String::as_str), Some("1.0.0"));
        assert_eq!(one.versions.last().map(String::as_str), Some("1.1.0"));
        load.versions.extend(one.versions);
    }

    let log = route.log();
    let loaded = log
        .lines()
        .filter(|l| l.contains(&format!("reloaded (POST http://{admin}/load")))
        .count();
    println!(
        "caddy, blue-green deploy of {took:?} with {loaded} loads through the admin API: {}",
        load.summary(&["1.0.0", "1.1.0"])
    );
    assert!(
        loaded >= 2,
        "the first config and the switch were loaded:\n{log}"
    );
    assert!(
        caddy.0.try_wait().expect("caddy's state").is_none(),
        "caddy kept running:\n{}",
        std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default()
    );
    assert!(load.requests >= 300, "only {} requests", load.requests);
    // Caddy (2.6 and later, on Linux) loads a config by opening a new listening socket beside
    // the old one (SO_REUSEPORT) and closing the old one: a connection still queued on the old
    // socket at that instant is reset. That, a few at each load under the load, is the only
    // loss allowed; no answer may be an error.
    let resets = load
        .connection_errors
        .iter()
        .filter(|e| e.contains("reset"))
        .count();
    let loads_under_load = loaded.saturating_sub(1);
    assert!(
        load.non_2xx.is_empty()
            && resets == load.connection_errors.len()
            && resets <= 3 * loads_under_load,
        "failed requests through caddy other than a few resets at its {loads_under_load} config load(s):\n{}\n{log}",
        load.failures()
    );
    let others = load
        .versions
        .iter()
        .filter(|v| *v != "1.0.0" && *v != "1.1.0")
        .count();
    assert_eq!(others, 0);
    // The file written beside the loads is the config Caddy runs: a restart comes up the same.
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(written.contains("\"reverse_proxy\""), "{written}");
    assert!(
        written.contains(&format!("\"listen\": \"{admin}\"")),
        "{written}"
    );
}
