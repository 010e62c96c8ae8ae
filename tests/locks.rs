//! The deploy lock and the history, through the real `shipctl` binary on the live Swarm:
//! concurrent deploys, `--lock-wait`, a holder killed with SIGKILL, `unlock`, `history`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shipctl::kv;
use shipctl::ports::{Kv, LockInfo, LockOutcome};

use crate::support::consul_double::Options;
use crate::support::docker::require_docker;
use crate::support::etcd::Etcd;
use crate::support::stack::{
    Finished, ServedDouble, Setup, Stack, Store, USER, signal, swarm_kv, values, wait_lock_held,
};

const EXIT_LOCKED: i32 = 4;

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The lock error names who holds it, since when and why.
fn assert_names_holder(run: &Finished, pid: u32, message: &str) {
    let holder = format!("{USER}@{} (pid {pid}) since ", hostname());
    let text = run.stderr.replace('\n', " ");
    let Some(at) = text.find(&holder) else {
        panic!("the lock error does not name the holder `{holder}`\n{run}");
    };
    let since = &text[at + holder.len()..];
    // RFC 3339 in UTC, e.g. 2026-11-21T21:52:01Z
    let stamp: String = since.chars().take(20).collect();
    assert!(
        humantime::parse_rfc3339(&stamp).is_ok(),
        "`since` is not an RFC 3339 time: {stamp:?}\n{run}"
    );
    assert!(
        text.contains(&format!("\"{message}\"")),
        "the lock error does not give the holder's message {message:?}\n{run}"
    );
}

#[tokio::test]
async fn ten_concurrent_deploys_one_deploys_nine_exit_4_at_once() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    let kv = swarm_kv(&cluster);

    let mut running: Vec<_> = (0..10)
        .map(|i| {
            let message = format!("deploy #{i}");
            stack.start_deploy("1.0.0", &["--message", &message])
        })
        .collect();
    let pids: Vec<u32> = running.iter().map(|r| r.pid()).collect();
    let mut done: Vec<Option<Finished>> = (0..10).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "the deploys did not all end");
        for (i, r) in running.iter_mut().enumerate() {
            if done[i].is_none() {
                done[i] = r.poll();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let done: Vec<Finished> = done.into_iter().flatten().collect();

    let winners: Vec<usize> = (0..10).filter(|i| done[*i].code() == Some(0)).collect();
    let all: String = done
        .iter()
        .enumerate()
        .map(|(i, f)| format!("#{i}: {:?} after {:.1?}\n", f.code(), f.elapsed))
        .collect();
    eprintln!("exit codes and times:\n{all}");
    assert_eq!(winners.len(), 1, "exactly one deploy must win:\n{all}");
    let winner = winners[0];
    let win = &done[winner];
    for (i, f) in done.iter().enumerate().filter(|(i, _)| *i != winner) {
        f.expect_code(EXIT_LOCKED);
        // Refused at once: not after waiting for (a part of) the winner's deploy.
        assert!(
            f.elapsed + Duration::from_secs(2) < win.elapsed && f.elapsed < Duration::from_secs(10),
            "deploy #{i} took {:.1?} to give up; the winner took {:.1?}\n{all}",
            f.elapsed,
            win.elapsed
        );
        assert_names_holder(f, pids[winner], &format!("deploy #{winner}"));
        assert!(
            f.stderr.contains("--lock-wait"),
            "the lock error should say how to wait\n{f}"
        );
    }

    // The winner deployed and let go of the lock.
    let keys = values(
        &kv,
        &[stack.key("active-zone"), stack.key("active-version")],
    )
    .await;
    assert_eq!(
        keys.get(&stack.key("active-version")).map(String::as_str),
        Some("1.0.0")
    );
    assert_eq!(
        keys.get(&stack.key("active-zone")).map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        kv.lock_holder(&stack.key("lock"))
            .await
            .expect("read the lock"),
        None,
        "the winner must release the lock"
    );
}

#[tokio::test]
async fn lock_wait_waits_for_the_running_deploy_then_deploys() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    let kv = swarm_kv(&cluster);

    let first = stack.start_deploy("1.0.0", &["--message", "first"]);
    let holder = wait_lock_held(&kv, &stack.key("lock"), Duration::from_secs(60)).await;
    assert_eq!(holder, first.pid());
    let second = stack.start_deploy("1.1.0", &["--lock-wait", "2m"]);
    let first_started = first.started;
    let second_started = second.started;

    let first = first.wait();
    first.expect_code(0);
    let second = second.wait();
    second.expect_code(0);
    let first_end = first_started + first.elapsed;
    let second_end = second_started + second.elapsed;
    assert!(
        second_end > first_end + Duration::from_secs(2),
        "the waiting deploy ended {:.1?} after the first: it cannot have deployed after it\n{second}",
        second_end.saturating_duration_since(first_end)
    );

    // It deployed from what the first one left: 1.0.0 in blue -> 1.1.0 in green.
    let keys = values(
        &kv,
        &[stack.key("active-zone"), stack.key("active-version")],
    )
    .await;
    assert_eq!(
        keys.get(&stack.key("active-zone")).map(String::as_str),
        Some("green"),
        "{second}"
    );
    assert_eq!(
        keys.get(&stack.key("active-version")).map(String::as_str),
        Some("1.1.0")
    );
    let zones = stack.zones(&cluster).await;
    assert_eq!(zones.get("blue").map(|z| z.desired), Some(0), "{zones:?}");
    assert_eq!(zones.get("green").map(|z| z.desired), Some(1), "{zones:?}");
}

