//! Caddy's admin API (`--caddy-admin`): the rendered JSON config is loaded with `POST /load`,
//! which Caddy applies gracefully (requests in flight finish on the old config, the listener
//! stays open). The file is still written, so that `caddy run --config FILE` comes up in the
//! same state after a restart.
//!
//! Caddy 2.6 has no weighted round robin (2.7 brought it): the built-in template makes every
//! task of a zone with traffic one upstream, so each task gets the same share and a split
//! follows the tasks' ratio ([`served_split`]).

use std::time::Duration;

use super::context::ServiceView;

/// How long Caddy may take to apply a config (it answers once the new one serves).
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// `HOST:PORT` of an admin URL `http://HOST:PORT` (a trailing `/` allowed), as Caddy's
/// `admin.listen` wants it.
pub fn admin_listen(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not http://HOST:PORT"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let port = rest
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()))
        .filter(|(host, port)| !host.is_empty() && port.is_ok());
    if port.is_none() || rest.contains(['/', '@', ' ', '?', '#']) {
        return Err(format!("`{url}` is not http://HOST:PORT"));
    }
    Ok(rest.to_string())
}

/// What the router names the load in its events: `POST http://HOST:PORT/load`.
pub fn load_command(admin: &str) -> String {
    format!("POST {}", load_url(admin))
}

fn load_url(admin: &str) -> String {
    format!("{}/load", admin.trim_end_matches('/'))
}

/// Loads `config` into the Caddy whose admin API is at `admin`; the error says why Caddy
/// refused it or could not be reached.
pub async fn load(admin: &str, config: &str) -> Result<(), String> {
    let url = load_url(admin);
    // Proxies from the environment must not intercept a request to the local admin API.
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(LOAD_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {}", chain(&e)))?;
    let response = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(config.to_string())
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("POST {url} answered {status}: {}", refusal(&body)))
}

/// Caddy answers a refused config with `{"error": "..."}`.
fn refusal(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

/// An error with its causes (`connection refused` is in reqwest's source chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The split that round robin over the tasks actually gives (`blue=50,green=50`), when it
/// differs from the one asked for by more than rounding; `None` when they agree.
pub fn served_split(service: &ServiceView) -> Option<String> {
    let total = service.servers.len();
    if total == 0 {
        return None;
    }
    let mut differs = false;
    let mut parts = Vec::new();
    for zone in service.zones.iter().filter(|z| z.weight > 0) {
        let tasks = service
            .servers
            .iter()
            .filter(|s| s.zone == zone.name)
            .count();
        let share = u64::try_from((tasks * 100 + total / 2) / total).unwrap_or(100);
        differs |= share.abs_diff(zone.weight) > 1;
        parts.push(format!("{}={share}", zone.name));
    }
    differs.then(|| parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_url_gives_its_listen_address() {
        assert_eq!(
            admin_listen("http://127.0.0.1:2019").as_deref(),
            Ok("127.0.0.1:2019")
        );
        assert_eq!(
            admin_listen("http://localhost:2019/").as_deref(),
            Ok("localhost:2019")
        );
        for bad in [
            "127.0.0.1:2019",
            "https://127.0.0.1:2019",
            "http://127.0.0.1",
            "http://:2019",
            "http://127.0.0.1:2019/config",
            "http://127.0.0.1:99999",
        ] {
            assert!(admin_listen(bad).is_err(), "{bad}");
        }
        assert_eq!(
            load_command("http://127.0.0.1:2019/"),
            "POST http://127.0.0.1:2019/load"
        );
    }

    #[test]
    fn a_refusal_is_caddys_error_message() {
        assert_eq!(
            refusal(r#"{"error":"loading config: bad"}"#),
            "loading config: bad"
        );
        assert_eq!(refusal("plain text\n"), "plain text");
    }

    #[tokio::test]
    async fn an_unreachable_admin_api_is_an_error_that_says_so() {
        // Port 9 (discard) has no listener on loopback here: the connection is refused.
        let e = load("http://127.0.0.1:9", "{}").await.unwrap_err();
        assert!(e.starts_with("POST http://127.0.0.1:9/load: "), "{e}");
    }
}
