//! Per-zone traffic counters from the router's own request log (`--stats-listen`).
//!
//! The rendered config sends one syslog line per request over UDP to `--stats-syslog`
//! (template variable `stats_syslog`). The line is found by its `shipctl-stats` marker, wherever
//! the syslog header ends:
//!
//! ```text
//! shipctl-stats nginx UPSTREAM "UPSTREAM_ADDR" STATUS REQUEST_TIME_S
//! shipctl-stats haproxy BACKEND SERVER STATUS ACTIVE_TIME_MS
//! ```
//!
//! The upstream (nginx) or backend (HAProxy) names the service (`{project}_{service}`); the
//! last address of `UPSTREAM_ADDR` (nginx lists every try: `a, b`) or the server name
//! (`{zone}-{n}`) names the zone and version, from what was last rendered. A request that
//! reached no task known to the config (`-`, `<NOSRV>`, nginx's `no live upstreams`) counts
//! under zone `""`. The counters are served on `GET /metrics` in the format of
//! [`crate::ports::router_stats`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::context::RouteContext;
use super::event::{RouteEvent, RouteSink};
use crate::ports::router_stats::{CLASSES, DURATION, DURATION_BUCKETS, REQUESTS, RESPONSES};

/// The marker that starts a statistics line.
pub const MARKER: &str = "shipctl-stats";
/// Series kept at most; requests of further ones are dropped (and counted).
pub const MAX_SERIES: usize = 2000;
/// Addresses and server names remembered at most (those of tasks long gone are forgotten).
const MAX_SERVERS: usize = 8192;
/// The longest request head the `/metrics` server reads.
const MAX_REQUEST: usize = 8192;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// One request as the router logged it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// nginx upstream or HAProxy backend.
    pub upstream: String,
    /// The last upstream address (nginx) or the server name (HAProxy); `None` when none served.
    pub server: Option<String>,
    /// `None` when the router logged no status (an aborted request).
    pub status: Option<u16>,
    pub seconds: f64,
}

/// Reads one syslog datagram; `None` for anything else than a statistics line.
pub fn parse_line(datagram: &str) -> Option<LogLine> {
    let start = datagram.find(MARKER)?;
    let rest = datagram[start + MARKER.len()..].trim();
    let (kind, rest) = rest.split_once(' ')?;
    match kind {
        "nginx" => nginx_line(rest),
        "haproxy" => haproxy_line(rest),
        _ => None,
    }
}

