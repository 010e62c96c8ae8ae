//! Which routers a deploy waits for, one look at the store at a time.
//!
//! Each `shipctl route` registers under `{router key}/{id}` and rewrites that key every
//! heartbeat. A router is **live** while its registration keeps changing, timed by the waiting
//! deploy on its own monotonic clock (never by comparing clocks across hosts): a registration
//! whose revision and value did not change for [`LIVENESS_BEATS`] of its heartbeats, counted
//! from when this deploy first saw it, belongs to a dead router. The wait is over when every
//! registered router serves the keys this run wrote or is dead, and at least one serves them.
//! Without registrations (routers from before them), the single `{router key}` decides.
//! Pure: time comes in with each look.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::ports::{KvEntry, RouterReport};

/// How many heartbeats without a change make a router dead.
pub(super) const LIVENESS_BEATS: u32 = 3;
/// The heartbeat assumed for a registration that does not give one.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// Bounds on the heartbeat a registration claims, so a broken value neither declares a router
/// dead at once nor keeps a dead one alive for hours.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
const MAX_HEARTBEAT: Duration = Duration::from_secs(600);

/// What the store showed.
pub(super) enum Look {
    /// The registrations under `{router key}/` (at least one).
    Registered(Vec<KvEntry>),
    /// No registration: the single router key, if it exists.
    Single(Option<KvEntry>),
}

/// A router judged dead: the deploy stops waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Gone {
    pub id: String,
    pub key: String,
    /// How long this deploy saw its registration unchanged.
    pub silent: Duration,
    pub heartbeat: Duration,
}

/// What changed with one look.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub done: bool,
    /// Routers seen serving the new keys for the first time.
    pub confirmed: Vec<String>,
    pub gone: Vec<Gone>,
    /// Routers judged dead before whose registration changed again: waited for again.
    pub back: Vec<String>,
}

/// A registration that was judged dead in an earlier wait of the same run: its revision and
/// value then. Unchanged, it is dead at once in the next wait.
pub(super) type Silent = BTreeMap<String, (u64, String)>;

struct Seen {
    key: String,
    revision: u64,
    value: String,
    changed_at: Instant,
    heartbeat: Duration,
    /// Dead since an earlier wait and unchanged since.
    silent_before: bool,
    serving: bool,
    /// Why it does not serve the keys (when it does not).
    problem: String,
    confirmed_shown: bool,
    gone_shown: bool,
}

impl Seen {
    fn live(&self, now: Instant) -> bool {
        !self.silent_before
            && now.saturating_duration_since(self.changed_at) < self.heartbeat * LIVENESS_BEATS
    }
}

/// The routers of one `WaitRouter` step.
pub(super) struct RouterWatch {
    router_key: String,
    expected: Vec<(String, String)>,
    routers: BTreeMap<String, Seen>,
    /// The single key's problem when there are no registrations.
    single_problem: Option<String>,
}

impl RouterWatch {
    pub fn new(router_key: &str, expected: Vec<(String, String)>) -> RouterWatch {
        RouterWatch {
            router_key: router_key.to_string(),
            expected,
            routers: BTreeMap::new(),
            single_problem: None,
        }
    }

