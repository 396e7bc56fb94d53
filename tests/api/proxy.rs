//! A TCP forwarder a test can cut: the app talks to Postgres or Redis through it, and the test
//! "stops the backend" by closing the listener and every connection, as a crashed server would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct CutProxy {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    /// Forwards a fresh loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let spawned = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                spawned.lock().unwrap().push(task);
            }
        });
        CutProxy {
            addr,
            tasks,
            accept,
        }
    }

    /// Closes the port and every connection through it.
    pub fn cut(&self) {
        self.accept.abort();
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The host:port of a URL such as `postgres://user@127.0.0.1:5432/db`.
pub fn url_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let host_port = rest.split(['/', '?']).next().unwrap();
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    host_port.parse().unwrap()
}

/// The same URL pointed at another address.
pub fn with_addr(url: &str, addr: SocketAddr) -> String {
    let old = url_addr(url).to_string();
    url.replacen(&old, &addr.to_string(), 1)
}

/// A TCP forwarder to Postgres that loses one answer: once `lose_answer_to(marker)` is called, the
/// first connection whose client sends `marker` (a value bound in a statement) has the server's
/// answer to it thrown away and is closed as soon as the server reports the transaction done
/// (`ReadyForQuery`): the write is committed, the client never hears it.
pub struct LosingProxy {
    pub addr: SocketAddr,
    marker: Arc<Mutex<Option<Vec<u8>>>>,
    /// Set once an answer was thrown away.
    lost: Arc<std::sync::atomic::AtomicBool>,
    accept: JoinHandle<()>,
}

/// Postgres's `ReadyForQuery` message, idle: the transaction is over.
const READY_IDLE: &[u8] = b"Z\0\0\0\x05I";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl LosingProxy {
    pub async fn start(upstream: SocketAddr) -> LosingProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let marker: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let armed = marker.clone();
        let lost: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let lost_any = lost.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let armed = armed.clone();
                let lost_any = lost_any.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_rx, mut client_tx) = inbound.into_split();
                    let (mut server_rx, mut server_tx) = outbound.into_split();
                    // Set when this connection sent the marked statement.
                    let losing = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let sent = losing.clone();
                    let up = tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match client_rx.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            {
                                let mut marker = armed.lock().unwrap();
                                if marker.as_deref().is_some_and(|m| contains(&buf[..n], m)) {
                                    *marker = None;
                                    sent.store(true, std::sync::atomic::Ordering::SeqCst);
                                }
                            }
                            if server_tx.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut held = Vec::new();
                    loop {
                        let n = match server_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if losing.load(std::sync::atomic::Ordering::SeqCst) {
                            held.extend_from_slice(&buf[..n]);
                            if contains(&held, READY_IDLE) {
                                // Committed; the answer goes nowhere, and the connection dies.
                                lost_any.store(true, std::sync::atomic::Ordering::SeqCst);
                                break;
                            }
                            continue;
                        }
                        if client_tx.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        LosingProxy {
            addr,
            marker,
            lost,
            accept,
        }
    }

    /// Loses the answer to the next statement that carries `marker`.
    pub fn lose_answer_to(&self, marker: &str) {
        *self.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    /// Whether an answer was thrown away.
    pub fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for LosingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
