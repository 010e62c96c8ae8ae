//! Sending notifications in the background: one queue and one task per webhook, so a slow
//! receiver holds up neither the run nor the other webhooks, and each receiver gets its
//! notifications in order. Failed attempts (no answer, a 5xx, a 429) are retried with back-off;
//! a 4xx is not (the request itself is wrong). What could not be sent becomes a warning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::message::Notice;
use crate::spec::env_refs;
use crate::spec::model::{NotifyEvent, NotifyTarget};
use crate::spec::notify::url_problem;

/// How long the end of a run waits for the queues to empty: the last notifications (rolled
/// back, done) usually go out, a dead receiver delays the exit by this much at most.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The waits between attempts: `first`, then doubling, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// 1s, 2s, 4s, ... up to 30s.
    pub const DEFAULT: Backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    /// The wait before retry number `retry` (from 1).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth another attempt: no answer in time, no connection, a 5xx or a 429.
    Failed(String),
    /// The receiver refused the request (a 4xx): the same request would be refused again.
    Refused(String),
}

/// What an answer with `status` means for the notification.
pub fn judge(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        // Too many requests, or the receiver's own trouble: it may take it a moment later.
        429 | 500..=599 => Attempt::Failed(format!("answered {status}")),
        _ => Attempt::Refused(format!("answered {status}")),
    }
}

/// One webhook's queue and the task that empties it.
struct Queue {
    events: Vec<NotifyEvent>,
    shown: String,
    sender: mpsc::UnboundedSender<Notice>,
    /// Notices queued and not yet handled (sent or given up).
    pending: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// The background delivery of a run's notifications.
pub struct Delivery {
    queues: Vec<Queue>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Delivery {
    /// Starts one task per webhook on the current runtime, with the `${NAME}` of each URL
    /// filled in from `env`. A webhook whose URL cannot be filled in (a variable not set, a
    /// value that is no http(s) URL) gets nothing, with a warning at once.
    pub fn start(
        targets: &[NotifyTarget],
        env: &HashMap<String, String>,
        backoff: Backoff,
    ) -> Delivery {
        let mut skipped = Vec::new();
        let targets: Vec<NotifyTarget> = targets
            .iter()
            .filter_map(|target| match filled(target, env) {
                Ok(target) => Some(target),
                Err(why) => {
                    skipped.push(format!(
                        "the webhook {} gets no notifications: {why}",
                        target.shown()
                    ));
                    None
                }
            })
            .collect();
        let warnings = Arc::new(Mutex::new(skipped));
        // No redirects: a webhook that moves is a 3xx to fix in the spec, not a place to send
        // the body to.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let queues = targets
            .iter()
            .map(|target| {
                let (sender, receiver) = mpsc::unbounded_channel();
                let pending = Arc::new(AtomicUsize::new(0));
                let task = tokio::spawn(run_queue(
                    client.clone(),
                    target.clone(),
                    backoff,
                    receiver,
                    pending.clone(),
                    warnings.clone(),
                ));
                Queue {
                    events: target.events.clone(),
                    shown: target.shown(),
                    sender,
                    pending,
                    task,
                }
            })
            .collect();
        Delivery { queues, warnings }
    }

    /// True when some webhook wants `event` (so the body is worth building).
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.queues.iter().any(|q| q.events.contains(&event))
    }

