//! HTTPS on the gate's listener. Handshakes run in their own tasks, so a client that opens a
//! connection and stalls the handshake holds one connection slot (until the idle timeout
//! drops it), never the accept loop; finished handshakes queue for the server.

use super::listener::{Bounded, Conn, Peer};
use openssl::ssl::{Ssl, SslAcceptor};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_openssl::SslStream;

/// A connection as the server reads it: plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Stream for T {}

/// The HTTP listener: plain HTTP or HTTPS, both within the connection limits of [`Bounded`].
#[derive(Debug)]
pub struct Listening {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Plain(Bounded),
    Tls { ready: mpsc::Receiver<(SslStream<Conn>, Peer)>, addr: SocketAddr, acceptor_task: tokio::task::AbortHandle },
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Kind::Tls { acceptor_task, .. } = &self.kind {
            acceptor_task.abort();
        }
    }
}

impl Listening {
    /// Plain HTTP.
    #[must_use]
    pub fn plain(inner: Bounded) -> Self {
        Self { kind: Kind::Plain(inner) }
    }

    /// HTTPS with `acceptor`; a handshake not done within `handshake_timeout` is dropped.
    /// Must run inside a Tokio runtime.
    ///
    /// # Errors
    /// The listener's address cannot be read.
    pub fn tls(mut inner: Bounded, acceptor: SslAcceptor, handshake_timeout: Duration) -> io::Result<Self> {
        let addr = inner.local_addr()?;
        let acceptor = Arc::new(acceptor);
        let (tx, ready) = mpsc::channel(64);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (conn, peer) = axum::serve::Listener::accept(&mut inner).await;
                let (tx, acceptor) = (tx.clone(), Arc::clone(&acceptor));
                tokio::spawn(async move {
                    match tokio::time::timeout(handshake_timeout, handshake(&acceptor, conn)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        // A client that does not trust the certificate, sends no certificate
                        // where one is required, or speaks plain HTTP to the TLS port.
                        Ok(Err(reason)) => tracing::info!(%peer, %reason, "https handshake failed"),
                        Err(_) => tracing::info!(%peer, "https handshake not finished in time"),
                    }
                });
            }
        })
        .abort_handle();
        Ok(Self { kind: Kind::Tls { ready, addr, acceptor_task } })
    }
}

async fn handshake(acceptor: &SslAcceptor, conn: Conn) -> Result<SslStream<Conn>, String> {
    let ssl = Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    let mut stream = SslStream::new(ssl, conn).map_err(|e| e.to_string())?;
    Pin::new(&mut stream).accept().await.map_err(|e| e.to_string())?;
    Ok(stream)
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listening>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listening>) -> Self {
        *stream.remote_addr()
    }
}

impl axum::serve::Listener for Listening {
    type Io = Pin<Box<dyn Stream>>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match &mut self.kind {
            Kind::Plain(inner) => {
                let (conn, addr) = inner.accept().await;
                (Box::pin(conn), addr)
            }
            Kind::Tls { ready, .. } => loop {
                if let Some((stream, addr)) = ready.recv().await {
                    return (Box::pin(stream), addr);
                }
                // The acceptor task ended (it only does when aborted): serve nothing more.
                std::future::pending::<()>().await;
            },
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match &self.kind {
            Kind::Plain(inner) => axum::serve::Listener::local_addr(inner),
            Kind::Tls { addr, .. } => Ok(Peer { addr: *addr, health_only: false }),
        }
    }
}
