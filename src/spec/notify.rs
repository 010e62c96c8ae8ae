//! Webhook notifications in the spec (`notify:`): where each phase of a run is POSTed as JSON.
//!
//! ```yaml
//! notify:
//!   - url: https://hooks.slack.com/services/T000/B000/XXXX
//!     events: [started, analysis_failed, switched, rolled_back, paused, done, failed]
//!     timeout: 5s      # per attempt
//!     retries: 3       # after the first attempt, 1s, 2s, 4s apart
//! ```
//!
//! A webhook URL often is the secret itself (Slack's carries its token in the path), so it is
//! only ever shown as `scheme://host/…` ([`shown_url`]), in messages and in plans alike, and it
//! may come from the environment: `url: ${SLACK_WEBHOOK_URL}`, filled in when the run starts.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::reader::SpecRead;
use crate::error::InputError;
use crate::yaml::{Node, Reader, Value, suggest};

const TARGET_KEYS: &[&str] = &["url", "events", "timeout", "retries"];

/// Per attempt, unless the spec says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// After the first attempt, unless the spec says otherwise.
pub const DEFAULT_RETRIES: u32 = 3;
/// More would only wait for a receiver that the end of the run no longer waits for.
pub const MAX_RETRIES: u32 = 10;

/// One phase of a run that can be notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A service's deploy began (its plan starts).
    Started,
    /// A step of the plan finished (opt-in: one per step).
    Step,
    /// The new zone failed its analysis.
    AnalysisFailed,
    /// The keys point at the new zone.
    Switched,
    /// A failed deploy was undone (or the rollback could not finish: `ok: false`).
    RolledBack,
    /// The run stopped and waits: a canary awaiting `promote`, `on_failure: pause`.
    Paused,
    /// The run ended and the service serves its new version.
    Done,
    /// The run ended without reaching its target (rolled back, needs attention, interrupted).
    Failed,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 8] = [
        NotifyEvent::Started,
        NotifyEvent::Step,
        NotifyEvent::AnalysisFailed,
        NotifyEvent::Switched,
        NotifyEvent::RolledBack,
        NotifyEvent::Paused,
        NotifyEvent::Done,
        NotifyEvent::Failed,
    ];

    /// Every event but `step`, which is chatty.
    pub fn defaults() -> Vec<NotifyEvent> {
        NotifyEvent::ALL
            .into_iter()
            .filter(|e| *e != NotifyEvent::Step)
            .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Started => "started",
            NotifyEvent::Step => "step",
            NotifyEvent::AnalysisFailed => "analysis_failed",
            NotifyEvent::Switched => "switched",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::Paused => "paused",
            NotifyEvent::Done => "done",
            NotifyEvent::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One webhook and the events it gets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyTarget {
    /// Serialised as shown (`scheme://host/…`): the full URL may be the secret.
    #[serde(serialize_with = "serialize_shown")]
    pub url: String,
    pub events: Vec<NotifyEvent>,
    /// How long one attempt may take.
    #[serde(with = "crate::yaml::duration::serde_duration")]
    pub timeout: Duration,
    /// Attempts after the first, on no answer or a 5xx.
    pub retries: u32,
}

impl NotifyTarget {
    /// The URL as it may be printed.
    pub fn shown(&self) -> String {
        shown_url(&self.url)
    }

    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }

    /// One line for plans: `https://hooks.slack.com/… on started, switched (timeout 5s, 3
    /// retries)`.
    pub fn describe(&self) -> String {
        let events: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        format!(
            "{} on {} (timeout {}, {} {})",
            self.shown(),
            events.join(", "),
            crate::yaml::duration::format(self.timeout),
            self.retries,
            if self.retries == 1 {
                "retry"
            } else {
                "retries"
            }
        )
    }
}

// By hand, so that no `{:?}` of a spec prints the URL.
impl fmt::Debug for NotifyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyTarget")
            .field("url", &self.shown())
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

fn serialize_shown<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&shown_url(url))
}

