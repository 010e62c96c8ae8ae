//! The checks themselves, written once against `dyn Kv`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shipctl::kv::{acquire_lock, append_history, read_history};
use shipctl::ports::{Action, HistoryRecord, RunResult};
use shipctl::ports::{KeyChange, KeyWrite, KvError};
use shipctl::ports::{Kv, LockInfo, LockOutcome};
use shipctl::spec::Strategy;

use super::backend::Backend;

fn info(who: &str) -> LockInfo {
    LockInfo {
        owner: who.to_string(),
        host: "test-host".to_string(),
        pid: 4242,
        since: "2026-01-01T00:00:00Z".to_string(),
        message: Some(format!("deploy by {who}")),
    }
}

fn held(outcome: LockOutcome) -> Option<LockInfo> {
    match outcome {
        LockOutcome::Held(i) => Some(i),
        LockOutcome::Acquired(_) => None,
    }
}

pub async fn read_your_write(b: &Backend) {
    let key = b.key("web-active-zone");
    assert_eq!(b.kv.get(&key).await.expect("get"), None);
    b.kv.put(&key, "blue").await.expect("put");
    let first = b.kv.get(&key).await.expect("get").expect("written");
    assert_eq!(first.key, key);
    assert_eq!(first.value, "blue");
    assert!(first.revision > 0);
    b.kv.put(&key, "green").await.expect("put");
    let second = b.kv.get(&key).await.expect("get").expect("written");
    assert_eq!(second.value, "green");
    assert!(second.revision > first.revision);
    // Values are text of any shape, including JSON and empty.
    b.kv.put(&key, "{\"a\": [1, \"é\"]}\n").await.expect("put");
    assert_eq!(
        b.kv.get(&key)
            .await
            .expect("get")
            .map(|e| e.value)
            .as_deref(),
        Some("{\"a\": [1, \"é\"]}\n")
    );
}

pub async fn compare_and_swap(b: &Backend) {
    let key = b.key("cas");
    assert!(
        b.kv.compare_and_swap(&key, None, "one")
            .await
            .expect("create")
    );
    assert!(
        !b.kv
            .compare_and_swap(&key, None, "again")
            .await
            .expect("create twice"),
        "create-only must fail on an existing key"
    );
    let rev = b.kv.get(&key).await.expect("get").expect("exists").revision;
    assert!(
        b.kv.compare_and_swap(&key, Some(rev), "two")
            .await
            .expect("cas")
    );
    assert!(
        !b.kv
            .compare_and_swap(&key, Some(rev), "stale")
            .await
            .expect("stale cas"),
        "a stale revision must lose"
    );
    assert_eq!(
        b.kv.get(&key).await.expect("get").expect("exists").value,
        "two"
    );
    let missing = b.key("cas-missing");
    assert!(
        !b.kv
            .compare_and_swap(&missing, Some(rev), "x")
            .await
            .expect("cas on missing")
    );
    assert_eq!(b.kv.get(&missing).await.expect("get"), None);
}

/// Eight tasks each increment a counter five times with CAS retries: no update is lost.
pub async fn cas_counter_under_contention(b: &Backend) {
    let key = b.key("counter");
    b.kv.put(&key, "0").await.expect("put");
    let kv: &dyn Kv = b.kv.as_ref();
    let tasks = (0..8).map(|_| async {
        for _ in 0..5 {
            loop {
                let e = kv.get(&key).await.expect("get").expect("exists");
                let n: u64 = e.value.parse().expect("number");
                if kv
                    .compare_and_swap(&key, Some(e.revision), &(n + 1).to_string())
                    .await
                    .expect("cas")
                {
                    break;
                }
            }
        }
    });
    futures_util::future::join_all(tasks).await;
    assert_eq!(
        b.kv.get(&key).await.expect("get").expect("exists").value,
        "40"
    );
}