#[tokio::test]
async fn a_killed_holder_blocks_until_the_ttl_then_a_deploy_goes_through() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    killed_holder(&stack, &swarm_kv(&cluster)).await;
}

#[tokio::test]
async fn etcd_a_killed_holder_blocks_until_the_ttl() {
    if let Some((_etcd, stack, kv)) = on_etcd("etcd_a_killed_holder_blocks_until_the_ttl").await {
        killed_holder(&stack, kv.as_ref()).await;
    }
}

#[tokio::test]
async fn consul_a_killed_holder_blocks_until_the_ttl() {
    if let Some((_consul, stack, kv)) = on_consul().await {
        killed_holder(&stack, kv.as_ref()).await;
    }
}

/// A stack whose keys live on a fresh etcd, and a client of it; `None` (skipped) without
/// Docker or etcd outside CI.
async fn on_etcd(test: &str) -> Option<(Etcd, Stack, Box<dyn Kv>)> {
    let cluster = require_docker().await?;
    let etcd = Etcd::start(test).await?;
    let stack = Stack::new(&cluster, Setup::new(Store::Url(etcd.url())));
    let kv = kv::connect(&etcd.url(), &HashMap::new())
        .await
        .expect("connect to etcd");
    Some((etcd, stack, kv))
}

/// The same on the Consul double.
async fn on_consul() -> Option<(ServedDouble, Stack, Box<dyn Kv>)> {
    let cluster = require_docker().await?;
    let consul = ServedDouble::start(Options::default());
    let stack = Stack::new(&cluster, Setup::new(Store::Url(consul.double.url())));
    let kv = kv::connect(&consul.double.url(), &HashMap::new())
        .await
        .expect("connect to the Consul double");
    Some((consul, stack, kv))
}