/// `UPSTREAM "A, B : C" STATUS SECONDS`
fn nginx_line(rest: &str) -> Option<LogLine> {
    let (upstream, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let (addresses, rest) = rest.split_once('"')?;
    let mut fields = rest.split_whitespace();
    let (status, seconds) = (fields.next()?, fields.next()?);
    if fields.next().is_some() || upstream.is_empty() {
        return None;
    }
    // Every try is listed (`, `), internal redirects too (` : `): the last one answered.
    let last = addresses
        .rsplit([',', ' '])
        .map(str::trim)
        .find(|a| !a.is_empty() && *a != ":")?;
    Some(LogLine {
        upstream: upstream.to_string(),
        server: (last != "-").then(|| last.to_string()),
        status: status_of(status)?,
        seconds: seconds_of(seconds, 1.0)?,
    })
}

/// `BACKEND SERVER STATUS MILLISECONDS`
fn haproxy_line(rest: &str) -> Option<LogLine> {
    let mut fields = rest.split_whitespace();
    let (backend, server, status, ms) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() {
        return None;
    }
    Some(LogLine {
        upstream: backend.to_string(),
        server: (!matches!(server, "<NOSRV>" | "-")).then(|| server.to_string()),
        status: status_of(status)?,
        seconds: seconds_of(ms, 1000.0)?,
    })
}

/// A status, `None` when the router logged none (`-`, `-1`, `0`); garbage is refused.
fn status_of(text: &str) -> Option<Option<u16>> {
    match text {
        "-" | "-1" | "0" => Some(None),
        t => t
            .parse::<u16>()
            .ok()
            .filter(|s| (100..1000).contains(s))
            .map(Some),
    }
}

/// A time in seconds from `text` in units of 1/`per_second`; `-` or negative (HAProxy's `-1`
/// for an aborted request) is 0.
fn seconds_of(text: &str, per_second: f64) -> Option<f64> {
    if text == "-" {
        return Some(0.0);
    }
    let v = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
    Some((v / per_second).max(0.0))
}

/// Which service, zone and version a line belongs to, learnt from each rendered context.
#[derive(Debug, Default)]
struct Names {
    /// Upstream or backend name -> service.
    services: HashMap<String, String>,
    /// (upstream, address or server name) -> (zone, version).
    servers: HashMap<(String, String), (String, String)>,
}

impl Names {
    fn learn(&mut self, context: &RouteContext) {
        if self.servers.len() > MAX_SERVERS {
            self.servers.clear();
        }
        for s in &context.services {
            self.services.insert(s.upstream.clone(), s.name.clone());
            let zone_version = |zone: &str| {
                s.zones
                    .iter()
                    .find(|z| z.name == zone)
                    .and_then(|z| z.version.clone())
                    .unwrap_or_default()
            };
            // The built-in HAProxy template names servers after their slots (`{zone}-{n}`);
            // nginx logs the target address. Both are kept, so a line logged just after a
            // change still finds its task.
            for t in &s.servers {
                let version = t.version.clone().unwrap_or_else(|| zone_version(&t.zone));
                if let Some(target) = &t.target {
                    self.servers.insert(
                        (s.upstream.clone(), target.clone()),
                        (t.zone.clone(), version),
                    );
                }
            }
            for slot in s.slots.iter().filter(|slot| slot.target.is_some()) {
                let version = slot
                    .version
                    .clone()
                    .unwrap_or_else(|| zone_version(&slot.zone));
                self.servers.insert(
                    (s.upstream.clone(), slot.name.clone()),
                    (slot.zone.clone(), version),
                );
            }
            for z in &s.zones {
                for t in &z.tasks {
                    if let Some(target) = &t.target {
                        let version = t.version.clone().unwrap_or_else(|| zone_version(&z.name));
                        self.servers
                            .entry((s.upstream.clone(), target.clone()))
                            .or_insert((z.name.clone(), version));
                    }
                }
            }
        }
    }

    /// (service, zone, version) of a line; `None` when the upstream is not one of ours.
    fn of(&self, line: &LogLine, zones: &HashMap<String, Vec<String>>) -> Option<SeriesKey> {
        let service = self.services.get(&line.upstream)?;
        let (zone, version) = match &line.server {
            None => (String::new(), String::new()),
            Some(server) => match self.servers.get(&(line.upstream.clone(), server.clone())) {
                Some(zv) => zv.clone(),
                // A server slot of a user's template (`{zone}-{anything}`): the zone at least.
                None => server
                    .rsplit_once('-')
                    .map(|(zone, _)| zone)
                    .filter(|zone| {
                        zones
                            .get(service)
                            .is_some_and(|z| z.iter().any(|n| n == zone))
                    })
                    .map(|zone| (zone.to_string(), String::new()))
                    .unwrap_or_default(),
            },
        };
        Some(SeriesKey {
            service: service.clone(),
            zone,
            version,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    service: String,
    zone: String,
    version: String,
}

#[derive(Debug, Clone, Default)]
struct Series {
    requests: u64,
    classes: [u64; 4],
    /// Per bucket (not cumulative), the last one `+Inf`.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
}

/// What the statistics saw besides the series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored {
    /// Datagrams that were no statistics line, or named no upstream of this router.
    pub lines: u64,
    /// Requests of series beyond [`MAX_SERIES`].
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct State {
    names: Names,
    /// Zones per service, for server names the context did not list.
    zones: HashMap<String, Vec<String>>,
    series: BTreeMap<SeriesKey, Series>,
    ignored: Ignored,
}

/// The counters of one route process, shared by the loop (which teaches it the names), the
/// syslog receiver and the `/metrics` server.
#[derive(Debug, Clone)]
pub struct Stats {
    project: String,
    state: Arc<Mutex<State>>,
}

impl Stats {
    pub fn new(project: &str) -> Stats {
        Stats {
            project: project.to_string(),
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves counts that are still counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers which service, zone and version each upstream and server of `context` is.
    pub fn learn(&self, context: &RouteContext) {
        let mut state = self.state();
        state.names.learn(context);
        for s in &context.services {
            let zones = s.zones.iter().map(|z| z.name.clone()).collect();
            state.zones.insert(s.name.clone(), zones);
        }
    }

    /// Counts one datagram; false when it was ignored.
    pub fn record(&self, datagram: &str) -> bool {
        let mut state = self.state();
        let key = parse_line(datagram)
            .and_then(|line| Some((state.names.of(&line, &state.zones)?, line)));
        let Some((key, line)) = key else {
            state.ignored.lines += 1;
            return false;
        };
        let full = state.series.len() >= MAX_SERIES;
        let series = match state.series.get_mut(&key) {
            Some(s) => s,
            None if full => {
                state.ignored.dropped += 1;
                return false;
            }
            None => state.series.entry(key).or_default(),
        };
        series.requests += 1;
        if let Some(class) = line
            .status
            .map(|s| usize::from(s / 100))
            .filter(|c| (2..=5).contains(c))
        {
            series.classes[class - 2] += 1;
        }
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| line.seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        series.buckets[bucket] += 1;
        series.sum += line.seconds;
        true
    }

    pub fn ignored(&self) -> Ignored {
        self.state().ignored
    }

    /// The `/metrics` text (Prometheus text format 0.0.4).
    pub fn exposition(&self) -> String {
        let state = self.state();
        let mut out = String::new();
        let labels = |k: &SeriesKey| {
            format!(
                "project=\"{}\",service=\"{}\",zone=\"{}\",version=\"{}\"",
                escape(&self.project),
                escape(&k.service),
                escape(&k.zone),
                escape(&k.version)
            )
        };
        let _ = writeln!(out, "# TYPE {REQUESTS} counter");
        for (k, s) in &state.series {
            let _ = writeln!(out, "{REQUESTS}{{{}}} {}", labels(k), s.requests);
        }
        let _ = writeln!(out, "# TYPE {RESPONSES} counter");
        for (k, s) in &state.series {
            for (class, n) in CLASSES.iter().zip(s.classes) {
                let _ = writeln!(out, "{RESPONSES}{{{},class=\"{class}\"}} {n}", labels(k));
            }
        }
        let _ = writeln!(out, "# TYPE {DURATION} histogram");
        for (k, s) in &state.series {
            let l = labels(k);
            let mut cumulative = 0;
            for (i, n) in s.buckets.iter().enumerate() {
                cumulative += n;
                let le = DURATION_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "{DURATION}_bucket{{{l},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{DURATION}_sum{{{l}}} {}", s.sum);
            let _ = writeln!(out, "{DURATION}_count{{{l}}} {}", s.requests);
        }
        out
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The sockets of `--stats-listen` and `--stats-syslog`, bound before the first render so that
/// the config names the port actually used.
pub struct StatsSockets {
    pub http: TcpListener,
    pub syslog: UdpSocket,
}

impl StatsSockets {
    pub async fn bind(listen: &str, syslog: &str) -> std::io::Result<StatsSockets> {
        let http = TcpListener::bind(listen)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("--stats-listen {listen}: {e}")))?;
        let syslog = UdpSocket::bind(syslog)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("--stats-syslog {syslog}: {e}")))?;
        Ok(StatsSockets { http, syslog })
    }

    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    pub fn syslog_addr(&self) -> std::io::Result<SocketAddr> {
        self.syslog.local_addr()
    }
}

/// Receives the log lines and serves `/metrics` until `stop`.
pub async fn serve(
    stats: &Stats,
    sockets: StatsSockets,
    sink: &dyn RouteSink,
    stop: CancellationToken,
) {
    let StatsSockets { http, syslog } = sockets;
    let receive = async {
        let mut buf = vec![0u8; 65536];
        let mut warned = 0u64;
        loop {
            let n = match syslog.recv_from(&mut buf).await {
                Ok((n, _)) => n,
                Err(_) => continue,
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            if !stats.record(&text) {
                // Said at 1, 10, 100... ignored lines: a template that logs something else
                // shows up without flooding the output.
                let ignored = stats.ignored();
                let total = ignored.lines + ignored.dropped;
                if total >= warned.max(1) {
                    warned = total.saturating_mul(10);
                    let line: String = text.trim().chars().take(200).collect();
                    sink.emit(&RouteEvent::Warning {
                        message: format!(
                            "stats: {} log lines ignored, {} requests dropped (more than {MAX_SERIES} series); last: {line}",
                            ignored.lines, ignored.dropped
                        ),
                    });
                }
            }
        }
    };
    let accept = async {
        loop {
            if let Ok((stream, _)) = http.accept().await {
                let stats = stats.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &stats)).await;
                });
            }
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = receive => {}
        () = accept => {}
    }
}

/// One HTTP/1.x request: `GET /metrics` gets the counters, anything else a 404 or 405.
async fn answer(mut stream: TcpStream, stats: &Stats) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > MAX_REQUEST {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut first = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or_default(),
    );
    let path = path.split('?').next().unwrap_or_default();
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            stats.exposition(),
        ),
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "try /metrics\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n".to_string(),
        ),
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        reply.push_str(&body);
    }
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

