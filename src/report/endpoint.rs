//! The `/metrics` endpoint of `--metrics ADDR`: a plain HTTP/1.1 listener
//! on a loopback address serving [`openmetrics::render`] of the latest
//! snapshot, one request per connection. It is a reader of the lab's
//! snapshots like the dashboard; the lab binds it before anything starts
//! and stops it when the run ends.

use super::openmetrics;
use crate::metrics::Snapshot;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The longest a client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read (a scrape's is a few hundred bytes).
const MAX_REQUEST: usize = 8 * 1024;

/// An address `--metrics` may listen on: an IP on loopback (127.0.0.0/8
/// or ::1) and a port, so the exposition never leaves the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopbackAddr(SocketAddr);

impl LoopbackAddr {
    pub fn addr(self) -> SocketAddr {
        self.0
    }
}

impl std::fmt::Display for LoopbackAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for LoopbackAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let allowed = "allowed: a loopback IP and a port, e.g. 127.0.0.1:9464 or [::1]:9464";
        let addr: SocketAddr = s
            .parse()
            .map_err(|_| format!("{s:?} is not an IP:PORT address ({allowed})"))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{s:?} is not a loopback address: the metrics are served on 127.0.0.0/8 or ::1 only ({allowed})"
            ));
        }
        Ok(LoopbackAddr(addr))
    }
}

/// A bound, not yet serving, `/metrics` listener.
pub struct MetricsEndpoint {
    listener: TcpListener,
}

impl MetricsEndpoint {
    /// Binds `addr` (port 0: any free port, see [`MetricsEndpoint::local_addr`]).
    pub async fn bind(addr: LoopbackAddr) -> std::io::Result<MetricsEndpoint> {
        Ok(MetricsEndpoint {
            listener: TcpListener::bind(addr.addr()).await?,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers requests with the latest of `snapshots` until `stop`; every
    /// connection in flight ends with it.
    pub async fn serve(self, snapshots: watch::Receiver<Arc<Snapshot>>, stop: CancellationToken) {
        let clients = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.cancelled() => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let snapshots = snapshots.clone();
                    let stop = stop.clone();
                    clients.spawn(async move {
                        tokio::select! {
                            r = tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &snapshots)) => {
                                if let Ok(Err(e)) = r {
                                    tracing::debug!("a /metrics client: {e}");
                                }
                            }
                            _ = stop.cancelled() => {}
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a /metrics client: {e}");
                    // Out of file descriptors, say: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        clients.close();
        clients.wait().await;
    }
}

/// What a request asks for.
fn route(head: &str) -> (&'static str, &'static str, bool) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => ("200 OK", openmetrics::CONTENT_TYPE, true),
        ("GET", _) => ("404 Not Found", "text/plain; charset=utf-8", false),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", false),
    }
}

async fn answer(
    mut stream: TcpStream,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            break;
        }
    }
    let (status, content_type, ok) = route(&String::from_utf8_lossy(&head));
    let body = if ok {
        let snap = snapshots.borrow().clone();
        openmetrics::render(&snap)
    } else {
        "grabstorm serves GET /metrics only\n".to_string()
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_allowed() {
        for ok in ["127.0.0.1:9464", "127.1.2.3:0", "[::1]:9464"] {
            assert!(ok.parse::<LoopbackAddr>().is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0:9464",
            "192.168.1.5:9464",
            "[::]:9464",
            "10.0.0.1:80",
        ] {
            let e = bad.parse::<LoopbackAddr>().unwrap_err();
            assert!(e.contains("not a loopback address"), "{bad}: {e}");
        }
        let e = "localhost:9464".parse::<LoopbackAddr>().unwrap_err();
        assert!(e.contains("127.0.0.1:9464"), "{e}");
        assert!("127.0.0.1".parse::<LoopbackAddr>().is_err());
    }

    #[test]
    fn requests_are_routed() {
        assert_eq!(
            route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").0,
            "200 OK"
        );
        assert_eq!(route("GET /metrics?x=1 HTTP/1.0\r\n\r\n").0, "200 OK");
        assert_eq!(route("GET / HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(
            route("POST /metrics HTTP/1.1\r\n\r\n").0,
            "405 Method Not Allowed"
        );
    }

    #[tokio::test]
    async fn a_scrape_gets_the_latest_snapshot_and_the_endpoint_stops() {
        let endpoint = MetricsEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (tx, rx) = watch::channel(Arc::new(Snapshot {
            run_id: "first".into(),
            ..Default::default()
        }));
        let stop = CancellationToken::new();
        let server = tokio::spawn(endpoint.serve(rx, stop.clone()));
        tx.send_replace(Arc::new(Snapshot {
            run_id: "second".into(),
            ..Default::default()
        }));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("application/openmetrics-text"), "{text}");
        assert!(text.contains("run_id=\"second\""), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        stop.cancel();
        server.await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