/// Writers set pairs atomically; a reader listing the prefix never sees a mixed pair.
pub async fn atomic_pairs_under_concurrent_writers(b: &Backend) {
    let prefix = b.key("pair/");
    let (ka, kb) = (format!("{prefix}zone"), format!("{prefix}version"));
    let kv: &dyn Kv = b.kv.as_ref();
    kv.write_atomic(&[
        KeyWrite {
            key: ka.clone(),
            value: "w0-0".into(),
        },
        KeyWrite {
            key: kb.clone(),
            value: "w0-0".into(),
        },
    ])
    .await
    .expect("first write");
    let done = AtomicBool::new(false);
    let writers = async {
        let writers = (0..8).map(|w| {
            let (ka, kb) = (&ka, &kb);
            async move {
                for i in 0..4 {
                    let v = format!("w{w}-{i}");
                    kv.write_atomic(&[
                        KeyWrite {
                            key: ka.clone(),
                            value: v.clone(),
                        },
                        KeyWrite {
                            key: kb.clone(),
                            value: v,
                        },
                    ])
                    .await
                    .expect("atomic write");
                }
            }
        });
        futures_util::future::join_all(writers).await;
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        let mut reads = 0;
        while !done.load(Ordering::SeqCst) || reads == 0 {
            let list = kv.list(&prefix).await.expect("list");
            assert_eq!(list.len(), 2, "both keys or neither: {list:?}");
            assert_eq!(list[0].value, list[1].value, "mixed pair: {list:?}");
            reads += 1;
        }
        reads
    };
    let ((), reads) = tokio::join!(writers, reader);
    assert!(reads > 0);
    let a = kv.get(&ka).await.expect("get").expect("a");
    let bb = kv.get(&kb).await.expect("get").expect("b");
    assert_eq!(a.value, bb.value);
    assert_eq!(
        a.revision, bb.revision,
        "one write gives both keys one revision"
    );
}

/// Many keys in one call: in the order asked, missing ones as None, present ones with their
/// value and revision, also past what one transaction of the store takes.
pub async fn get_many_reads_keys_in_order(b: &Backend) {
    let kv: &dyn Kv = b.kv.as_ref();
    assert_eq!(kv.get_many(&[]).await.expect("no keys"), Vec::new());
    // More keys than one atomic operation takes (Swarm has no limit: as many as etcd's), every
    // third one missing.
    let count = kv.max_atomic_ops().min(128) + 7;
    let keys: Vec<String> = (0..count)
        .map(|i| b.key(&format!("many/k{i:04}")))
        .collect();
    let writes: Vec<KeyWrite> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 1)
        .map(|(i, k)| KeyWrite {
            key: k.clone(),
            value: if i % 3 == 2 {
                String::new()
            } else {
                format!("v{i}")
            },
        })
        .collect();
    for chunk in writes.chunks(kv.max_atomic_ops().min(writes.len())) {
        kv.write_atomic(chunk).await.expect("write");
    }
    // Asked out of order, with a repeat and a key nobody wrote.
    let mut asked: Vec<String> = keys.iter().rev().cloned().collect();
    asked.push(keys[0].clone());
    asked.push(b.key("many-never-written"));
    let got = kv.get_many(&asked).await.expect("get_many");
    assert_eq!(got.len(), asked.len());
    for (key, entry) in asked.iter().zip(&got) {
        let single = kv.get(key).await.expect("get");
        assert_eq!(entry, &single, "{key}: get_many and get disagree");
    }
    for (i, key) in keys.iter().enumerate() {
        let entry = &got[count - 1 - i];
        match i % 3 {
            1 => assert_eq!(entry, &None, "{key} was never written"),
            _ => {
                let e = entry.as_ref().expect("written");
                assert_eq!(&e.key, key);
                let value = if i % 3 == 2 {
                    String::new()
                } else {
                    format!("v{i}")
                };
                assert_eq!(e.value, value);
                assert!(e.revision > 0);
            }
        }
    }
    assert_eq!(got[count], got[count - 1], "a repeated key, the same entry");
    assert_eq!(got[count + 1], None);
    // Revisions are those of the writes: a later write shows a newer one.
    kv.put(&keys[0], "again").await.expect("put");
    let again = kv.get_many(&keys[..1]).await.expect("get_many");
    let first = got[count - 1].as_ref().expect("written");
    let now = again[0].as_ref().expect("written");
    assert_eq!(now.value, "again");
    assert!(now.revision > first.revision);
}

