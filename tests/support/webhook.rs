//! A webhook on a local port for the tests of `notify:` and of `http` analysis metrics: it
//! keeps the JSON bodies it is sent and answers each call as the test decides.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The answer to one call: the status line (`200 OK`), a JSON body, and whether the call's
/// body counts as received (a receiver that answers 503 did not take it).
pub struct Reply {
    pub status: &'static str,
    pub body: &'static str,
    pub keep: bool,
}

pub struct Webhook {
    /// `127.0.0.1:PORT`
    pub addr: String,
    calls: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    /// Listens at once; `answer` gets the number of the call (0 first).
    pub fn start(answer: impl Fn(usize) -> Reply + Send + 'static) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        let addr = listener.local_addr().expect("addr").to_string();
        let calls = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (seen, kept) = (calls.clone(), bodies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let body = read_request(&stream);
                let reply = answer(seen.fetch_add(1, Ordering::SeqCst));
                if reply.keep
                    && let Some(body) = body
                {
                    kept.lock().expect("bodies").push(body);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    reply.status,
                    reply.body.len(),
                    reply.body
                );
            }
        });
        Webhook {
            addr,
            calls,
            bodies,
        }
    }

    /// How many calls came, taken or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
    }

    /// The kept bodies that `matches`, once `count` of them came (or after 15 s).
    pub fn wait_for(&self, count: usize, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found: Vec<Value> = self.bodies().into_iter().filter(|b| matches(b)).collect();
            if found.len() >= count || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The JSON body of one HTTP/1.1 request (`None` if it is not JSON).
fn read_request(stream: &TcpStream) -> Option<Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
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
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
