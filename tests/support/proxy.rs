//! A TCP proxy in front of a KV store that misbehaves on demand, as networks and stores do:
//! it can stop answering (accept, read, never reply), or let one request through and lose its
//! answer (the store applied it; the client sees a reset connection). It runs on a runtime
//! of its own, so tests may block on the real binary meanwhile.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Faults {
    /// Nothing is forwarded either way while set (connections stay open and silent).
    hang: bool,
    /// The next request containing these bytes reaches the store; its answer is dropped and
    /// the client's connection closed.
    lose_answer_of: Option<Vec<u8>>,
    /// After losing that answer, hang (as a store that died right after committing).
    hang_after_loss: bool,
    /// Answers dropped so far.
    lost_answers: usize,
}

pub struct FaultyProxy {
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultyProxy {
    /// A proxy on a free loopback port forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultyProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime for the proxy");
        let faults = Arc::new(Mutex::new(Faults::default()));
        // Bound here, outside any runtime: the test itself may run inside one.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("proxy address");
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener).expect("listener on the proxy's runtime")
        };
        let shared = faults.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, faults).await;
                    }
                });
            }
        });
        FaultyProxy {
            addr,
            faults,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Stops answering (true) or answers again (false).
    pub fn hang(&self, on: bool) {
        lock(&self.faults).hang = on;
    }

    /// The next request containing `marker` is applied by the store and its answer lost;
    /// with `then_hang` nothing is answered afterwards either.
    pub fn lose_answer_of(&self, marker: &[u8], then_hang: bool) {
        let mut f = lock(&self.faults);
        f.lose_answer_of = Some(marker.to_vec());
        f.hang_after_loss = then_hang;
    }

    pub fn lost_answers(&self) -> usize {
        lock(&self.faults).lost_answers
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Waits while the proxy hangs.
async fn while_hung(faults: &Mutex<Faults>) {
    while lock(faults).hang {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn relay(client: TcpStream, server: TcpStream, faults: Arc<Mutex<Faults>>) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    // Set once a request of this connection is the one whose answer gets lost.
    let losing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let up = {
        let faults = faults.clone();
        let losing = losing.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                while_hung(&faults).await;
                {
                    let mut f = lock(&faults);
                    let hit = f
                        .lose_answer_of
                        .as_ref()
                        .is_some_and(|m| contains(&buf[..n], m));
                    if hit {
                        f.lose_answer_of = None;
                        losing.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                if server_wr.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    let down = {
        let faults = faults.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if losing.load(std::sync::atomic::Ordering::SeqCst) {
                    // The store answered: it applied the request. The client never hears.
                    let mut f = lock(&faults);
                    f.lost_answers += 1;
                    if f.hang_after_loss {
                        f.hang = true;
                    }
                    return;
                }
                while_hung(&faults).await;
                if client_wr.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    // Either side ending ends the connection (dropping both halves closes the sockets).
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