pub async fn delete_and_list_prefix(b: &Backend) {
    let p = b.key("list/");
    for (k, v) in [("a", "1"), ("b", "2"), ("c/d", "3")] {
        b.kv.put(&format!("{p}{k}"), v).await.expect("put");
    }
    b.kv.put(&b.key("lis"), "not under the prefix")
        .await
        .expect("put");
    let keys = |l: Vec<shipctl::ports::KvEntry>| {
        l.into_iter().map(|e| (e.key, e.value)).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(b.kv.list(&p).await.expect("list")),
        vec![
            (format!("{p}a"), "1".to_string()),
            (format!("{p}b"), "2".to_string()),
            (format!("{p}c/d"), "3".to_string()),
        ]
    );
    b.kv.delete(&format!("{p}b")).await.expect("delete");
    assert_eq!(b.kv.get(&format!("{p}b")).await.expect("get"), None);
    assert_eq!(b.kv.list(&p).await.expect("list").len(), 2);
    // Deleting what is not there is fine.
    b.kv.delete(&format!("{p}b")).await.expect("delete again");
    assert!(
        b.kv.list(&b.key("nothing-here/"))
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn lock_exclusion(b: &Backend) {
    let key = b.key("lock");
    assert_eq!(b.kv.lock_holder(&key).await.expect("holder"), None);
    let LockOutcome::Acquired(guard) =
        b.kv.lock(&key, &info("alice"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a free lock must be acquired");
    };
    assert!(guard.is_held());
    let other = held(
        b.kv.lock(&key, &info("bob"), b.lock_ttl)
            .await
            .expect("lock"),
    );
    assert_eq!(other, Some(info("alice")), "bob must see alice holding it");
    assert_eq!(
        b.kv.lock_holder(&key).await.expect("holder"),
        Some(info("alice"))
    );
    // Renewals keep it past its TTL.
    tokio::time::sleep(b.lock_ttl + b.lock_ttl / 2).await;
    assert!(guard.is_held());
    assert!(
        held(
            b.kv.lock(&key, &info("bob"), b.lock_ttl)
                .await
                .expect("lock")
        )
        .is_some()
    );
    guard.release().await.expect("release");
    assert_eq!(b.kv.lock_holder(&key).await.expect("holder"), None);
    let Some(LockOutcome::Acquired(bob)) = b.kv.lock(&key, &info("bob"), b.lock_ttl).await.ok()
    else {
        panic!("a released lock must be free at once");
    };
    bob.release().await.expect("release");
}

pub async fn break_lock_frees_it(b: &Backend) {
    let key = b.key("lock-broken");
    let LockOutcome::Acquired(alice) =
        b.kv.lock(&key, &info("alice"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a free lock must be acquired");
    };
    b.kv.break_lock(&key).await.expect("break");
    assert_eq!(b.kv.lock_holder(&key).await.expect("holder"), None);
    let LockOutcome::Acquired(bob) =
        b.kv.lock(&key, &info("bob"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a broken lock must be free at once");
    };
    // Alice's renewals notice that the lock is no longer hers.
    let deadline = Instant::now() + b.lock_ttl + Duration::from_secs(2);
    while alice.is_held() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !alice.is_held(),
        "the old holder must learn that it lost the lock"
    );
    assert!(bob.is_held());
    assert_eq!(
        b.kv.lock_holder(&key).await.expect("holder"),
        Some(info("bob"))
    );
    // Alice releasing late must not free Bob's lock.
    alice.release().await.ok();
    assert_eq!(
        b.kv.lock_holder(&key).await.expect("holder"),
        Some(info("bob"))
    );
    bob.release().await.expect("release");
}

/// A holder that stops renewing (a killed process) loses the lock after its TTL.
pub async fn lock_expires_when_holder_is_gone(b: &Backend) {
    let key = b.key("lock-expiry");
    let LockOutcome::Acquired(guard) =
        b.kv.lock(&key, &info("crashed"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a free lock must be acquired");
    };
    let gone = Instant::now();
    // Dropping stops the renewals without releasing: what a killed process leaves behind.
    drop(guard);
    assert!(
        held(
            b.kv.lock(&key, &info("next"), b.lock_ttl)
                .await
                .expect("lock")
        )
        .is_some(),
        "the lock must stay taken until its TTL runs out"
    );
    loop {
        match b
            .kv
            .lock(&key, &info("next"), b.lock_ttl)
            .await
            .expect("lock")
        {
            LockOutcome::Acquired(g) => {
                let waited = gone.elapsed();
                assert!(waited >= b.lock_ttl / 2, "freed too early: {waited:?}");
                g.release().await.expect("release");
                break;
            }
            LockOutcome::Held(_) => {
                assert!(gone.elapsed() < b.expiry_bound, "the lock never expired");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

pub async fn watch_wakes_on_change(b: &Backend) {
    let keys = vec![b.key("watch/zone"), b.key("watch/version")];
    b.kv.put(&keys[0], "blue").await.expect("put");
    let kv: &dyn Kv = b.kv.as_ref();
    let rev = kv
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("first watch");
    assert!(rev > 0);
    let changed_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let mark = changed_at.clone();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        *mark.lock().expect("mark") = Some(Instant::now());
        // A key that did not exist before: the second one.
        kv.put(&keys[1], "1.4.2").await.expect("put");
    };
    let watcher = async {
        let next = kv
            .watch(&keys, rev, Duration::from_secs(10))
            .await
            .expect("watch");
        (next, Instant::now())
    };
    let ((), (next, woke)) = tokio::join!(writer, watcher);
    let put_at = changed_at.lock().expect("mark").expect("written");
    assert_ne!(next, rev, "the revision must move on a change");
    let lag = woke.saturating_duration_since(put_at);
    assert!(
        lag < Duration::from_millis(500),
        "woke {lag:?} after the write"
    );
    // Nothing changed since: the next watch waits.
    times_out(kv, &keys, next, Duration::from_millis(600)).await;
}

/// A watch of `keys`, none of which changes, waits its whole `wait` and answers the revision
/// it was given. A backend may wake early on a change it cannot tell apart from one of these
/// keys (swarm:// once deletes of other keys, by other projects sharing the store, pushed
/// older deletes out of its memory); the caller then reads the keys again and watches from the
/// new revision, so a few early wakes are allowed before the timeout is checked.
async fn times_out(kv: &dyn Kv, keys: &[String], since: u64, wait: Duration) {
    let mut since = since;
    for _ in 0..5 {
        let t = Instant::now();
        let answer = kv.watch(keys, since, wait).await.expect("watch");
        if answer == since {
            assert!(
                t.elapsed() >= wait.mul_f32(0.85),
                "answered the revision it was given after {:?}, before the timeout of {wait:?}",
                t.elapsed()
            );
            return;
        }
        assert!(
            answer > since,
            "an early wake moves the revision on: {since} -> {answer}"
        );
        since = answer;
    }
    panic!("5 watches of keys that did not change all woke before their timeout of {wait:?}");
}

pub async fn watch_wakes_on_delete_and_times_out(b: &Backend) {
    let keys = vec![b.key("watch-del/zone")];
    b.kv.put(&keys[0], "blue").await.expect("put");
    let kv: &dyn Kv = b.kv.as_ref();
    let rev = kv
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("first watch");
    let writer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        kv.delete(&keys[0]).await.expect("delete");
        Instant::now()
    };
    let watcher = async {
        let next = kv
            .watch(&keys, rev, Duration::from_secs(10))
            .await
            .expect("watch");
        (next, Instant::now())
    };
    let (deleted_at, (next, woke)) = tokio::join!(writer, watcher);
    assert_ne!(next, rev);
    assert!(woke.saturating_duration_since(deleted_at) < Duration::from_millis(500));
    times_out(kv, &keys, next, Duration::from_millis(400)).await;
}

/// Waits on `keys` from `since` while `beside` (a write to a key next to them, which the
/// watch does not name) and then `change` run; answers the new revision and how long after
/// the change began the watch woke. A wake for the write beside them is allowed and followed.
async fn woken_by(
    kv: &dyn Kv,
    keys: &[String],
    since: u64,
    beside: impl std::future::Future<Output = ()>,
    change: impl std::future::Future<Output = ()>,
) -> (u64, Duration) {
    let changed_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let mark = changed_at.clone();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        beside.await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        *mark.lock().expect("mark") = Some(Instant::now());
        change.await;
    };
    let watcher = async {
        let mut since = since;
        loop {
            let next = kv
                .watch(keys, since, Duration::from_secs(10))
                .await
                .expect("watch");
            assert!(next >= since, "the revision went back: {since} -> {next}");
            assert!(
                next != since,
                "a 10 s watch from {since} timed out across a change"
            );
            if changed_at.lock().expect("mark").is_some() {
                return (next, Instant::now());
            }
            since = next;
        }
    };
    let ((), (next, woke)) = tokio::join!(writer, watcher);
    let at = changed_at.lock().expect("mark").expect("changed");
    (next, woke.saturating_duration_since(at))
}

/// Many keys in one watch (a router watching every service of a project): a write or a delete
/// of any of them wakes it; writes to keys beside them do not count as theirs.
pub async fn watch_of_many_keys_wakes_for_each(b: &Backend) {
    let keys: Vec<String> = [
        "web-active-zone",
        "web-traffic",
        "api-active-zone",
        "db-active-version",
    ]
    .iter()
    .map(|k| b.key(&format!("many/{k}")))
    .collect();
    let beside = b.key("many/web-history");
    let kv: &dyn Kv = b.kv.as_ref();
    for k in &keys[..3] {
        kv.put(k, "blue").await.expect("put");
    }
    let mut since = kv
        .watch(&keys, 0, Duration::from_secs(1))
        .await
        .expect("first watch");
    // A key in the middle of the range written, one deleted, one created.
    for (n, step) in ["write", "delete", "create"].into_iter().enumerate() {
        let record = format!("record {n}");
        let write_beside = async { kv.put(&beside, &record).await.expect("put beside") };
        let change = async {
            match step {
                "write" => kv.put(&keys[1], "green").await.expect("put"),
                "delete" => kv.delete(&keys[2]).await.expect("delete"),
                _ => kv.put(&keys[3], "1.4.2").await.expect("put"),
            }
        };
        let (next, lag) = woken_by(kv, &keys, since, write_beside, change).await;
        assert!(next > since, "{step}: the revision must move on");
        assert!(
            lag < Duration::from_millis(500),
            "{step}: woke {lag:?} after the change"
        );
        since = next;
    }
    times_out(kv, &keys, since, Duration::from_millis(600)).await;
}

pub async fn history_keeps_last_n(b: &Backend) {
    let key = b.key("web-history");
    let kv: &dyn Kv = b.kv.as_ref();
    let env = std::collections::HashMap::new();
    let appends = (0..6).map(|i| {
        let key = &key;
        let env = &env;
        async move {
            let mut r = HistoryRecord::now(
                env,
                "web",
                Strategy::BlueGreen,
                Action::Deploy,
                RunResult::Done,
            );
            r.to_version = Some(format!("1.0.{i}"));
            append_history(kv, key, &r, 4).await.expect("append");
        }
    });
    futures_util::future::join_all(appends).await;
    let records = read_history(kv, &key).await.expect("read");
    assert_eq!(records.len(), 4, "{records:?}");
    let mut r = HistoryRecord::now(
        &env,
        "web",
        Strategy::Canary,
        Action::Promote,
        RunResult::Done,
    );
    r.to_version = Some("2.0.0".into());
    append_history(kv, &key, &r, 4).await.expect("append");
    let records = read_history(kv, &key).await.expect("read");
    assert_eq!(records.len(), 4);
    assert_eq!(records.last(), Some(&r), "the newest record comes last");
}

pub async fn lock_helper_waits(b: &Backend) {
    let key = b.key("lock-wait");
    let kv: &dyn Kv = b.kv.as_ref();
    let LockOutcome::Acquired(first) = acquire_lock(kv, &key, &info("a"), b.lock_ttl, None, None)
        .await
        .expect("lock")
    else {
        panic!("free lock");
    };
    let t = Instant::now();
    let outcome = acquire_lock(
        kv,
        &key,
        &info("b"),
        b.lock_ttl,
        Some(Duration::from_millis(700)),
        None,
    )
    .await
    .expect("lock");
    assert_eq!(held(outcome), Some(info("a")));
    assert!(t.elapsed() >= Duration::from_millis(700));
    let releaser = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        first.release().await.expect("release");
    };
    let b_info = info("b");
    let waiter = acquire_lock(
        kv,
        &key,
        &b_info,
        b.lock_ttl,
        Some(Duration::from_secs(10)),
        None,
    );
    let ((), outcome) = tokio::join!(releaser, waiter);
    match outcome.expect("lock") {
        LockOutcome::Acquired(g) => g.release().await.expect("release"),
        LockOutcome::Held(h) => panic!("still held by {h:?}"),
    }
}

/// A write fenced by a held lock goes through, all or nothing; once the lock is someone
/// else's, the same fenced write is refused and changes nothing.
pub async fn fenced_writes_need_the_lock(b: &Backend) {
    let key = b.key("fenced/lock");
    let zone = b.key("fenced/zone");
    let version = b.key("fenced/version");
    let LockOutcome::Acquired(alice) =
        b.kv.lock(&key, &info("alice"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a free lock must be acquired");
    };
    let fence = alice.fence();
    let put = |k: &str, v: &str| {
        KeyChange::Put(KeyWrite {
            key: k.to_string(),
            value: v.to_string(),
        })
    };
    b.kv.write_fenced(
        &[put(&zone, "blue"), put(&version, "1.0")],
        std::slice::from_ref(&fence),
    )
    .await
    .expect("a fenced write while the lock is held");
    b.kv.write_fenced(&[], std::slice::from_ref(&fence))
        .await
        .expect("checking a held fence");
    b.kv.write_fenced(
        &[put(&zone, "green"), KeyChange::Delete(version.clone())],
        std::slice::from_ref(&fence),
    )
    .await
    .expect("puts and deletes together");
    assert_eq!(value(b, &zone).await.as_deref(), Some("green"));
    assert_eq!(value(b, &version).await, None);

    // Bob takes over (Alice's lock was broken, as an expiry would do).
    b.kv.break_lock(&key).await.expect("break");
    let LockOutcome::Acquired(bob) =
        b.kv.lock(&key, &info("bob"), b.lock_ttl)
            .await
            .expect("lock")
    else {
        panic!("a broken lock must be free at once");
    };
    for changes in [vec![put(&zone, "blue"), put(&version, "2.0")], vec![]] {
        match b
            .kv
            .write_fenced(&changes, std::slice::from_ref(&fence))
            .await
        {
            Err(KvError::LockLost { key: lost }) => assert_eq!(lost, key),
            other => panic!("a fence of a lost lock must be refused, got {other:?}"),
        }
    }
    assert_eq!(
        value(b, &zone).await.as_deref(),
        Some("green"),
        "nothing written"
    );
    assert_eq!(value(b, &version).await, None, "nothing written");
    b.kv.write_fenced(&[put(&zone, "blue")], &[bob.fence()])
        .await
        .expect("the new holder writes");
    assert_eq!(value(b, &zone).await.as_deref(), Some("blue"));
    alice.release().await.ok();
    bob.release().await.expect("release");
    // A released lock fences nothing any more.
    assert!(matches!(
        b.kv.write_fenced(&[put(&zone, "x")], &[fence]).await,
        Err(KvError::LockLost { .. })
    ));
}

async fn value(b: &Backend, key: &str) -> Option<String> {
    b.kv.get(key).await.expect("get").map(|e| e.value)
}
