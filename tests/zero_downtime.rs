//! Zero downtime through the router: requests go to a real nginx that `shipctl route` keeps
//! rendered and reloaded while a blue-green deploy that waits for the router flips the keys.
//! Not one request may fail.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::support::docker::wait_until;
use crate::support::router::{
    Background, LiveRouterProject, ProjectOptions, StopOnDrop, deploy, free_port, http_get,
    route_once, shipctl, start_load, start_nginx, write_project,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_deploy_through_the_router_fails_no_request() {
    let Some(live) = LiveRouterProject::new("z").await else {
        return;
    };
    let (project, service, dir) = (&live.project, &live.service, live.dir());
    let options = |wait_for_router| ProjectOptions {
        health_timeout: "2s",
        drain_time: "2s",
        wait_for_router,
    };

    // 1.0.0 before any router runs: this deploy does not wait for one.
    write_project(dir, service, &options(false));
    deploy(dir, project, "1.0.0");

    let config = dir.join("router.conf");
    let listen = format!("127.0.0.1:{}", free_port());
    route_once(dir, project, &listen, &config);
    let Some((_nginx, pid)) = start_nginx("zero downtime test", dir, &config) else {
        return;
    };
    let answer = wait_until("nginx answers", Duration::from_secs(10), || async {
        http_get(&listen, "/version")
    })
    .await;
    assert_eq!(answer, "1.0.0");

    let reload = format!("kill -HUP $(cat {})", pid.display());
    let mut route = shipctl(dir, project);
    route
        .args([
            "route",
            "--listen",
            &listen,
            "--check",
            "nginx -t -q -c {file}",
        ])
        .arg("--config")
        .arg(&config)
        .args(["--reload", &reload]);
    let bg = Background::start(route, dir.join("route.log"));
    wait_until("the first report", Duration::from_secs(15), || async {
        let log = bg.log();
        if log.contains("reported") {
            Ok(())
        } else {
            Err(log)
        }
    })
    .await;

    // The load runs on a thread of its own; it stops by itself at its bounds.
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&listen, &stop);
    let stopper = StopOnDrop(stop);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The flip waits for the router; the old zone drains 2s before it goes.
    write_project(dir, service, &options(true));
    let deployed = Instant::now();
    deploy(dir, project, "1.1.0");
    let deploy_took = deployed.elapsed();
    // Some load after the deploy: the old zone is gone, the new one serves alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(stopper);
    let load = load.join().expect("the load thread");

    let ok = load.versions.len();
    let first_new = load.versions.iter().position(|v| v == "1.1.0");
    let last_old = load.versions.iter().rposition(|v| v == "1.0.0");
    println!(
        "zero downtime: {} requests in a deploy of {deploy_took:?}: {ok} 2xx, {} non-2xx, {} \
         connection errors; 1.0.0 answers {}, 1.1.0 answers {}, first 1.1.0 #{first_new:?}, \
         last 1.0.0 #{last_old:?}",
        load.requests,
        load.non_2xx.len(),
        load.connection_errors.len(),
        load.versions.iter().filter(|v| *v == "1.0.0").count(),
        load.versions.iter().filter(|v| *v == "1.1.0").count(),
    );
    let failures = || {
        format!(
            "non-2xx: {:?}\nconnection errors: {:?}\nroute log:\n{}",
            load.non_2xx.iter().take(20).collect::<Vec<_>>(),
            load.connection_errors.iter().take(20).collect::<Vec<_>>(),
            bg.log()
        )
    };
    assert!(load.requests >= 300, "only {} requests", load.requests);
    assert!(
        load.non_2xx.is_empty() && load.connection_errors.is_empty(),
        "failed requests during the deploy:\n{}",
        failures()
    );
    assert_eq!(load.versions.first().map(String::as_str), Some("1.0.0"));
    assert_eq!(load.versions.last().map(String::as_str), Some("1.1.0"));
    let others: Vec<&String> = load
        .versions
        .iter()
        .filter(|v| *v != "1.0.0" && *v != "1.1.0")
        .collect();
    assert!(others.is_empty(), "unexpected answers: {others:?}");
}