/// `https://user:pw@hooks.slack.com/services/T0/B0/XX?x=1` -> `https://hooks.slack.com/…`:
/// the scheme, the host and its port, nothing that may carry a token (user info, path,
/// query). Text that is not such a URL is shown as `…` only.
pub fn shown_url(url: &str) -> String {
    // `${SLACK_WEBHOOK_URL}`: the variable's name is not the secret, its value is.
    if let Some(name_end) = url.strip_prefix("${").and_then(|rest| rest.find('}')) {
        let reference = &url[..name_end + 3];
        return if reference.len() == url.len() {
            reference.to_string()
        } else {
            format!("{reference}…")
        };
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // The last '@' ends the user info: a password may contain '@' itself.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = &rest[end..];
    if tail.is_empty() || tail == "/" {
        format!("{scheme}://{host}{tail}")
    } else {
        format!("{scheme}://{host}/…")
    }
}

/// Reads `notify:`: a list of webhooks.
pub(super) fn read_notify(r: &mut Reader, node: &Node) -> Vec<NotifyTarget> {
    let items = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items,
        _ => {
            r.error(
                InputError::new(
                    format!("`notify` must be a list of webhooks, found {}", node.kind()),
                    node.span.clone(),
                )
                .with_label("expected a list")
                .with_help("write it like `notify: [{url: https://hooks.example.com/deploys}]`"),
            );
            return Vec::new();
        }
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| read_target(r, item, &format!("notify[{i}]")))
        .collect()
}

fn read_target(r: &mut Reader, node: &Node, path: &str) -> Option<NotifyTarget> {
    let Some(map) = node.as_map() else {
        r.error(
            InputError::new(
                format!("`{path}` must be a mapping, found {}", node.kind()),
                node.span.clone(),
            )
            .with_label("expected a webhook")
            .with_help("a webhook is `- url: https://hooks.example.com/deploys`"),
        );
        return None;
    };
    r.known_keys(map, TARGET_KEYS, path);
    let Some(url_node) = map.get("url") else {
        r.error(
            InputError::new(format!("`{path}` has no `url`"), node.span.clone())
                .with_label("no `url` here")
                .with_help(
                    "name the endpoint to POST to: `url: https://hooks.example.com/deploys`",
                ),
        );
        return None;
    };
    let url = r.exact_string(
        url_node,
        &format!("{path}.url"),
        "url: https://hooks.example.com/deploys",
    )?;
    super::env_refs::check(
        r,
        &url,
        url_node,
        &format!("{path}.url"),
        "url: ${SLACK_WEBHOOK_URL}",
    )?;
    // With `${NAME}` in it, the URL is checked as far as it is written here (the rest when it
    // is filled in, before the run's first notification).
    let checked = super::env_refs::expand(&url, |_| Some("x".to_string())).unwrap_or_default();
    let problem = if url.starts_with("${") {
        None
    } else {
        url_problem(&checked)
    };
    if let Some(problem) = problem {
        r.error(
            InputError::new(
                format!("`{path}.url` is not an http(s) URL: {problem}"),
                url_node.span.clone(),
            )
            .with_label(problem)
            .with_help(
                "give the webhook's full address, e.g. `url: https://hooks.slack.com/services/...`",
            ),
        );
        return None;
    }
    // Each setting read before giving up, so every mistake is reported at once.
    let events = match map.get("events") {
        Some(n) => read_events(r, n, &format!("{path}.events")),
        None => Some(NotifyEvent::defaults()),
    };
    let timeout = match map.get("timeout") {
        Some(n) => r.positive_duration(n, &format!("{path}.timeout")),
        None => Some(DEFAULT_TIMEOUT),
    };
    let retries = match map.get("retries") {
        Some(n) => read_retries(r, n, &format!("{path}.retries")),
        None => Some(DEFAULT_RETRIES),
    };
    Some(NotifyTarget {
        url,
        events: events?,
        timeout: timeout?,
        retries: retries?,
    })
}

/// What is wrong with `url`, if anything: an absolute http(s) URL with a host is wanted. The
/// answer never repeats the URL: it may hold a token.
pub fn url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Err(e) => Some(format!("not a URL ({e})")),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("`{}://` is not http or https", u.scheme()))
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("no host".to_string()),
        Ok(_) => None,
    }
}

