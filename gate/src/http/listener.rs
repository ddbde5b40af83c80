//! The HTTP listener's limits: at most `max_connections` connections at once (more wait in the
//! kernel's backlog), each dropped when it neither sends nor takes bytes for `idle_timeout`,
//! and every request answered within `request_timeout`. Without them, 3,000 connections that
//! never sent a request were held indefinitely and each `/ready` flood grew the process.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// A TCP listener that bounds its connections.
#[derive(Debug)]
pub struct Bounded {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl Bounded {
    /// Wraps a bound listener.
    #[must_use]
    pub fn new(inner: TcpListener, max_connections: usize, idle: Duration) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(max_connections.max(1))), idle }
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
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Waiting here leaves further connections in the backlog, not in memory.
            let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else { continue };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let mut io = TimeoutStream::new(stream);
                    io.set_read_timeout(Some(self.idle));
                    io.set_write_timeout(Some(self.idle));
                    return (Conn { io: Box::pin(io), _slot: slot }, addr);
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
        self.inner.local_addr()
    }
}

impl Bounded {
    /// Waits for a slot and the next connection.
    pub async fn accept(&mut self) -> (Conn, std::net::SocketAddr) {
        axum::serve::Listener::accept(self).await
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket's address cannot be read.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
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