/// SIGKILL a deploy that holds the lock: until the TTL the lock stays taken (exit 4), then it
/// is free again without anyone's help.
async fn killed_holder(stack: &Stack, kv: &dyn Kv) {
    let ttl = Duration::from_secs(10);
    assert_eq!(stack.setup.lock_ttl, "10s");
    // Failing health checks do not count during the start period: this deploy waits for its
    // gate (timeout 1m) instead of failing at once, holding the lock meanwhile.
    stack.write_compose("slow.yaml", Some("10m"));

    let holder = stack.start_deploy("unhealthy", &["-f", "slow.yaml", "--message", "doomed"]);
    let pid = holder.pid();
    assert_eq!(
        wait_lock_held(kv, &stack.key("lock"), Duration::from_secs(60)).await,
        pid
    );
    holder.kill9();
    let killed = Instant::now();

    // Before the TTL runs out the dead holder still has the lock.
    let refused = stack.deploy("1.0.0", &[]);
    refused.expect_code(EXIT_LOCKED);
    assert!(
        killed.elapsed() < ttl,
        "too slow to test the lock before its TTL"
    );
    assert_names_holder(&refused, pid, "doomed");

    // Then it expires by itself: keep trying like an impatient CI job would.
    let bound = ttl + Duration::from_secs(15);
    let (freed_after, deployed) = loop {
        let attempt = killed.elapsed();
        let run = stack.deploy("1.0.0", &[]);
        if run.code() != Some(EXIT_LOCKED) {
            break (attempt, run);
        }
        assert!(
            killed.elapsed() < bound,
            "the lock of the killed deploy was still held {:.1?} after the kill (TTL {ttl:?})\n{run}",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("lock free again {freed_after:.1?} after the kill (TTL {ttl:?})");
    deployed.expect_code(0);
    assert!(
        freed_after <= bound,
        "the lock came free {freed_after:.1?} after the kill; expected within {bound:?}"
    );
    // Renewals come every TTL/3: the lock outlives its holder by at least 2/3 of the TTL.
    assert!(
        freed_after >= ttl / 2,
        "the lock came free only {freed_after:.1?} after the kill, before its TTL ({ttl:?})"
    );
    let keys = values(kv, &[stack.key("active-version")]).await;
    assert_eq!(
        keys.get(&stack.key("active-version")).map(String::as_str),
        Some("1.0.0")
    );
}

#[tokio::test]
async fn unlock_needs_yes_without_a_terminal_and_breaks_a_held_lock() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    unlock(&stack, &swarm_kv(&cluster)).await;
}

#[tokio::test]
async fn etcd_unlock_breaks_a_held_lock() {
    if let Some((_etcd, stack, kv)) = on_etcd("etcd_unlock_breaks_a_held_lock").await {
        unlock(&stack, kv.as_ref()).await;
    }
}

#[tokio::test]
async fn consul_unlock_breaks_a_held_lock() {
    if let Some((_consul, stack, kv)) = on_consul().await {
        unlock(&stack, kv.as_ref()).await;
    }
}

/// `unlock` refuses to break a lock without --yes when nobody can be asked, and breaks it
/// with --yes so that the next deploy goes through at once.
async fn unlock(stack: &Stack, kv: &dyn Kv) {
    let free = stack.run("unlock", &["web"]);
    free.expect_code(0);
    assert!(free.stdout.contains("web is not locked"), "{free}");

    // A holder that is gone for good (another machine); its TTL is far away.
    let info = LockInfo {
        owner: "ci".into(),
        host: "runner-7".into(),
        pid: 4242,
        since: "2026-01-02T03:04:05Z".into(),
        message: Some("release 41".into()),
    };
    let guard = match kv
        .lock(&stack.key("lock"), &info, Duration::from_secs(120))
        .await
        .expect("take the lock")
    {
        LockOutcome::Acquired(guard) => guard,
        LockOutcome::Held(h) => panic!("the lock of a fresh project is held by {h:?}"),
    };

    let asked = stack.run("unlock", &["web"]);
    asked.expect_code(2);
    assert!(asked.stderr.contains("--yes"), "{asked}");
    assert!(
        asked.stderr.contains("ci@runner-7 (pid 4242)") && asked.stderr.contains("release 41"),
        "unlock should say whose lock it would break\n{asked}"
    );
    assert!(
        kv.lock_holder(&stack.key("lock"))
            .await
            .expect("read")
            .is_some(),
        "unlock without --yes must not break the lock"
    );
    stack.deploy("1.0.0", &[]).expect_code(EXIT_LOCKED);

    let broken = stack.run("unlock", &["web", "--yes"]);
    broken.expect_code(0);
    assert!(broken.stdout.contains("broken"), "{broken}");
    assert_eq!(
        kv.lock_holder(&stack.key("lock")).await.expect("read"),
        None
    );
    stack.deploy("1.0.0", &[]).expect_code(0);
    // The guard's renewals notice the lock is no longer theirs; releasing it is a no-op.
    let _ = guard.release().await;
}

#[tokio::test]
async fn history_lists_deploys_newest_first_in_text_and_json() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let mut stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    // Wide enough that no cell of the table wraps.
    stack.env.set("COLUMNS", "200");

    stack.deploy("1.0.0", &[]).expect_code(0);
    stack.deploy("1.1.0", &[]).expect_code(0);

    let text = stack.run("history", &["web"]);
    text.expect_code(0);
    let rows: Vec<&str> = text
        .stdout
        .lines()
        .filter(|l| l.contains("blue-green"))
        .collect();
    assert_eq!(rows.len(), 2, "two deploys, two rows\n{text}");
    // Newest first: blue 1.0.0 -> green 1.1.0, then the first deploy into blue.
    assert!(
        rows[0].contains("blue@1.0.0")
            && rows[0].contains("green@1.1.0")
            && rows[0].contains("success"),
        "{text}"
    );
    assert!(
        rows[1].contains("blue@1.0.0")
            && !rows[1].contains("green@")
            && rows[1].contains("success"),
        "{text}"
    );
    assert!(rows[0].contains(&format!("{USER}@")), "{text}");

    let json = stack.run("history", &["web", "--output", "json"]);
    json.expect_code(0);
    let records: Vec<serde_json::Value> = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("history --output json is not a JSON array: {e}\n{json}"));
    assert_eq!(records.len(), 2, "{json}");
    let second = records
        .iter()
        .find(|r| r["to_version"] == "1.1.0")
        .unwrap_or_else(|| panic!("no record of the 1.1.0 deploy\n{json}"));
    assert_eq!(second["service"], "web");
    assert_eq!(second["action"], "deploy");
    assert_eq!(second["strategy"], "blue-green");
    assert_eq!(second["from_zone"], "blue");
    assert_eq!(second["from_version"], "1.0.0");
    assert_eq!(second["to_zone"], "green");
    assert_eq!(second["result"], "success");
    assert_eq!(second["user"], USER);
    assert_eq!(second["host"], hostname().as_str());
    assert!(
        second["duration_secs"].as_f64().is_some_and(|d| d > 0.0),
        "{second}"
    );
    assert!(
        second["time"]
            .as_str()
            .is_some_and(|t| humantime::parse_rfc3339(t).is_ok()),
        "{second}"
    );
    let first = records
        .iter()
        .find(|r| r["to_version"] == "1.0.0")
        .unwrap_or_else(|| panic!("no record of the first deploy\n{json}"));
    assert_eq!(first["to_zone"], "blue");
    assert!(first.get("from_version").is_none(), "{first}");

    // A deploy whose new zone never gets healthy is rolled back, and recorded so.
    stack.deploy("unhealthy", &[]).expect_code(1);
    let json = stack.run("history", &["web", "--output", "json"]);
    json.expect_code(0);
    let records: Vec<serde_json::Value> = serde_json::from_str(&json.stdout).expect("history JSON");
    assert_eq!(records.len(), 3, "{json}");
    let failed = records
        .iter()
        .find(|r| r["to_version"] == "unhealthy")
        .unwrap_or_else(|| panic!("no record of the failed deploy\n{json}"));
    assert_eq!(failed["result"], "rolled_back", "{json}");
    assert_eq!(failed["from_version"], "1.1.0");
    assert_eq!(failed["to_zone"], "blue");
    assert_eq!(
        swarm_kv(&cluster)
            .lock_holder(&stack.key("lock"))
            .await
            .expect("read the lock"),
        None,
        "a rolled-back deploy must release its lock"
    );
    let text = stack.run("history", &["web"]);
    let newest = text
        .stdout
        .lines()
        .find(|l| l.contains("blue-green"))
        .unwrap_or_default();
    assert!(
        newest.contains("rolled_back") && newest.contains("blue@unhealthy"),
        "the failed deploy comes first\n{text}"
    );
}

