//! The open-loop load: a scheduler thread makes one request due every 1/rate seconds and hands
//! it to a pool of workers; each request uses a new connection (as many different clients
//! would), so a router reload never races a reused keep-alive connection.

use std::io::{BufWriter, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::LoadArgs;
use crate::record::{Outcome, Record};

/// How often the scheduler looks for the stop file.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A due request: when it was due, as an instant and as Unix epoch ms.
type Due = (Instant, u64);

pub fn run(args: &LoadArgs) -> Result<(), String> {
    let file = std::fs::File::create(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let (records, written) = std::sync::mpsc::channel::<Record>();
    let writer = std::thread::spawn(move || write_records(file, written));

    // A deep queue: when the target stalls, requests wait (and that wait counts as latency)
    // instead of the schedule slowing down.
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Due>(1 << 20);
    let queue = Arc::new(Mutex::new(queue));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shipctl-loadgen\r\nConnection: close\r\n\r\n",
        args.path, args.target
    );
    let workers: Vec<_> = (0..args.workers)
        .map(|_| {
            let queue = queue.clone();
            let records = records.clone();
            let request = request.clone();
            let (target, timeout) = (args.target, args.timeout);
            std::thread::spawn(move || work(&queue, &records, target, &request, timeout))
        })
        .collect();
    drop(records);

    let sent = schedule(args, &jobs);
    drop(jobs);
    for w in workers {
        let _ = w.join();
    }
    let lines = writer
        .join()
        .map_err(|_| "the writer thread panicked".to_string())??;
    eprintln!("loadgen: {sent} requests due, {lines} recorded");
    Ok(())
}

/// Makes requests due at the fixed rate until the stop file appears; returns how many.
fn schedule(args: &LoadArgs, jobs: &SyncSender<Due>) -> u64 {
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut last_check = start;
    let mut n: u64 = 0;
    loop {
        let offset = interval.mul_f64(n as f64);
        let due = start + offset;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if due.duration_since(last_check) >= STOP_CHECK {
            last_check = due;
            if args.until.exists() {
                return n;
            }
        }
        if jobs
            .send((due, epoch_ms + offset.as_millis() as u64))
            .is_err()
        {
            return n;
        }
        n += 1;
    }
}

fn work(
    queue: &Mutex<Receiver<Due>>,
    records: &Sender<Record>,
    target: SocketAddr,
    request: &str,
    timeout: Duration,
) {
    loop {
        // The lock is held only while waiting for the next job, not during the request.
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok((due, due_ms)) = job else { return };
        let lag_us = due.elapsed().as_micros() as u64;
        let (outcome, connect_us) = send(target, request, timeout);
        let record = Record {
            due_ms,
            latency_us: due.elapsed().as_micros() as u64,
            outcome,
            lag_us,
            connect_us,
        };
        if records.send(record).is_err() {
            return;
        }
    }
}

fn write_records(
    file: std::fs::File,
    records: std::sync::mpsc::Receiver<Record>,
) -> Result<u64, String> {
    let mut out = BufWriter::new(file);
    let mut lines = 0;
    for r in records {
        writeln!(out, "{r}").map_err(|e| format!("cannot write a record: {e}"))?;
        lines += 1;
    }
    out.flush()
        .map_err(|e| format!("cannot write the records: {e}"))?;
    Ok(lines)
}

/// One request on a new connection: how it ended, and how long the connection took to open
/// (µs).
fn send(target: SocketAddr, request: &str, timeout: Duration) -> (Outcome, u64) {
    let start = Instant::now();
    let connected = TcpStream::connect_timeout(&target, timeout);
    let connect_us = start.elapsed().as_micros() as u64;
    let outcome = match connected {
        Ok(stream) => exchange(stream, request, timeout),
        Err(e) => Outcome::Error(format!("connect-{}", kind(&e))),
    };
    (outcome, connect_us)
}

/// The request and its answer on an open connection.
fn exchange(mut stream: TcpStream, request: &str, timeout: Duration) -> Outcome {
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(request.as_bytes()))
    {
        return Outcome::Error(format!("write-{}", kind(&e)));
    }
    let mut answer = Vec::with_capacity(512);
    if let Err(e) = stream.read_to_end(&mut answer) {
        return Outcome::Error(format!("read-{}", kind(&e)));
    }
    parse_answer(&answer).unwrap_or_else(|| Outcome::Error("incomplete".to_string()))
}

fn kind(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ConnectionRefused => "refused",
        ErrorKind::ConnectionReset => "reset",
        ErrorKind::ConnectionAborted => "aborted",
        ErrorKind::BrokenPipe => "broken-pipe",
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
        _ => "other",
    }
}

/// The status and the version of a complete HTTP/1.x answer (`Content-Length` honoured when
/// given, so a cut-off body is an error, not a success).
fn parse_answer(answer: &[u8]) -> Option<Outcome> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut version = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") && value.parse::<usize>().ok()? > body.len()
        {
            return None;
        }
        if name.eq_ignore_ascii_case("x-app-version") {
            version = Some(value.to_string());
        }
    }
    let version = version.unwrap_or_else(|| body.trim().to_string());
    let version = if version.is_empty() || version.contains(char::is_whitespace) {
        "-".to_string()
    } else {
        version
    };
    Some(Outcome::Answer { status, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_header_wins_over_the_body() {
        let answer = b"HTTP/1.1 200 OK\r\nX-App-Version: 1.1.0\r\nContent-Length: 6\r\n\r\n1.0.0\n";
        assert_eq!(
            parse_answer(answer),
            Some(Outcome::Answer {
                status: 200,
                version: "1.1.0".into()
            })
        );
    }

    #[test]
    fn a_502_is_an_answer_and_a_cut_body_is_not() {
        let bad = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad";
        assert!(matches!(
            parse_answer(bad),
            Some(Outcome::Answer { status: 502, .. })
        ));
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1.0"),
            None
        );
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn it_holds_the_rate_against_a_live_server() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = server.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut conn in server.incoming().flatten() {
                let mut buf = [0u8; 512];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nX-App-Version: 9.9.9\r\nContent-Length: 0\r\n\r\n",
                );
            }
        });
        let dir = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (out, until) = (dir.join("requests"), dir.join("stop"));
        let _ = std::fs::remove_file(&until);
        let args = LoadArgs {
            target,
            path: "/version".into(),
            rate: 200.0,
            out: out.clone(),
            until: until.clone(),
            workers: 8,
            timeout: Duration::from_secs(2),
        };
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            std::fs::write(&until, "").expect("stop file");
        });
        run(&args).expect("run");
        stopper.join().expect("stopper");
        let records: Vec<Record> = std::fs::read_to_string(&out)
            .expect("read")
            .lines()
            .filter_map(Record::parse)
            .collect();
        // About 200 in one second; the stop file is seen within 100 ms.
        assert!(
            (150..=240).contains(&records.len()),
            "{} requests",
            records.len()
        );
        assert!(records.iter().all(|r| r.version() == Some("9.9.9")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
