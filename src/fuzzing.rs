//! Entry points of the fuzz targets (`fuzz/`), shared with their regression test
//! (`tests/fuzz_corpus.rs`) so that both run the same code.
//!
//! Each function takes arbitrary bytes, feeds them to one parser the way shipctl does, and
//! panics only when shipctl would (a bug) or when an invariant of that parser fails. Errors
//! are expected answers: they are rendered as the user would see them, and dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use miette::{GraphicalReportHandler, GraphicalTheme};
use reqwest::StatusCode;

use crate::compose::{self, ComposeProject, LoadOptions};
use crate::error::Error;
use crate::kv;
use crate::plan::assume;
use crate::ports::{traffic, values};
use crate::spec::{self, Overrides, Spec};
use crate::yaml::{self, SourceFile};

/// A target's entry: any bytes in, a panic only for a bug.
pub type Entry = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/<name>.rs` and `fuzz/corpus/<name>/` call them.
pub const TARGETS: &[(&str, Entry)] = &[
    ("compose", compose),
    ("dotenv", dotenv),
    ("interpolate", interpolate),
    ("spec", spec),
    ("assume_state", assume_state),
    ("traffic", traffic),
    ("kv_response", kv_response),
    ("yaml_reader", yaml_reader),
];

/// Renders an error as the user sees it: spans must land inside the text they point into.
fn render(error: &Error) {
    let mut out = String::new();
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    // A rendering failure is miette's answer, not a panic: shipctl then prints the message.
    let _ = handler.render_report(&mut out, error);
}

/// A variable lookup that knows some names and not others, decided by the name alone.
fn lookup(name: &str) -> Option<String> {
    match name.len() % 3 {
        0 => Some(format!("<{name}>")),
        1 => Some(String::new()),
        _ => None,
    }
}

/// A whole compose file: written to a scratch directory and loaded as `-f compose.yaml` is
/// (parse, interpolate, paths, normalise, `extends`, `include`, conversion, validation).
pub fn compose(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // One directory per call: the regression test calls this from several threads.
    let dir = std::env::temp_dir().join(format!(
        "shipctl-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("compose.yaml");
    if std::fs::write(&path, text).is_ok() {
        let environment = HashMap::from([
            ("HOME".to_string(), dir.display().to_string()),
            ("TAG".to_string(), "1.4.2".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]);
        let options = LoadOptions {
            files: vec![path],
            environment,
            ..LoadOptions::default()
        };
        match compose::load(&options) {
            Ok(project) => {
                // What the loader accepts serialises (the plan and `--output json` do so).
                if let Err(e) = serde_json::to_string(&project) {
                    panic!("a loaded project does not serialise: {e}");
                }
            }
            Err(e) => render(&e),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `.env` file.
pub fn dotenv(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new(".env", text);
    match compose::dotenv::parse(&file, &lookup) {
        Ok(vars) => {
            // A later definition replaces an earlier one: each name comes back once. (An
            // empty name, `=value`, is taken as compose-go takes it.)
            let mut seen = std::collections::HashSet::new();
            for (name, _) in &vars {
                assert!(seen.insert(name), "`{name}` comes back twice from {text:?}");
            }
        }
        Err(e) => render(&Error::from(e)),
    }
}

/// One string value of a compose file.
pub fn interpolate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = compose::interpolate::variables(text);
    let result = compose::interpolate::interpolate(text, &lookup);
    if !text.contains('$') {
        assert_eq!(result.as_deref(), Ok(text), "text without `$` changed");
    }
    if let Err(e) = &result {
        let _ = e.to_string();
    }
    // `$$` is a literal `$`: any text, escaped, comes back as written.
    let escaped = text.replace('$', "$$");
    assert_eq!(
        compose::interpolate::interpolate(&escaped, &lookup).as_deref(),
        Ok(text),
        "escaped text did not come back"
    );
}

/// A strategy spec (`shipctl.yaml`), then the policy of each service it names.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match spec::parse_str("shipctl.yaml", text) {
        Ok(spec) => {
            let names: Vec<String> = spec
                .services
                .keys()
                .cloned()
                .chain(["web".to_string()])
                .collect();
            for name in names {
                for replicas in [None, Some(0), Some(3)] {
                    if let Err(e) = spec.resolve_policy(&name, &Overrides::default(), replicas) {
                        render(&e);
                    }
                }
            }
        }
        Err(e) => render(&e),
    }
}

/// A `--assume-state` value, then the observed state it describes for a small project.
pub fn assume_state(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let assumption = match assume::parse(text) {
        Ok(a) => a,
        Err(e) => return render(&e),
    };
    let mut project = ComposeProject::default();
    for (name, replicas) in [("web", Some(3)), ("api", None), ("db", Some(1))] {
        let mut service = compose::model::Service {
            name: name.to_string(),
            image: format!("{name}:1"),
            ..Default::default()
        };
        service.deploy.replicas = replicas;
        project.services.insert(name.to_string(), service);
    }
    let spec = Spec::default();
    match assumption.observed("shop", &project, &spec, &[]) {
        Ok(state) => {
            let zones: Vec<&str> = spec.zones.iter().map(String::as_str).collect();
            for (name, service) in &state.services {
                // What the planner takes for the keys' values passes the checks on reading them.
                if let Some(t) = &service.keys.traffic
                    && let Err(e) = traffic::check(t, &zones)
                {
                    panic!("`{name}` is assumed with traffic `{t}`, which is refused: {e}");
                }
            }
        }
        Err(e) => render(&e),
    }
}

/// A value read from the routing keys: traffic split, zone, version; and the split computed
/// from two replica counts (the first 16 bytes).
pub fn traffic(data: &[u8]) {
    let zones = ["blue".to_string(), "green".to_string()];
    let names = ["blue", "green"];
    if let Some((a, b)) = data.get(..16).and_then(|head| {
        Some((
            head.get(..8)?.try_into().ok()?,
            head.get(8..)?.try_into().ok()?,
        ))
    }) {
        let (a, b) = (u64::from_le_bytes(a), u64::from_le_bytes(b));
        let written = traffic::split(&zones, a, b);
        if a != 0 || b != 0 {
            assert!(
                traffic::check(&written, &names).is_ok(),
                "split({a}, {b}) wrote `{written}`, which is refused"
            );
        }
    }
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let _ = values::check_zone(value, &names);
    if values::check_version(value).is_ok() {
        assert!(values::is_image_tag(value));
        assert!(!value.contains(|c: char| c.is_control() || c.is_whitespace()));
    }
    let _ = traffic::shown(value);
    if traffic::check(value, &names).is_ok() {
        // A split that passes re-formats (as shipctl writes it) to one that reads the same.
        let a = traffic::share_of(value, "blue").unwrap_or(0);
        let b = traffic::share_of(value, "green").unwrap_or(0);
        assert_eq!(
            a.checked_add(b),
            Some(100),
            "`{value}` passes but its shares are {a} and {b}"
        );
        let again = traffic::split(&zones, a, b);
        assert!(
            traffic::check(&again, &names).is_ok(),
            "`{again}` is refused"
        );
        assert_eq!(
            (
                traffic::share_of(&again, "blue"),
                traffic::share_of(&again, "green")
            ),
            (Some(a), Some(b)),
            "`{value}` re-formatted as `{again}` reads differently"
        );
    }
}

/// An HTTP answer of a KV store. The first byte picks the decoder: Consul's `/v1/kv`
/// entries, or etcd's reply (with a status from the next two bytes), range, prefix list or
/// watch stream (after a start revision in the next eight bytes); the rest is the body.
pub fn kv_response(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let describe = "store";
    match which % 5 {
        0 => {
            if let Ok(entries) = kv::decode_consul_entries(describe, rest) {
                // Entries written back as Consul sends them decode to the same.
                let again: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|(e, session)| {
                        serde_json::json!({
                            "Key": e.key,
                            "Value": B64.encode(&e.value),
                            "Session": session,
                            "ModifyIndex": e.revision,
                        })
                    })
                    .collect();
                let body = serde_json::to_vec(&again).unwrap_or_default();
                let decoded = kv::decode_consul_entries(describe, &body);
                assert!(
                    decoded.as_ref().is_ok_and(|d| *d == entries),
                    "entries re-encoded decode differently: {entries:?} -> {:?}",
                    decoded.map_err(|e| e.to_string())
                );
            }
        }
        1 => {
            let Some((status, body)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let code = 100 + u16::from_le_bytes(*status) % 500;
            let Ok(status) = StatusCode::from_u16(code) else {
                return;
            };
            if let Err(e) = kv::decode_etcd_reply(describe, status, body) {
                let _ = e.to_string();
            }
        }
        2 | 3 => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return;
            };
            if which % 5 == 2 {
                let _ = kv::decode_etcd_range(&v);
            } else {
                let _ = kv::decode_etcd_list(&v);
            }
        }
        _ => {
            let Some((since, body)) = rest.split_first_chunk::<8>() else {
                return;
            };
            let since = u64::from_le_bytes(*since);
            let (outcome, consumed) = kv::decode_etcd_watch(describe, body, since, &[]);
            assert!(consumed <= body.len(), "read past the stream");
            if let Some(Err(e)) = outcome {
                let _ = e.to_string();
            }
        }
    }
}

/// Any text through the quick YAML reader and the full parser: where the quick reader reads
/// it, it must hand out the same events at the same places, and never read what the full
/// parser refuses.
pub fn yaml_reader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(difference) = yaml::compare_quick_reader(text) {
        panic!("{difference}");
    }
}