#[tokio::test]
async fn interrupted_deploys_stop_waiting_and_release_the_lock_at_once() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let mut setup = Setup::new(Store::Swarm);
    // Long enough that a lock freed by its TTL could not pass for a released one.
    setup.lock_ttl = "1m";
    let stack = Stack::new(&cluster, setup);
    let kv = swarm_kv(&cluster);
    stack.write_compose("slow.yaml", Some("10m"));

    let holder = stack.start_deploy("unhealthy", &["-f", "slow.yaml"]);
    let pid = holder.pid();
    assert_eq!(
        wait_lock_held(&kv, &stack.key("lock"), Duration::from_secs(60)).await,
        pid
    );
    // A deploy waiting for the lock stops waiting on a signal, changing nothing.
    let waiter = stack.start_deploy("1.1.0", &["--lock-wait", "2m"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        kv.lock_holder(&stack.key("lock"))
            .await
            .expect("read")
            .is_some_and(|h| h.pid == pid),
        "the first deploy should still hold the lock"
    );
    terminate(waiter.pid());
    let waited = waiter.wait();
    waited.expect_code(130);
    assert!(
        waited.stderr.contains("waiting for the deploy lock"),
        "{waited}"
    );

    // As CI does when it cancels a job.
    terminate(pid);
    let stopped = holder.wait();
    stopped.expect_code(130);
    assert_eq!(
        kv.lock_holder(&stack.key("lock")).await.expect("read"),
        None,
        "an interrupted deploy must release its lock\n{stopped}"
    );
    stack.deploy("1.0.0", &[]).expect_code(0);
}