/// The URL a deploy reads the counters at: the listen address, or `advertise` (a host name,
/// needed where the router listens on every address), with the port actually bound.
pub fn stats_url(bound: SocketAddr, advertise: Option<&str>) -> String {
    let host = match advertise {
        Some(h) => h.to_string(),
        None if bound.ip().is_unspecified() => super::registration::current_host(),
        None => match bound.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        },
    };
    format!("http://{host}:{}/metrics", bound.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::router_stats::parse_router_stats;
    use crate::ports::{NodeAddresses, TaskInfo, TaskState};
    use crate::route::context::{KeyValues, Via, ZoneTasks, service_view};

    #[test]
    fn nginx_lines_take_the_last_try_and_read_seconds() {
        let line = parse_line(
            "<190>Jan  1 00:00:00 shipctl: shipctl-stats nginx p_web \"10.0.0.1:8080, 10.0.0.2:8080\" 502 0.012",
        )
        .expect("a line");
        assert_eq!(
            line,
            LogLine {
                upstream: "p_web".into(),
                server: Some("10.0.0.2:8080".into()),
                status: Some(502),
                seconds: 0.012,
            }
        );
        let redirected =
            parse_line("shipctl-stats nginx p_web \"10.0.0.1:8080 : 10.0.0.3:8080\" 200 0.001\n")
                .expect("a line");
        assert_eq!(redirected.server.as_deref(), Some("10.0.0.3:8080"));
        let none = parse_line("shipctl-stats nginx p_web \"-\" 404 0.000").expect("a line");
        assert_eq!((none.server, none.status), (None, Some(404)));
    }

    #[test]
    fn haproxy_lines_name_the_server_and_give_milliseconds() {
        let line = parse_line(
            "<134>Jan  1 00:00:00 haproxy[12]: shipctl-stats haproxy p_web green-2 200 45",
        )
        .expect("a line");
        assert_eq!(line.server.as_deref(), Some("green-2"));
        assert_eq!(line.seconds, 0.045);
        let none = parse_line("shipctl-stats haproxy p_web <NOSRV> 503 0").expect("a line");
        assert_eq!((none.server, none.status), (None, Some(503)));
        let aborted = parse_line("shipctl-stats haproxy p_web blue-1 -1 -1").expect("a line");
        assert_eq!((aborted.status, aborted.seconds), (None, 0.0));
    }

    #[test]
    fn garbage_is_not_a_line() {
        for text in [
            "",
            "hello",
            "shipctl-stats",
            "shipctl-stats caddy a b 200 1",
            "shipctl-stats nginx p_web 10.0.0.1:8080 200 0.1",
            "shipctl-stats nginx p_web \"10.0.0.1:8080\" abc 0.1",
            "shipctl-stats nginx p_web \"10.0.0.1:8080\" 200 fast",
            "shipctl-stats haproxy p_web blue-1 200",
            "shipctl-stats haproxy p_web blue-1 200 5 extra",
            "shipctl-stats haproxy p_web blue-1 99999 5",
        ] {
            assert_eq!(parse_line(text), None, "{text}");
        }
    }

    fn task(id: &str, addr: &str, version: &str) -> TaskInfo {
        TaskInfo {
            id: id.into(),
            state: TaskState::Running,
            desired_state: TaskState::Running,
            version: Some(version.into()),
            image: None,
            message: String::new(),
            error: None,
            exit_code: None,
            node_id: None,
            container_id: None,
            addresses: vec![addr.into()],
            host_ports: Vec::new(),
            updated_at: None,
            created_at: None,
        }
    }

    fn context() -> RouteContext {
        let keys = KeyValues {
            active_zone: Some("blue".into()),
            active_version: Some("1.0.0".into()),
            traffic: Some("blue=75,green=25".into()),
        };
        let zones = vec![
            ZoneTasks {
                zone: "blue".into(),
                service_name: "p_web-blue".into(),
                tasks: vec![task("b1", "10.0.0.1", "1.0.0")],
            },
            ZoneTasks {
                zone: "green".into(),
                service_name: "p_web-green".into(),
                tasks: vec![task("g1", "10.0.0.2", "1.1.0")],
            },
        ];
        RouteContext {
            project: "p".into(),
            listen: "80".into(),
            port: 8080,
            vars: BTreeMap::new(),
            stats_syslog: None,
            haproxy_socket: None,
            caddy_admin: None,
            services: vec![service_view(
                "p",
                "web",
                &keys,
                &zones,
                8080,
                Via::Auto,
                &NodeAddresses::default(),
            )],
        }
    }

    #[test]
    fn lines_count_per_zone_and_the_exposition_reads_back() {
        let stats = Stats::new("p\"q");
        stats.learn(&context());
        let lines = [
            "shipctl-stats nginx p_web \"10.0.0.1:8080\" 200 0.004",
            "shipctl-stats nginx p_web \"10.0.0.1:8080\" 200 0.2",
            "shipctl-stats nginx p_web \"10.0.0.2:8080, 10.0.0.1:8080\" 503 0.03",
            "shipctl-stats haproxy p_web green-1 404 20",
            "shipctl-stats haproxy p_web <NOSRV> 503 0",
            "shipctl-stats nginx p_web \"p_web\" 502 0.000",
            "shipctl-stats haproxy other_backend blue-1 200 1",
            "not a line",
        ];
        let counted: Vec<bool> = lines.iter().map(|l| stats.record(l)).collect();
        assert_eq!(counted, [true, true, true, true, true, true, false, false]);
        assert_eq!(
            stats.ignored(),
            Ignored {
                lines: 2,
                dropped: 0
            }
        );
        let text = stats.exposition();
        assert!(text.contains("project=\"p\\\"q\""), "{text}");
        let parsed = parse_router_stats(&text).expect("our own text parses");
        let get = |zone: &str| {
            parsed
                .iter()
                .find(|s| s.zone == zone)
                .unwrap_or_else(|| panic!("{zone} in {text}"))
        };
        let blue = get("blue");
        assert_eq!((blue.version.as_str(), blue.requests), ("1.0.0", 3));
        assert_eq!(blue.classes, [2, 0, 0, 1]);
        assert_eq!(blue.buckets[0], (0.005, 1));
        assert_eq!(blue.buckets.len(), 12);
        assert_eq!(blue.buckets[11].1, 3);
        assert_eq!(blue.duration_count, 3);
        assert!((blue.duration_sum - 0.234).abs() < 1e-9);
        let green = get("green");
        assert_eq!(
            (green.version.as_str(), green.classes),
            ("1.1.0", [0, 0, 1, 0])
        );
        let none = get("");
        assert_eq!(
            (none.version.as_str(), none.requests, none.classes[3]),
            ("", 2, 2)
        );
        let (requests, errors) = parsed
            .iter()
            .filter(|s| s.zone == "blue")
            .fold((0, 0), |(r, e), s| (r + s.requests, e + s.classes[3]));
        assert_eq!((requests, errors), (3, 1));
    }

    #[test]
    fn series_are_bounded_and_kept() {
        let stats = Stats::new("p");
        let mut ctx = context();
        stats.learn(&ctx);
        // More versions than series allowed: each a series of its own.
        for i in 0..=MAX_SERIES {
            ctx.services[0].servers[0].version = Some(format!("v{i}"));
            ctx.services[0].servers[0].target = Some(format!("10.1.{}.{}:8080", i / 250, i % 250));
            stats.learn(&ctx);
            let line = format!(
                "shipctl-stats nginx p_web \"10.1.{}.{}:8080\" 200 0.001",
                i / 250,
                i % 250
            );
            stats.record(&line);
        }
        assert_eq!(stats.ignored().dropped, 1);
        assert_eq!(stats.state().series.len(), MAX_SERIES);
    }

    #[test]
    fn the_advertised_url_names_a_host_for_every_address() {
        let bound: SocketAddr = "127.0.0.1:9180".parse().expect("addr");
        assert_eq!(stats_url(bound, None), "http://127.0.0.1:9180/metrics");
        let any: SocketAddr = "0.0.0.0:9180".parse().expect("addr");
        assert_eq!(
            stats_url(any, Some("lb1.example")),
            "http://lb1.example:9180/metrics"
        );
        assert!(!stats_url(any, None).contains("0.0.0.0"));
        let v6: SocketAddr = "[::1]:9180".parse().expect("addr");
        assert_eq!(stats_url(v6, None), "http://[::1]:9180/metrics");
    }

    #[tokio::test]
    async fn metrics_are_served_over_http() {
        let stats = Stats::new("p");
        stats.learn(&context());
        let sockets = StatsSockets::bind("127.0.0.1:0", "127.0.0.1:0")
            .await
            .expect("bind");
        let (http, syslog) = (
            sockets.http_addr().expect("addr"),
            sockets.syslog_addr().expect("addr"),
        );
        struct Quiet;
        impl RouteSink for Quiet {
            fn emit(&self, _: &RouteEvent) {}
        }
        let stop = CancellationToken::new();
        let server = {
            let (stats, stop) = (stats.clone(), stop.clone());
            tokio::spawn(async move { serve(&stats, sockets, &Quiet, stop).await })
        };
        let sender = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        sender
            .send_to(
                b"<190>x: shipctl-stats nginx p_web \"10.0.0.2:8080\" 500 0.5",
                syslog,
            )
            .await
            .expect("send");
        let mut text = String::new();
        for _ in 0..100 {
            let mut stream = TcpStream::connect(http).await.expect("connect");
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .expect("write");
            text.clear();
            stream.read_to_string(&mut text).await.expect("read");
            if text.contains("class=\"5xx\"} 1") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("version=0.0.4"), "{text}");
        assert!(
            text.contains("zone=\"green\",version=\"1.1.0\",class=\"5xx\"} 1"),
            "{text}"
        );
        stop.cancel();
        server.await.expect("server");
    }
}
