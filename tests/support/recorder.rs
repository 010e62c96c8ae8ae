//! A Unix-socket proxy in front of the Docker engine that records every request line the
//! real binary sends (`GET /v1.41/tasks?filters=...`), and can play the parts of a busy engine
//! (answer 503 instead of forwarding) or of a second writer (change a service just before
//! shipctl's own update of it reaches the engine). It runs on a runtime of its own, so tests
//! may block on the real binary meanwhile.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};

/// Runs with the request line of the request it fires on, before that request is forwarded.
pub type Hook = Box<dyn FnMut(&str) + Send>;

#[derive(Default)]
struct State {
    /// Every request line, in the order they arrived.
    requests: Vec<String>,
    /// The next `count` requests whose line contains every marker are answered 503.
    busy: Option<(Vec<String>, usize)>,
    /// Requests answered 503 so far.
    busy_answers: usize,
    /// Runs once, on the first request whose line contains every marker.
    hook: Option<(Vec<String>, Hook)>,
    hooks_run: usize,
}

pub struct DockerRecorder {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn matches(line: &str, markers: &[String]) -> bool {
    markers.iter().all(|m| line.contains(m.as_str()))
}

impl DockerRecorder {
    /// A proxy on a fresh socket forwarding to the engine socket `upstream`.
    pub fn start(upstream: &Path) -> DockerRecorder {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime for the recorder");
        let dir = tempfile::tempdir().expect("directory for the socket");
        let socket = dir.path().join("docker.sock");
        let listener = {
            let _entered = runtime.enter();
            UnixListener::bind(&socket).expect("bind the recorder's socket")
        };
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let upstream = upstream.to_path_buf();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(server) = UnixStream::connect(&upstream).await {
                        relay(client, server, state).await;
                    }
                });
            }
        });
        DockerRecorder {
            socket,
            state,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// The engine socket of this machine (`DOCKER_HOST=unix://...`, else the default).
    pub fn local_engine() -> PathBuf {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
    }

    /// `unix://...`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Every request line so far (`METHOD PATH?QUERY`).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// Answers the next `count` requests whose line contains all of `markers` with 503.
    pub fn busy(&self, markers: &[&str], count: usize) {
        lock(&self.state).busy = Some((markers.iter().map(|m| m.to_string()).collect(), count));
    }

    pub fn busy_answers(&self) -> usize {
        lock(&self.state).busy_answers
    }

    /// Runs `hook` once, before the first request whose line contains all of `markers` is
    /// forwarded.
    pub fn before_first(&self, markers: &[&str], hook: Hook) {
        lock(&self.state).hook = Some((markers.iter().map(|m| m.to_string()).collect(), hook));
    }

    pub fn hooks_run(&self) -> usize {
        lock(&self.state).hooks_run
    }
}

impl Drop for DockerRecorder {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// What to do with one request.
enum Verdict {
    Forward,
    AnswerBusy,
}

/// Records the request and decides; runs the hook (outside the lock) when it fires.
fn on_request(state: &Mutex<State>, line: &str) -> Verdict {
    let hook = {
        let mut s = lock(state);
        s.requests.push(line.to_string());
        if let Some((markers, left)) = s.busy.as_mut()
            && *left > 0
            && matches(line, markers)
        {
            *left -= 1;
            s.busy_answers += 1;
            return Verdict::AnswerBusy;
        }
        match s.hook.take() {
            Some((markers, hook)) if matches(line, &markers) => Some(hook),
            other => {
                s.hook = other;
                None
            }
        }
    };
    if let Some(mut hook) = hook {
        hook(line);
        lock(state).hooks_run += 1;
    }
    Verdict::Forward
}

/// Where the head of the request at the start of `buf` ends, and its body length.
fn request_head(buf: &[u8]) -> Option<(usize, usize, String)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let line = head.lines().next().unwrap_or_default();
    // `GET /path HTTP/1.1` -> `GET /path`.
    let line = line.rsplit_once(' ').map_or(line, |(l, _)| l).to_string();
    let body = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    Some((end, body, line))
}

const BUSY_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n{\"message\":\"engine busy, retry later\"}\n";

async fn relay(client: UnixStream, server: UnixStream, state: Arc<Mutex<State>>) {
    let (mut client_rd, client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let client_wr: Arc<tokio::sync::Mutex<OwnedWriteHalf>> =
        Arc::new(tokio::sync::Mutex::new(client_wr));
    let up = {
        let client_wr = client_wr.clone();
        async move {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                // One whole request (head and body) at a time: HTTP/1.1 clients wait for the
                // answer before the next one on the same connection.
                while let Some((head_len, body_len, line)) = request_head(&pending) {
                    if pending.len() < head_len + body_len {
                        break;
                    }
                    let request: Vec<u8> = pending.drain(..head_len + body_len).collect();
                    let verdict = on_request(&state, &line);
                    match verdict {
                        Verdict::Forward => {
                            if server_wr.write_all(&request).await.is_err() {
                                return;
                            }
                        }
                        Verdict::AnswerBusy => {
                            if client_wr.lock().await.write_all(BUSY_ANSWER).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let n = match client_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_wr.lock().await.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// The path of a request line without the API version prefix or the query:
/// `GET /v1.41/tasks?filters=...` -> `/tasks`.
pub fn endpoint(line: &str) -> &str {
    let path = line.split_once(' ').map_or(line, |(_, p)| p);
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match path.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    }
}