fn terminate(pid: u32) {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(term.success(), "kill -TERM {pid}");
}

#[tokio::test]
async fn a_deploy_paused_past_its_ttl_cannot_switch_or_undo_after_another_took_over() {
    let Some(cluster) = require_docker().await else {
        return;
    };
    let stack = Stack::new(&cluster, Setup::new(Store::Swarm));
    paused_holder(&stack, &swarm_kv(&cluster), &cluster).await;
}

#[tokio::test]
async fn etcd_a_deploy_paused_past_its_ttl_cannot_switch_or_undo() {
    if let Some((_etcd, stack, kv)) =
        on_etcd("etcd_a_deploy_paused_past_its_ttl_cannot_switch_or_undo").await
    {
        let cluster = require_docker().await.expect("checked by on_etcd");
        paused_holder(&stack, kv.as_ref(), &cluster).await;
    }
}

/// SIGSTOP a deploy in its health gate for longer than the lock TTL, let another deploy take
/// the lock and finish, then SIGCONT the first: it must neither write the keys nor undo
/// anything (the zones are the other deploy's now), and it says why.
async fn paused_holder(stack: &Stack, kv: &dyn Kv, cluster: &shipctl::swarm::SwarmCluster) {
    stack.deploy("1.0.0", &[]).expect_code(0);
    // The paused deploy waits in its gate (start period) instead of failing at once.
    stack.write_compose("slow.yaml", Some("10m"));
    let paused = stack.start_deploy("unhealthy", &["-f", "slow.yaml", "--message", "paused"]);
    let pid = paused.pid();
    assert_eq!(
        wait_lock_held(kv, &stack.key("lock"), Duration::from_secs(60)).await,
        pid
    );
    stack
        .wait_zone_exists(cluster, "green", Duration::from_secs(30))
        .await;
    signal(pid, "STOP");
    let stopped = Instant::now();

    // The lock expires while the holder sleeps; the next deploy waits for that, then deploys.
    let next = stack.deploy("1.1.0", &["--lock-wait", "1m", "--message", "next"]);
    next.expect_code(0);
    assert!(
        stopped.elapsed() >= Duration::from_secs(10),
        "the lock (TTL 10s) was taken over {:.1?} after the holder stopped\n{next}",
        stopped.elapsed()
    );
    let after_next = values(kv, &[stack.key("active-zone"), stack.key("active-version")]).await;
    let zones_after_next = stack.zones(cluster).await;

    signal(pid, "CONT");
    let resumed = paused.wait();
    resumed.expect_code(3);
    assert!(
        resumed.stderr.contains("lost the deploy lock"),
        "the resumed deploy must say it lost its lock\n{resumed}"
    );
    // Nothing of the resumed deploy reached the keys or the zones.
    let keys = values(kv, &[stack.key("active-zone"), stack.key("active-version")]).await;
    assert_eq!(keys, after_next, "{resumed}");
    assert_eq!(
        keys.get(&stack.key("active-version")).map(String::as_str),
        Some("1.1.0")
    );
    let zones = stack.zones(cluster).await;
    for (zone, state) in &zones_after_next {
        assert_eq!(
            zones.get(zone).map(|z| z.desired),
            Some(state.desired),
            "{zone} was changed by the deploy that lost its lock\n{resumed}"
        );
    }
    let serving = keys
        .get(&stack.key("active-zone"))
        .cloned()
        .unwrap_or_default();
    assert!(
        stack.running_tasks(cluster, &serving).await >= 1,
        "the zone the keys point at ({serving}) must keep running"
    );
    eprintln!(
        "the resumed deploy stopped {:.1?} after SIGCONT: {}",
        resumed.elapsed.saturating_sub(stopped.elapsed()),
        resumed
            .stderr
            .lines()
            .find(|l| l.contains("lost the deploy lock"))
            .unwrap_or("")
    );
}