fn read_events(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<NotifyEvent>> {
    let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
    let Some(items) = node.as_seq() else {
        r.error(
            InputError::new(
                format!("`{path}` must be a list of events, found {}", node.kind()),
                node.span.clone(),
            )
            .with_label("expected a list")
            .with_help(format!(
                "write it like `events: [started, rolled_back, done]`; events: {}",
                names.join(", ")
            )),
        );
        return None;
    };
    if items.is_empty() {
        r.error(
            InputError::new(format!("`{path}` names no event"), node.span.clone())
                .with_label("nothing would be sent")
                .with_help(format!(
                    "name events (leave `events` out for all but `step`), or remove the webhook; \
                     events: {}",
                    names.join(", ")
                )),
        );
        return None;
    }
    let mut events = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let Some(text) = r.exact_string(item, &format!("{path}[]"), "started") else {
            ok = false;
            continue;
        };
        match NotifyEvent::parse(&text) {
            Some(e) if !events.contains(&e) => events.push(e),
            Some(_) => {}
            None => {
                ok = false;
                // `rollback` is far from `rolled_back` by letters, not by meaning.
                let stem: String = text.chars().take(4).collect();
                let close = suggest(&text, &names)
                    .or_else(|| names.iter().copied().find(|n| n.starts_with(&stem)));
                let help = match close {
                    Some(best) => format!("did you mean `{best}`? Events: {}", names.join(", ")),
                    None => format!("events: {}", names.join(", ")),
                };
                r.error(
                    InputError::new(
                        format!("unknown event `{text}` in `{path}`"),
                        item.span.clone(),
                    )
                    .with_label("not an event")
                    .with_help(help),
                );
            }
        }
    }
    ok.then_some(events)
}