    /// Queues `notice` for every webhook that wants it; never waits.
    pub fn enqueue(&self, notice: &Notice) {
        for queue in self
            .queues
            .iter()
            .filter(|q| q.events.contains(&notice.event))
        {
            queue.pending.fetch_add(1, Ordering::SeqCst);
            if queue.sender.send(notice.clone()).is_err() {
                queue.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// The warnings of failed deliveries since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Closes the queues and waits at most `limit` for them to empty; what is left is
    /// dropped, with a warning per webhook. Returns every warning not taken yet.
    pub async fn drain(self, limit: Duration) -> Vec<String> {
        let Delivery { queues, warnings } = self;
        let mut tasks = Vec::with_capacity(queues.len());
        let mut left = Vec::with_capacity(queues.len());
        for queue in queues {
            drop(queue.sender);
            tasks.push(queue.task);
            left.push((queue.shown, queue.pending));
        }
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let finished = tokio::time::timeout(limit, join_all(tasks)).await.is_ok();
        let mut warnings = warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        if !finished {
            for abort in aborts {
                abort.abort();
            }
            for (shown, pending) in left {
                let n = pending.load(Ordering::SeqCst);
                if n > 0 {
                    warnings.push(format!(
                        "{n} {} to {shown} not sent: no answer within the {} the end of a run waits",
                        if n == 1 { "notification" } else { "notifications" },
                        crate::spec::duration::format(limit)
                    ));
                }
            }
        }
        warnings
    }
}

/// `target` with its URL's `${NAME}` filled in from `env`. The error never holds the URL.
fn filled(target: &NotifyTarget, env: &HashMap<String, String>) -> Result<NotifyTarget, String> {
    if !env_refs::has_refs(&target.url) {
        return Ok(target.clone());
    }
    let url = env_refs::expand(&target.url, |name| env.get(name).cloned())?;
    if let Some(problem) = url_problem(&url) {
        return Err(format!(
            "its URL, once filled in, is not an http(s) URL: {problem}"
        ));
    }
    Ok(NotifyTarget {
        url,
        ..target.clone()
    })
}

async fn run_queue(
    client: reqwest::Client,
    target: NotifyTarget,
    backoff: Backoff,
    mut receiver: mpsc::UnboundedReceiver<Notice>,
    pending: Arc<AtomicUsize>,
    warnings: Arc<Mutex<Vec<String>>>,
) {
    while let Some(notice) = receiver.recv().await {
        let result = deliver(&client, &target, backoff, &notice).await;
        pending.fetch_sub(1, Ordering::SeqCst);
        if let Err(why) = result
            && let Ok(mut w) = warnings.lock()
        {
            w.push(format!(
                "notification `{}` to {} not sent: {why}",
                notice.event,
                target.shown()
            ));
        }
    }
}

/// Sends one notice, retrying as the target allows. `Err` says why it was not delivered.
pub async fn deliver(
    client: &reqwest::Client,
    target: &NotifyTarget,
    backoff: Backoff,
    notice: &Notice,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..=target.retries {
        if attempt > 0 {
            tokio::time::sleep(backoff.delay(attempt)).await;
        }
        match post(client, target, notice).await {
            Attempt::Delivered => return Ok(()),
            Attempt::Refused(why) => return Err(format!("{why}; not retried")),
            Attempt::Failed(why) => last = why,
        }
    }
    let attempts = target.retries + 1;
    Err(format!("{last} ({attempts} attempts)"))
}

async fn post(client: &reqwest::Client, target: &NotifyTarget, notice: &Notice) -> Attempt {
    let sent = client
        .post(&target.url)
        .json(&notice.body)
        .timeout(target.timeout)
        .send()
        .await;
    match sent {
        Ok(response) => judge(response.status().as_u16()),
        Err(e) if e.is_timeout() => Attempt::Failed(format!(
            "no answer within {}",
            crate::spec::duration::format(target.timeout)
        )),
        Err(e) => Attempt::Failed(without_url(&e)),
    }
}

/// The error and its causes, without the URL that reqwest puts in its message (it may hold the
/// webhook's token).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "the request failed".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    use serde_json::json;

    use super::*;

    #[test]
    fn back_off_doubles_from_the_first_wait_up_to_its_cap() {
        let b = Backoff::DEFAULT;
        let waits: Vec<u64> = (1..=7).map(|r| b.delay(r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(200), Duration::from_secs(30), "no overflow");
    }

    #[test]
    fn only_no_answer_5xx_and_429_are_retried() {
        assert_eq!(judge(200), Attempt::Delivered);
        assert_eq!(judge(204), Attempt::Delivered);
        assert_eq!(judge(503), Attempt::Failed("answered 503".into()));
        assert_eq!(judge(429), Attempt::Failed("answered 429".into()));
        assert_eq!(judge(404), Attempt::Refused("answered 404".into()));
        assert_eq!(judge(301), Attempt::Refused("answered 301".into()));
    }

    /// A receiver that answers `statuses` in turn (the last one from then on), recording when
    /// each request came.
    fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Instant>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let times = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(clone);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if let Ok(mut t) = times.lock() {
                    t.push(Instant::now());
                }
                let status = statuses.get(n).or(statuses.last()).copied().unwrap_or(200);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        (format!("http://{addr}/hook/secret-token"), seen)
    }

    fn target(url: &str, retries: u32) -> NotifyTarget {
        NotifyTarget {
            url: url.to_string(),
            events: vec![NotifyEvent::Done],
            timeout: Duration::from_secs(2),
            retries,
        }
    }

    fn done() -> Notice {
        Notice {
            event: NotifyEvent::Done,
            body: json!({"event": "done", "text": "shipctl: shop/web 1.1.0 done"}),
        }
    }

    const FAST: Backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };

    #[tokio::test]
    async fn a_5xx_is_retried_after_the_back_off() {
        let (url, seen) = receiver(vec![503, 502, 200]);
        let client = reqwest::Client::new();
        let result = deliver(&client, &target(&url, 3), FAST, &done()).await;
        assert_eq!(result, Ok(()));
        let times = seen.lock().map(|t| t.clone()).unwrap_or_default();
        assert_eq!(times.len(), 3, "two failures, then delivered");
        // 50 ms, then 100 ms between the attempts.
        assert!(times[1] - times[0] >= Duration::from_millis(50));
        assert!(times[2] - times[1] >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_4xx_is_not_retried_and_retries_run_out() {
        let (url, seen) = receiver(vec![404]);
        let client = reqwest::Client::new();
        let result = deliver(&client, &target(&url, 3), FAST, &done()).await;
        assert_eq!(result, Err("answered 404; not retried".to_string()));
        assert_eq!(seen.lock().map(|t| t.len()).unwrap_or(0), 1);

        let (url, seen) = receiver(vec![500]);
        let result = deliver(&client, &target(&url, 2), FAST, &done()).await;
        assert_eq!(result, Err("answered 500 (3 attempts)".to_string()));
        assert_eq!(seen.lock().map(|t| t.len()).unwrap_or(0), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_drain_gives_up_on_a_silent_receiver_without_showing_its_url() {
        // Accepts, never answers.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/services/T0/B0/secret-token",
            listener.local_addr().expect("addr")
        );
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        let mut silent = target(&url, 3);
        silent.timeout = Duration::from_secs(10);
        let delivery = Delivery::start(&[silent], &HashMap::new(), FAST);
        delivery.enqueue(&done());
        delivery.enqueue(&done());
        let started = Instant::now();
        let warnings = delivery.drain(Duration::from_millis(300)).await;
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(1), "waited {waited:?}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("2 notifications to http://127.0.0.1:"));
        assert!(warnings[0].contains("/… not sent"), "{}", warnings[0]);
        assert!(!warnings[0].contains("secret-token"), "{}", warnings[0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_connection_is_a_warning_without_the_url() {
        // A port nobody listens on: bound, then closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let url = format!("http://127.0.0.1:{port}/hook/secret-token");
        let delivery = Delivery::start(&[target(&url, 1)], &HashMap::new(), FAST);
        delivery.enqueue(&done());
        let warnings = delivery.drain(Duration::from_secs(5)).await;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(&format!(
                "notification `done` to http://127.0.0.1:{port}/… not sent:"
            )),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].ends_with("(2 attempts)"), "{}", warnings[0]);
        assert!(!warnings[0].contains("secret-token"), "{}", warnings[0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_url_from_the_environment_is_filled_in_and_a_missing_one_said_at_once() {
        let (url, seen) = receiver(vec![200]);
        // The whole URL in one variable, as a CI secret holds a Slack webhook.
        let from_env = target("${HOOK_URL}", 1);
        let unset = target("https://hooks.example/${UNSET_HOOK_PATH}", 1);
        let wrong = target("${NOT_A_URL}", 1);
        let env = HashMap::from([
            ("HOOK_URL".to_string(), format!("{url}/secret-token")),
            (
                "NOT_A_URL".to_string(),
                "hooks.example/secret-token".to_string(),
            ),
        ]);
        let delivery = Delivery::start(&[from_env, unset, wrong], &env, FAST);
        let warnings = delivery.take_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(
            warnings[0],
            "the webhook https://hooks.example/… gets no notifications: the environment \
             variable UNSET_HOOK_PATH is not set: set it where shipctl runs"
        );
        assert!(
            warnings[1].starts_with("the webhook ${NOT_A_URL} gets no notifications: its URL"),
            "{}",
            warnings[1]
        );
        assert!(!warnings.concat().contains("secret-token"), "{warnings:?}");
        delivery.enqueue(&done());
        let left = delivery.drain(Duration::from_secs(5)).await;
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(seen.lock().map(|t| t.len()).unwrap_or(0), 1);
    }
}