    fn serves(&self, report: &RouterReport) -> bool {
        report.serves(self.expected.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Takes one look; `silent` holds the registrations judged dead earlier in this run.
    pub fn observe(&mut self, now: Instant, look: Look, silent: &Silent) -> Progress {
        match look {
            Look::Single(entry) => {
                self.routers.clear();
                let key = &self.router_key;
                let problem = match entry {
                    None => Some(format!("no report in {key}")),
                    Some(e) => match serde_json::from_str::<RouterReport>(&e.value) {
                        Ok(report) if self.serves(&report) => None,
                        Ok(_) => Some("still serving the previous keys".to_string()),
                        Err(err) => Some(format!("unreadable report in {key}: {err}")),
                    },
                };
                let done = problem.is_none();
                self.single_problem = problem;
                Progress {
                    done,
                    ..Progress::default()
                }
            }
            Look::Registered(entries) => {
                self.single_problem = None;
                self.observe_registered(now, entries, silent)
            }
        }
    }

    fn observe_registered(
        &mut self,
        now: Instant,
        entries: Vec<KvEntry>,
        silent: &Silent,
    ) -> Progress {
        let prefix = format!("{}/", self.router_key);
        let mut progress = Progress::default();
        let mut present = Vec::new();
        for entry in entries {
            let Some(id) = entry.key.strip_prefix(&prefix).map(str::to_string) else {
                continue;
            };
            if id.is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<RouterReport>(&entry.value);
            let (serving, problem, heartbeat) = match &parsed {
                Ok(report) => (
                    self.serves(report),
                    if report.keys.is_empty() {
                        "no keys served yet".to_string()
                    } else {
                        "still serving the previous keys".to_string()
                    },
                    report
                        .heartbeat_ms
                        .map_or(DEFAULT_HEARTBEAT, Duration::from_millis)
                        .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT),
                ),
                Err(e) => (false, format!("unreadable report: {e}"), DEFAULT_HEARTBEAT),
            };
            present.push(id.clone());
            match self.routers.get_mut(&id) {
                Some(seen) => {
                    if seen.revision != entry.revision || seen.value != entry.value {
                        if !seen.live(now) && seen.gone_shown {
                            progress.back.push(id.clone());
                            seen.gone_shown = false;
                        }
                        seen.revision = entry.revision;
                        seen.value = entry.value;
                        seen.changed_at = now;
                        seen.silent_before = false;
                    }
                    seen.heartbeat = heartbeat;
                    seen.serving = serving;
                    seen.problem = problem;
                }
                None => {
                    let silent_before = silent
                        .get(&entry.key)
                        .is_some_and(|(r, v)| *r == entry.revision && *v == entry.value);
                    self.routers.insert(
                        id.clone(),
                        Seen {
                            key: entry.key,
                            revision: entry.revision,
                            value: entry.value,
                            changed_at: now,
                            heartbeat,
                            silent_before,
                            serving,
                            problem,
                            confirmed_shown: false,
                            // Already reported in this run.
                            gone_shown: silent_before,
                        },
                    );
                }
            }
        }
        // A registration that vanished belongs to a router that stopped cleanly.
        self.routers.retain(|id, _| present.contains(id));

        for (id, seen) in &mut self.routers {
            if seen.serving && !seen.confirmed_shown {
                seen.confirmed_shown = true;
                progress.confirmed.push(id.clone());
            }
            if !seen.serving && !seen.live(now) && !seen.gone_shown {
                seen.gone_shown = true;
                progress.gone.push(Gone {
                    id: id.clone(),
                    key: seen.key.clone(),
                    silent: now.saturating_duration_since(seen.changed_at),
                    heartbeat: seen.heartbeat,
                });
            }
        }
        progress.done = self.routers.values().any(|s| s.serving)
            && self.routers.values().all(|s| s.serving || !s.live(now));
        progress
    }

    /// The registrations judged dead, to remember for the next wait of this run.
    pub fn silent(&self, now: Instant) -> Silent {
        self.routers
            .values()
            .filter(|s| !s.serving && !s.live(now))
            .map(|s| (s.key.clone(), (s.revision, s.value.clone())))
            .collect()
    }

    /// Why the wait is not over, naming each router that has not confirmed.
    pub fn pending(&self, now: Instant) -> String {
        if let Some(problem) = &self.single_problem {
            return problem.clone();
        }
        if self.routers.is_empty() {
            return format!("no router registered under {}/", self.router_key);
        }
        let waiting: Vec<String> = self
            .routers
            .iter()
            .filter(|(_, s)| !s.serving && s.live(now))
            .map(|(id, s)| format!("router {id}: {}", s.problem))
            .collect();
        if !waiting.is_empty() {
            return format!("not confirmed by {}", waiting.join("; "));
        }
        let dead: Vec<String> = self
            .routers
            .iter()
            .filter(|(_, s)| !s.serving)
            .map(|(id, s)| format!("router {id}: {}, not live", s.problem))
            .collect();
        format!("no live router serves them ({})", dead.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn expected() -> Vec<(String, String)> {
        vec![("web-active-zone".into(), "green".into())]
    }

    fn entry(id: &str, revision: u64, zone: &str, beat: u64, heartbeat_ms: u64) -> KvEntry {
        let report = RouterReport {
            keys: [("web-active-zone".to_string(), zone.to_string())].into(),
            id: Some(id.into()),
            heartbeat_ms: Some(heartbeat_ms),
            beat: Some(beat),
            ..RouterReport::default()
        };
        KvEntry {
            key: format!("web-router/{id}"),
            value: serde_json::to_string(&report).unwrap_or_default(),
            revision,
        }
    }

    #[test]
    fn every_live_router_must_serve_the_keys() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        let p = w.observe(
            t0,
            Look::Registered(vec![
                entry("lb1", 1, "green", 1, 1000),
                entry("lb2", 2, "blue", 1, 1000),
            ]),
            &none,
        );
        assert!(!p.done);
        assert_eq!(p.confirmed, vec!["lb1".to_string()]);
        assert!(
            w.pending(t0).contains("router lb2: still serving"),
            "{}",
            w.pending(t0)
        );
        assert!(!w.pending(t0).contains("lb1"), "{}", w.pending(t0));
        // lb2 beats and reloads: done.
        let p = w.observe(
            t0 + SEC,
            Look::Registered(vec![
                entry("lb1", 3, "green", 2, 1000),
                entry("lb2", 4, "green", 2, 1000),
            ]),
            &none,
        );
        assert!(p.done);
        assert_eq!(p.confirmed, vec!["lb2".to_string()]);
    }

    #[test]
    fn a_registration_unchanged_for_three_heartbeats_is_dead() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        let dead = entry("lb2", 2, "blue", 7, 1000);
        let look =
            |t: u64| Look::Registered(vec![entry("lb1", 10 + t, "green", t, 1000), dead.clone()]);
        for t in 0..3 {
            let p = w.observe(t0 + t as u32 * SEC, look(t), &none);
            assert!(!p.done, "still live after {t}s");
            assert!(p.gone.is_empty());
        }
        let p = w.observe(t0 + 3 * SEC, look(3), &none);
        assert!(p.done, "lb2 is dead after 3 heartbeats: not waited for");
        assert_eq!(
            p.gone,
            vec![Gone {
                id: "lb2".into(),
                key: "web-router/lb2".into(),
                silent: 3 * SEC,
                heartbeat: SEC,
            }]
        );
        // Remembered: in the next wait of the run it is dead at once, and not reported again.
        let silent = w.silent(t0 + 3 * SEC);
        let mut next = RouterWatch::new("web-router", expected());
        let p = next.observe(t0 + 4 * SEC, look(4), &silent);
        assert!(p.done);
        assert!(p.gone.is_empty());
        // Its registration changes: it is live again and waited for.
        let back = Look::Registered(vec![
            entry("lb1", 20, "green", 5, 1000),
            entry("lb2", 21, "blue", 8, 1000),
        ]);
        let p = next.observe(t0 + 5 * SEC, back, &silent);
        assert!(!p.done);
        assert_eq!(p.back, vec!["lb2".to_string()]);
    }

    #[test]
    fn the_heartbeat_of_each_router_sets_its_window() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        let look = || {
            Look::Registered(vec![
                entry("fast", 1, "green", 1, 1000),
                entry("slow", 2, "blue", 1, 10_000),
            ])
        };
        w.observe(t0, look(), &none);
        // Neither changed for 10s: 10 heartbeats of `fast` but only one of `slow`.
        let p = w.observe(t0 + 10 * SEC, look(), &none);
        assert!(!p.done, "slow is live for 30s");
        let p = w.observe(t0 + 30 * SEC, look(), &none);
        assert!(p.done);
        assert_eq!(p.gone.len(), 1);
    }

