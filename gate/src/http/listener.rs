//! The HTTP listener's limits: at most `max_connections` connections at once (more wait in the
//! kernel's backlog), each dropped when it neither sends nor takes bytes for `idle_timeout`,
//! and every request answered within `request_timeout`. Without them, 3,000 connections that
//! never sent a request were held indefinitely and each `/ready` flood grew the process.
//!
//! Beyond the limit, [`HEALTH_SLOTS`] more connections are taken that serve `/health` only
//! (anything else there gets 503 at once and the connection closes): liveness answers while a
//! flood holds every other slot. Otherwise a `/health` probe waited in the backlog behind the
//! flood, first in first out, and a liveness probe failing under load gets a busy gate
//! restarted.

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// Connections beyond `max_connections` that serve `/health` only.
pub const HEALTH_SLOTS: usize = 4;

/// Longest a health-only connection may stay silent: a probe sends its request at once, and
/// a silent client must not keep the few reserved slots for the whole idle timeout.
const HEALTH_IDLE: Duration = Duration::from_secs(2);

/// The path the reserved slots serve.
const HEALTH_PATH: &str = "/health";

/// A TCP listener that bounds its connections.
#[derive(Debug)]
pub struct Bounded {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    health_slots: Arc<Semaphore>,
    idle: Duration,
}

impl Bounded {
    /// Wraps a bound listener.
    #[must_use]
    pub fn new(inner: TcpListener, max_connections: usize, idle: Duration) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(max_connections.max(1))), health_slots: Arc::new(Semaphore::new(HEALTH_SLOTS)), idle }
    }

    /// A free slot: an ordinary one if any, else a health-only one, else the first to come
    /// back.
    async fn slot(&self) -> (OwnedSemaphorePermit, bool) {
        loop {
            // (Neither semaphore is ever closed: an error cannot come.)
            tokio::select! {
                // Ordinary slots first: the reserve is for when they are all taken.
                biased;
                p = Arc::clone(&self.slots).acquire_owned() => if let Ok(p) = p { return (p, false) },
                p = Arc::clone(&self.health_slots).acquire_owned() => if let Ok(p) = p { return (p, true) },
            }
        }
    }
}

/// Who is on the other end of a connection, and whether it holds a health-only slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The connection took one of the [`HEALTH_SLOTS`]: it is served `/health` only.
    pub health_only: bool,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Bounded>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Bounded>) -> Self {
        *stream.remote_addr()
    }
}

/// One accepted connection: its slot is given back when it closes.
#[derive(Debug)]
pub struct Conn {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    _slot: OwnedSemaphorePermit,
}

impl axum::serve::Listener for Bounded {
    type Io = Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Waiting here leaves further connections in the backlog, not in memory.
            let (slot, health_only) = self.slot().await;
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let idle = if health_only { self.idle.min(HEALTH_IDLE) } else { self.idle };
                    let mut io = TimeoutStream::new(stream);
                    io.set_read_timeout(Some(idle));
                    io.set_write_timeout(Some(idle));
                    return (Conn { io: Box::pin(io), _slot: slot }, Peer { addr, health_only });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "http accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr().map(|addr| Peer { addr, health_only: false })
    }
}

impl Bounded {
    /// Waits for a slot and the next connection.
    pub async fn accept(&mut self) -> (Conn, Peer) {
        axum::serve::Listener::accept(self).await
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}

/// On a health-only connection, anything but `/health` gets 503 at once, and the connection
/// closes so its slot comes back; elsewhere requests pass.
pub async fn health_only(req: Request, next: Next) -> Response {
    let reserved = req.extensions().get::<ConnectInfo<Peer>>().is_some_and(|c| c.0.health_only);
    if reserved && req.uri().path() != HEALTH_PATH {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONNECTION, "close"), (header::RETRY_AFTER, "1")], "busy: every connection slot is taken; try again\n").into_response();
    }
    next.run(req).await
}

