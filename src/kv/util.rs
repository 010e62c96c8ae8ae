//! Small helpers the HTTP backends share.

use crate::ports::LockInfo;

/// Why a request failed, from the error's causes but without its URL: short, uniform, and
/// sure to hold no credentials.
pub(crate) fn request_failure(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// A response body as text for messages.
pub(crate) fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim().to_string()
}

/// The holder recorded in a lock key's value (written by `lock`).
pub(crate) fn parse_info(value: &str) -> LockInfo {
    serde_json::from_str(value).unwrap_or_else(|_| unknown_holder(value))
}

/// A holder we cannot name, with what we know instead.
pub(crate) fn unknown_holder(message: &str) -> LockInfo {
    LockInfo {
        owner: "unknown".into(),
        host: "unknown".into(),
        pid: 0,
        since: String::new(),
        message: Some(message.to_string()),
    }
}

/// How long to wait for a store's answer. The full timeout while it answers; once a request
/// timed out, a short one until it answers again, so that a run which already knows its store
/// hangs does not wait out every later request (progress, history, lock release) in full.
#[derive(Default)]
pub(crate) struct Patience {
    hung: std::sync::atomic::AtomicBool,
}

/// The timeout for requests to a store that just failed to answer in time.
const SUSPECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Patience {
    pub(crate) fn timeout(&self, normal: std::time::Duration) -> std::time::Duration {
        if self.hung.load(std::sync::atomic::Ordering::Relaxed) {
            normal.min(SUSPECT_TIMEOUT)
        } else {
            normal
        }
    }

    /// Learns from one request's end.
    pub(crate) fn record<T>(&self, outcome: &Result<T, reqwest::Error>) {
        let hung = match outcome {
            Ok(_) => false,
            Err(e) if e.is_timeout() => true,
            Err(_) => return,
        };
        self.hung.store(hung, std::sync::atomic::Ordering::Relaxed);
    }
}