    #[test]
    fn dead_routers_alone_do_not_end_the_wait() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let look = || Look::Registered(vec![entry("lb1", 1, "blue", 1, 1000)]);
        w.observe(t0, look(), &Silent::new());
        let p = w.observe(t0 + 5 * SEC, look(), &Silent::new());
        assert!(!p.done, "nobody serves the new keys");
        assert_eq!(p.gone.len(), 1);
        let why = w.pending(t0 + 5 * SEC);
        assert!(why.contains("no live router"), "{why}");
        assert!(why.contains("lb1"), "{why}");
    }

    #[test]
    fn a_router_that_deregisters_is_not_waited_for() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        let both = Look::Registered(vec![
            entry("lb1", 1, "green", 1, 1000),
            entry("lb2", 2, "blue", 1, 1000),
        ]);
        assert!(!w.observe(t0, both, &none).done);
        let one = Look::Registered(vec![entry("lb1", 3, "green", 2, 1000)]);
        assert!(w.observe(t0 + SEC, one, &none).done);
    }

    #[test]
    fn without_registrations_the_single_key_decides() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        assert!(!w.observe(t0, Look::Single(None), &none).done);
        assert_eq!(w.pending(t0), "no report in web-router");
        let mut old = entry("x", 1, "green", 1, 1000);
        old.key = "web-router".into();
        // An older router's report: no id, no heartbeat.
        old.value = r#"{"keys":{"web-active-zone":"green"}}"#.into();
        assert!(w.observe(t0, Look::Single(Some(old)), &none).done);
    }

    #[test]
    fn a_broken_heartbeat_is_bounded() {
        let t0 = Instant::now();
        let mut w = RouterWatch::new("web-router", expected());
        let none = Silent::new();
        let look = || {
            Look::Registered(vec![
                entry("lb1", 1, "green", 1, 1000),
                entry("zero", 2, "blue", 1, 0),
            ])
        };
        assert!(!w.observe(t0, look(), &none).done, "live for 3 x 100ms");
        assert!(w.observe(t0 + SEC, look(), &none).done);
    }
}