/// Answers 503 when a handler has not answered within `limit`.
pub async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, format!("no answer within {limit:?}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve(max: usize, idle: Duration) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(Bounded::new(l, max, idle), app).await });
        addr
    }

    async fn get(addr: std::net::SocketAddr) -> io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn silent_connections_are_dropped_and_their_slots_come_back() {
        let addr = serve(2, Duration::from_millis(200)).await;
        // Two connections that send nothing take both slots.
        let mut silent = vec![TcpStream::connect(addr).await.expect("c1"), TcpStream::connect(addr).await.expect("c2")];
        // A third waits for a slot, then gets one when the idle timeout drops the silent ones.
        let answer = tokio::time::timeout(Duration::from_secs(5), get(addr)).await.expect("answered after the idle timeout").expect("request");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // The silent ones were closed by the server.
        let mut buf = [0u8; 1];
        for s in &mut silent {
            assert_eq!(s.read(&mut buf).await.unwrap_or(0), 0);
        }
    }

    async fn get_path(addr: std::net::SocketAddr, path: &str) -> io::Result<String> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn with_every_slot_taken_health_still_answers_and_nothing_else_does() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let release = Arc::new(tokio::sync::Notify::new());
        let held = Arc::clone(&release);
        let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
        let app = axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route("/slow", axum::routing::get(move || {
                let (held, entered_tx) = (Arc::clone(&held), entered_tx.clone());
                async move {
                    let notified = held.notified();
                    let _ = entered_tx.send(());
                    notified.await;
                    "late"
                }
            }))
            .layer(axum::middleware::from_fn(health_only))
            .into_make_service_with_connect_info::<Peer>();
        tokio::spawn(async move { axum::serve(Bounded::new(l, 2, Duration::from_secs(30)), app).await });
        // Two requests that do not end take both ordinary slots.
        let slow: Vec<_> = (0..2).map(|_| tokio::spawn(get_path(addr, "/slow"))).collect();
        let within = Duration::from_secs(5);
        for _ in 0..2 {
            tokio::time::timeout(within, entered.recv()).await.expect("the held requests reached their handler");
        }
        // Each answer below comes on a reserved slot (the ordinary ones are held), which it
        // gives back as it closes: more requests than there are reserved slots all answer.
        for round in 0..HEALTH_SLOTS * 2 {
            let busy = tokio::time::timeout(within, get_path(addr, "/slow")).await.expect("answered at once").expect("request");
            assert!(busy.starts_with("HTTP/1.1 503") && busy.contains("busy"), "round {round}: {busy}");
            let health = tokio::time::timeout(within, get_path(addr, "/health")).await.expect("answered at once").expect("request");
            assert!(health.starts_with("HTTP/1.1 200"), "round {round}: {health}");
        }
        // The held requests were served on ordinary slots, and finish.
        release.notify_waiters();
        for s in slow {
            let answer = s.await.expect("task").expect("request");
            assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("late"), "{answer}");
        }
    }

    #[test]
    fn only_health_is_served_on_a_reserved_slot() {
        // Which path on which kind of connection reaches the handler.
        let cases = [("/health", true, true), ("/ready", true, false), ("/metrics", true, false), ("/healthz", true, false), ("/ready", false, true), ("/health", false, true)];
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        for (path, reserved, served) in cases {
            let app = axum::Router::new().fallback(|| async { "handled" }).layer(axum::middleware::from_fn(health_only));
            let mut req = Request::builder().uri(path).body(axum::body::Body::empty()).expect("request");
            req.extensions_mut().insert(ConnectInfo(Peer { addr: ([127, 0, 0, 1], 1).into(), health_only: reserved }));
            let status = rt.block_on(tower::ServiceExt::oneshot(app, req)).expect("infallible").status();
            assert_eq!(status == StatusCode::OK, served, "{path} on a reserved slot: {reserved}");
        }
    }

    #[tokio::test]
    async fn a_slow_handler_gets_503() {
        let app: axum::Router = axum::Router::new()
            .route("/", axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }))
            .layer(axum::middleware::from_fn(move |req, next| request_timeout(Duration::from_millis(100), req, next)));
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        let answer = get(addr).await.expect("request");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
}
