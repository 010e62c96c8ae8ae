//! The `http` provider: a webhook that decides (a manual approval, another system's checks).
//!
//! shipctl POSTs `{"project", "service", "zone", "version", "phase", "metric"}` as JSON. The
//! answer decides by its body when it is JSON — `{"result": "pass" | "fail" | "wait", "reason":
//! "..."}` (or `{"pass": true}`) — else by its status: 202 waits, other 2xx pass, 4xx fail. A 5xx
//! or no answer is inconclusive: a broken hook is not a verdict on the release.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ports::{AnalysisTarget, Reading};
use crate::spec::model::Metric;

pub(super) async fn ask(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    metric: &Metric,
    target: &AnalysisTarget,
) -> Result<Reading, String> {
    let body = json!({
        "project": target.project,
        "service": target.service,
        "zone": target.zone,
        "version": target.version,
        "phase": target.phase,
        "metric": metric.name,
    });
    let response = client
        .post(url)
        .json(&body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("webhook {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    decide(status, &text).map_err(|why| format!("webhook {url}: {why}"))
}

/// The verdict of an answer with `status` and `body`.
pub(super) fn decide(status: u16, body: &str) -> Result<Reading, String> {
    if status >= 500 {
        return Err(format!("answered {status}"));
    }
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && v.is_object()
    {
        let reason = v["reason"].as_str().map(str::to_string);
        let pass = match (v["result"].as_str(), v["pass"].as_bool()) {
            (Some("pass"), _) | (None, Some(true)) => Some(true),
            (Some("fail"), _) | (None, Some(false)) => Some(false),
            (Some("wait"), _) => None,
            (Some(other), _) => {
                return Err(format!("`result: {other}` is not `pass`, `fail` or `wait`"));
            }
            (None, None) => return Err("the JSON answer has no `result`".into()),
        };
        return Ok(Reading::Verdict { pass, reason });
    }
    let reason = Some(body.trim().chars().take(200).collect::<String>()).filter(|r| !r.is_empty());
    let pass = match status {
        202 => None,
        200..=299 => Some(true),
        400..=499 => Some(false),
        other => return Err(format!("answered {other}")),
    };
    Ok(Reading::Verdict { pass, reason })
}

#[cfg(test)]
mod tests {
    use super::decide;
    use crate::ports::Reading;

    fn verdict(pass: Option<bool>, reason: Option<&str>) -> Result<Reading, String> {
        Ok(Reading::Verdict {
            pass,
            reason: reason.map(str::to_string),
        })
    }

    #[test]
    fn a_json_answer_decides_by_its_result() {
        assert_eq!(
            decide(200, r#"{"result":"fail","reason":"error budget spent"}"#),
            verdict(Some(false), Some("error budget spent"))
        );
        assert_eq!(decide(200, r#"{"result":"wait"}"#), verdict(None, None));
        assert_eq!(decide(200, r#"{"pass":true}"#), verdict(Some(true), None));
        assert!(decide(200, r#"{"result":"maybe"}"#).is_err());
    }

    #[test]
    fn otherwise_the_status_decides() {
        assert_eq!(decide(200, ""), verdict(Some(true), None));
        assert_eq!(decide(202, "queued"), verdict(None, Some("queued")));
        assert_eq!(decide(403, "denied"), verdict(Some(false), Some("denied")));
        assert!(decide(503, "").is_err());
    }
}