fn read_retries(r: &mut Reader, node: &Node, path: &str) -> Option<u32> {
    let n = r.exact_uint(node, path, 1, "retries: 3")?;
    match u32::try_from(n) {
        Ok(n) if n <= MAX_RETRIES => Some(n),
        _ => {
            r.error(
                InputError::new(
                    format!("`{path}` must be at most {MAX_RETRIES}, found {n}"),
                    node.span.clone(),
                )
                .with_label(format!("at most {MAX_RETRIES}"))
                .with_help(
                    "retries wait 1s, 2s, 4s, ... apart; the end of a run waits only a few \
                     seconds for them: `retries: 3`",
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::spec::parse_str;

    fn only_error(text: &str) -> crate::error::InputError {
        match parse_str("shipctl.yaml", text) {
            Err(Error::Input(e)) => *e,
            other => panic!("expected one input error for {text:?}, got {other:?}"),
        }
    }

    fn location(e: &crate::error::InputError) -> String {
        e.span.as_ref().map(|s| s.location()).unwrap_or_default()
    }

    #[test]
    fn a_webhook_reads_with_its_defaults_and_its_own_settings() {
        let spec = parse_str(
            "shipctl.yaml",
            "notify:\n  - url: https://hooks.slack.com/services/T000/B000/XXXX\n  - url: http://127.0.0.1:9000/deploys\n    events: [started, step, rolled_back, done]\n    timeout: 2s\n    retries: 1\n",
        )
        .expect("valid spec");
        assert_eq!(spec.notify.len(), 2);
        let slack = &spec.notify[0];
        assert_eq!(slack.url, "https://hooks.slack.com/services/T000/B000/XXXX");
        assert_eq!(slack.events, NotifyEvent::defaults());
        assert!(!slack.wants(NotifyEvent::Step) && slack.wants(NotifyEvent::RolledBack));
        assert_eq!((slack.timeout, slack.retries), (Duration::from_secs(5), 3));
        let own = &spec.notify[1];
        assert_eq!(
            own.events,
            [
                NotifyEvent::Started,
                NotifyEvent::Step,
                NotifyEvent::RolledBack,
                NotifyEvent::Done
            ]
        );
        assert_eq!((own.timeout, own.retries), (Duration::from_secs(2), 1));
        assert_eq!(
            own.describe(),
            "http://127.0.0.1:9000/… on started, step, rolled_back, done (timeout 2s, 1 retry)"
        );
        // Nothing set: no webhook.
        assert!(
            parse_str("s.yaml", "notify:\n")
                .expect("valid")
                .notify
                .is_empty()
        );
    }

    #[test]
    fn a_bad_url_is_named_with_its_line_and_not_repeated() {
        let e =
            only_error("project: shop\nnotify:\n  - url: ftp://files.example.com/secret-token\n");
        assert_eq!(location(&e), "shipctl.yaml:3:10");
        assert!(
            e.message.contains("`notify[0].url` is not an http(s) URL"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("`ftp://` is not http or https"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("secret-token"), "{}", e.message);
        assert!(e.help.as_deref().unwrap_or("").contains("url: https://"));

        let e = only_error("notify:\n  - url: hooks.slack.com/services/T0\n");
        assert_eq!(location(&e), "shipctl.yaml:2:10");
        assert!(e.message.contains("not a URL"), "{}", e.message);

        let e = only_error("notify:\n  - events: [done]\n");
        assert!(
            e.message.contains("`notify[0]` has no `url`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_unknown_event_is_named_with_a_suggestion() {
        let e = only_error(
            "notify:\n  - url: https://h.example/x\n    events: [started, rollback, done]\n",
        );
        assert_eq!(location(&e), "shipctl.yaml:3:23");
        assert_eq!(e.message, "unknown event `rollback` in `notify[0].events`");
        let help = e.help.unwrap_or_default();
        assert!(help.starts_with("did you mean `rolled_back`?"), "{help}");

        let e = only_error("notify:\n  - url: https://h.example/x\n    events: []\n");
        assert!(e.message.contains("names no event"), "{}", e.message);
        let e = only_error("notify:\n  url: https://h.example/x\n");
        assert!(
            e.message.contains("must be a list of webhooks"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_mistake_of_a_webhook_is_reported_at_once() {
        let text = "notify:\n  - url: https://h.example/x\n    events: [rollback]\n    timeout: 0s\n    retries: 0\n";
        match parse_str("shipctl.yaml", text) {
            Err(Error::Inputs(errors)) => assert_eq!(errors.len(), 3, "{errors:?}"),
            other => panic!("expected three errors, got {other:?}"),
        }
    }

    #[test]
    fn zero_retries_or_timeout_are_refused_with_their_line() {
        let e = only_error("notify:\n  - url: https://h.example/x\n    retries: 0\n");
        assert_eq!(location(&e), "shipctl.yaml:3:14");
        assert_eq!(e.message, "`notify[0].retries` must be at least 1, found 0");
        let e = only_error("notify:\n  - url: https://h.example/x\n    retries: 50\n");
        assert!(e.message.contains("at most 10"), "{}", e.message);
        let e = only_error("notify:\n  - url: https://h.example/x\n    timeout: 0s\n");
        assert_eq!(location(&e), "shipctl.yaml:3:14");
        assert_eq!(e.message, "`notify[0].timeout` must be longer than 0");
        let e = only_error("notify:\n  - url: https://h.example/x\n    retrys: 2\n");
        assert!(e.message.contains("unknown key `retrys`"), "{}", e.message);
        assert!(
            e.help
                .unwrap_or_default()
                .contains("did you mean `retries`")
        );
    }

    #[test]
    fn a_url_may_come_from_the_environment_and_its_references_are_checked() {
        let spec = parse_str(
            "shipctl.yaml",
            "notify:\n  - url: ${SLACK_WEBHOOK_URL}\n  - url: https://hooks.slack.com/services/${SLACK_PATH}\n",
        )
        .expect("valid spec");
        assert_eq!(spec.notify[0].url, "${SLACK_WEBHOOK_URL}");
        assert_eq!(spec.notify[0].shown(), "${SLACK_WEBHOOK_URL}");
        assert_eq!(spec.notify[1].shown(), "https://hooks.slack.com/…");
        let e = only_error("notify:\n  - url: https://h.example/${SLACK-PATH}\n");
        assert!(e.message.contains("`notify[0].url`"), "{}", e.message);
        assert!(e.message.contains("SLACK-PATH"), "{}", e.message);
        assert_eq!(location(&e), "shipctl.yaml:2:10");
        let e = only_error("notify:\n  - url: https://h.example/${SLACK_PATH\n");
        assert!(e.message.contains("closing `}`"), "{}", e.message);
        // What is written besides the references is still checked.
        let e = only_error("notify:\n  - url: ftp://h.example/${SLACK_PATH}\n");
        assert!(e.message.contains("not an http(s) URL"), "{}", e.message);
    }

    #[test]
    fn urls_are_shown_as_scheme_and_host_only() {
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            shown_url("http://user:p@ss@127.0.0.1:8080/hook?token=abc"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(
            shown_url("https://h.example?token=abc"),
            "https://h.example/…"
        );
        assert_eq!(shown_url("https://h.example/"), "https://h.example/");
        assert_eq!(shown_url("https://h.example"), "https://h.example");
        assert_eq!(shown_url("no-scheme/secret"), "…");
        assert_eq!(shown_url("${HOOK}"), "${HOOK}");
        assert_eq!(shown_url("${BASE}/hook/secret"), "${BASE}…");
        let target = NotifyTarget {
            url: "https://hooks.slack.com/services/T000/B000/XXXX".into(),
            events: vec![NotifyEvent::Done],
            timeout: DEFAULT_TIMEOUT,
            retries: 1,
        };
        let debug = format!("{target:?}");
        let json = serde_json::to_string(&target).unwrap_or_default();
        for shown in [&debug, &json, &target.describe()] {
            assert!(!shown.contains("XXXX"), "{shown}");
            assert!(shown.contains("https://hooks.slack.com/…"), "{shown}");
        }
    }
}
