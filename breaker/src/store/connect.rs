//! How the Redis store reaches Redis: at the URL's address, or at the master that Redis
//! Sentinel names, asked again at every reconnection so that the store follows a failover.
//!
//! Sentinel is resolved here rather than with the `redis` crate's `sentinel` module: that
//! module connects to the master it finds without the certificates of `redis.tls` when built
//! on native-tls (its custom-CA support is rustls only), so a `rediss://` master signed by a
//! private CA could not be reached. The lookup itself is two commands.

use crate::config::{RedisConfig, TlsPem};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisConnectionInfo, RedisError, RedisFuture, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info};

/// Why a first connection to Redis failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingFailure {
    /// Redis refused the credentials of the URL.
    Credentials(String),
    /// The TLS handshake failed (an untrusted certificate, a client certificate missing).
    Tls(String),
    /// A connection was made, and closed without an answer: typically a plain `redis://`
    /// client on a TLS port.
    Protocol(String),
    /// Redis cannot be reached now (refused, timed out): an outage, not a setting.
    Unreachable(String),
    /// A setting is wrong, named relative to the Redis section (`sentinel.master`).
    Setting {
        /// The field, e.g. `sentinel.master`.
        field: &'static str,
        /// What is wrong, with the client's message.
        message: String,
    },
}

impl PingFailure {
    /// The kind of failure `e` is, by the client's error kind and message.
    pub(super) fn classify(e: &RedisError) -> Self {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed) || lower.contains("wrongpass") || lower.contains("noauth") || lower.contains("invalid username-password") {
            PingFailure::Credentials(text)
        } else if lower.contains("certificate") || lower.contains("handshake") || lower.contains("ssl") || lower.contains("tls") {
            PingFailure::Tls(text)
        } else if e.is_connection_refusal() || e.is_timeout() || lower.contains("timed out") {
            PingFailure::Unreachable(text)
        } else {
            PingFailure::Protocol(text)
        }
    }
}

/// Builds clients for one store's configuration.
#[derive(Clone)]
pub(super) enum Connector {
    /// The URL's address.
    Direct(Box<Client>),
    /// The master the sentinels name.
    Sentinel(Arc<Sentinels>),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connector::Direct(_) => f.write_str("Connector::Direct"),
            Connector::Sentinel(s) => write!(f, "Connector::Sentinel({:?})", s.master),
        }
    }
}

/// What a Sentinel lookup needs.
pub(super) struct Sentinels {
    master: String,
    /// One client per sentinel, in the configured order.
    nodes: Vec<(String, Client)>,
    /// The URL: the master's user, password, database and TLS mode (its address is replaced).
    data: ConnectionInfo,
    tls: Option<TlsPem>,
    conn_cfg: AsyncConnectionConfig,
}

/// Why no master could be reached through the sentinels.
#[derive(Debug)]
pub(super) enum Lookup {
    /// No sentinel answered.
    Sentinels(RedisError),
    /// Sentinels answered, and none knows a master by this name.
    UnknownMaster(String),
    /// The master they name failed (refused, or it is not a master: a failover under way).
    Master(RedisError),
}

impl From<Lookup> for RedisError {
    fn from(l: Lookup) -> Self {
        match l {
            Lookup::Sentinels(e) | Lookup::Master(e) => e,
            Lookup::UnknownMaster(m) => RedisError::from((ErrorKind::MasterNameNotFoundBySentinel, "no sentinel knows the master", m)),
        }
    }
}

/// TLS certificates in the `redis` crate's shape.
fn certificates(tls: &TlsPem) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: tls.identity.as_ref().map(|(cert, key)| redis::ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
        root_cert: tls.ca.clone(),
    }
}

/// A client for `info`, with `tls`'s certificates for a TLS address.
fn open(info: ConnectionInfo, tls: Option<&TlsPem>) -> Result<Client, RedisError> {
    match tls {
        Some(tls) => Client::build_with_tls(info, certificates(tls)),
        None => Client::open(info),
    }
}

/// `host:port` with the URL's TLS mode (certificates are added by [`open`]).
fn address(like: &ConnectionAddr, host: String, port: u16) -> ConnectionAddr {
    match like {
        ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls { host, port, insecure: *insecure, tls_params: None },
        _ => ConnectionAddr::Tcp(host, port),
    }
}

impl Connector {
    /// # Errors
    /// A URL the `redis` crate cannot use, or sentinel addresses that are not `host:port`.
    pub(super) fn new(cfg: &RedisConfig) -> Result<Self, RedisError> {
        let Some(sentinel) = &cfg.sentinel else {
            return open(cfg.url.as_str().into_connection_info()?, cfg.tls.as_ref()).map(|c| Connector::Direct(Box::new(c)));
        };
        let data = cfg.url.as_str().into_connection_info()?;
        let addresses = sentinel.addresses().map_err(|e| RedisError::from((ErrorKind::InvalidClientConfig, "sentinel.nodes", e.to_string())))?;
        let mut auth = RedisConnectionInfo::default();
        if let Some(u) = &sentinel.username {
            auth = auth.set_username(u);
        }
        if let Some(p) = &sentinel.password {
            auth = auth.set_password(p);
        }
        let nodes = addresses
            .into_iter()
            .map(|(host, port)| {
                let name = format!("{host}:{port}");
                let info = data.clone().set_addr(address(data.addr(), host, port)).set_redis_settings(auth.clone());
                open(info, cfg.tls.as_ref()).map(|c| (name, c))
            })
            .collect::<Result<_, _>>()?;
        let conn_cfg = AsyncConnectionConfig::new().set_connection_timeout(Some(cfg.connect_timeout)).set_response_timeout(Some(cfg.op_timeout.max(cfg.connect_timeout)));
        Ok(Connector::Sentinel(Arc::new(Sentinels { master: sentinel.master.clone(), nodes, data, tls: cfg.tls.clone(), conn_cfg })))
    }

    /// A client for the master: the URL's, or the one the sentinels name now.
    ///
    /// # Errors
    /// No master found (see [`Lookup`]).
    pub(super) async fn client(&self) -> Result<Client, RedisError> {
        match self {
            Connector::Direct(c) => Ok(Client::clone(c)),
            Connector::Sentinel(s) => Ok(s.master().await?.0),
        }
    }

    /// The store's connection: a reconnecting [`ConnectionManager`] at the URL's address, or a
    /// connection that asks the sentinels again whenever it is lost.
    ///
    /// # Errors
    /// Invalid configuration only; nothing is connected yet.
    pub(super) fn connection(&self, cfg: &RedisConfig) -> Result<Conn, RedisError> {
        match self {
            Connector::Direct(client) => {
                let manager_cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(cfg.connect_timeout))
                    .set_response_timeout(Some(cfg.op_timeout))
                    .set_min_delay(cfg.reconnect_min)
                    .set_max_delay(cfg.reconnect_max)
                    .set_number_of_retries(3);
                ConnectionManager::new_lazy_with_config(Client::clone(client), manager_cfg).map(Conn::Direct)
            }
            Connector::Sentinel(s) => Ok(Conn::Following(Arc::new(Following {
                sentinels: Arc::clone(s),
                state: tokio::sync::Mutex::new(State { conn: None, retry_at: None, delay: cfg.reconnect_min }),
                min: cfg.reconnect_min,
                max: cfg.reconnect_max,
            }))),
        }
    }

    /// Connects once and sends `PING` (startup's check).
    ///
    /// # Errors
    /// A [`PingFailure`]; with Sentinel, a master name no sentinel knows or sentinel
    /// credentials they refuse name their `sentinel.*` field.
    pub(super) async fn ping(&self, cfg: &RedisConfig) -> Result<(), PingFailure> {
        let client = match self {
            Connector::Direct(c) => Client::clone(c),
            Connector::Sentinel(s) => match s.master().await {
                Ok((client, _)) => client,
                Err(Lookup::UnknownMaster(m)) => return Err(PingFailure::Setting { field: "sentinel.master", message: m }),
                Err(Lookup::Sentinels(e)) => {
                    return Err(match PingFailure::classify(&e) {
                        PingFailure::Credentials(m) => PingFailure::Setting { field: "sentinel.password", message: format!("the sentinels refused their user name or password: {m}") },
                        PingFailure::Unreachable(m) => PingFailure::Unreachable(format!("no sentinel of {:?} answered: {m}", s.names())),
                        other => other,
                    })
                }
                Err(Lookup::Master(e)) => return Err(PingFailure::classify(&e)),
            },
        };
        let conn_cfg = AsyncConnectionConfig::new().set_connection_timeout(Some(cfg.connect_timeout)).set_response_timeout(Some(cfg.op_timeout.max(cfg.connect_timeout)));
        let result = async {
            let mut conn = client.get_multiplexed_async_connection_with_config(&conn_cfg).await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        }
        .await;
        result.map(|_| ()).map_err(|e| PingFailure::classify(&e))
    }
}

impl Sentinels {
    fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Asks each sentinel in turn for the master's address and connects to the first master
    /// that says it is one (a sentinel may still name the old master early in a failover).
    async fn master(&self) -> Result<(Client, MultiplexedConnection), Lookup> {
        let mut sentinel_err = None;
        let mut master_err = None;
        let mut answered = false;
        for (name, node) in &self.nodes {
            let asked = async {
                let mut conn = node.get_multiplexed_async_connection_with_config(&self.conn_cfg).await?;
                redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(&self.master).query_async::<Option<(String, u16)>>(&mut conn).await
            }
            .await;
            let (host, port) = match asked {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    answered = true;
                    continue;
                }
                Err(e) => {
                    debug!(sentinel = %name, error = %e, "sentinel did not answer");
                    sentinel_err = Some(e);
                    continue;
                }
            };
            answered = true;
            match self.connect_master(&host, port).await {
                Ok(found) => return Ok(found),
                Err(e) => {
                    debug!(sentinel = %name, master = %format!("{host}:{port}"), error = %e, "the named master cannot be used");
                    master_err = Some(e);
                }
            }
        }
        Err(match (master_err, sentinel_err) {
            (Some(e), _) => Lookup::Master(e),
            (None, Some(e)) if !answered => Lookup::Sentinels(e),
            _ => Lookup::UnknownMaster(format!("no sentinel of {:?} monitors a master named {:?}", self.names(), self.master)),
        })
    }

    async fn connect_master(&self, host: &str, port: u16) -> Result<(Client, MultiplexedConnection), RedisError> {
        let info = self.data.clone().set_addr(address(self.data.addr(), host.to_string(), port));
        let client = open(info, self.tls.as_ref())?;
        let mut conn = client.get_multiplexed_async_connection_with_config(&self.conn_cfg).await?;
        let role: Vec<Value> = redis::cmd("ROLE").query_async(&mut conn).await?;
        let is_master = matches!(role.first(), Some(Value::BulkString(b)) if b.as_slice() == b"master");
        if !is_master {
            return Err(RedisError::from((ErrorKind::Server(redis::ServerErrorKind::ReadOnly), "the address the sentinels name is not a master (yet)", format!("{host}:{port}"))));
        }
        Ok((client, conn))
    }
}

/// The store's connection (cheap to clone: handles to one shared connection).
#[derive(Clone)]
pub(super) enum Conn {
    /// To the URL's address, reconnecting by itself.
    Direct(ConnectionManager),
    /// To the master the sentinels name, found again after a loss.
    Following(Arc<Following>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Direct(_) => "Conn::Direct",
            Conn::Following(_) => "Conn::Following",
        })
    }
}

/// A connection to the current master and the backoff after a failed lookup.
pub(super) struct Following {
    sentinels: Arc<Sentinels>,
    // A tokio mutex, held across the lookup: callers that find no connection wait for the one
    // lookup under way instead of each asking the sentinels.
    state: tokio::sync::Mutex<State>,
    min: Duration,
    max: Duration,
}

struct State {
    conn: Option<MultiplexedConnection>,
    retry_at: Option<Instant>,
    delay: Duration,
}

/// An error after which the connection must not be used again: the master went away, or it
/// became a replica (a failover demoted it).
fn lost(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() || demoted(e)
}

fn demoted(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown))
}

impl Following {
    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut s = self.state.lock().await;
        if let Some(c) = &s.conn {
            return Ok(c.clone());
        }
        if let Some(at) = s.retry_at.filter(|at| Instant::now() < *at) {
            return Err(RedisError::from((ErrorKind::Io, "waiting before asking the sentinels again", format!("{:?}", at - Instant::now()))));
        }
        match self.sentinels.master().await {
            Ok((client, conn)) => {
                info!(master = %self.sentinels.master, address = %client.get_connection_info().addr(), "connected to the Redis master named by Sentinel");
                *s = State { conn: Some(conn.clone()), retry_at: None, delay: self.min };
                Ok(conn)
            }
            Err(e) => {
                s.retry_at = Some(Instant::now() + s.delay);
                s.delay = (s.delay * 2).min(self.max);
                Err(e.into())
            }
        }
    }

    async fn forget(&self) {
        self.state.lock().await.conn = None;
    }

    /// Runs `send` on the master; after a lost connection the next call asks the sentinels
    /// again. A write refused as READONLY did not happen: it is sent once more at once, to the
    /// master found anew.
    async fn run<T, F, Fut>(&self, send: F) -> Result<T, RedisError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        for attempt in 0..2 {
            let result = send(self.connection().await?).await;
            match result {
                Err(e) if lost(&e) => {
                    self.forget().await;
                    if attempt == 0 && demoted(&e) {
                        continue;
                    }
                    return Err(e);
                }
                other => return other,
            }
        }
        Err(RedisError::from((ErrorKind::Io, "the master changed twice during one call")))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Direct(m) => m.req_packed_command(cmd),
            Conn::Following(f) => Box::pin(async move { f.run(|mut c| async move { c.req_packed_command(cmd).await }).await }),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a redis::Pipeline, offset: usize, count: usize) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Direct(m) => m.req_packed_commands(pipeline, offset, count),
            Conn::Following(f) => Box::pin(async move { f.run(|mut c| async move { c.req_packed_commands(pipeline, offset, count).await }).await }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Direct(m) => m.get_db(),
            Conn::Following(f) => f.sentinels.data.redis_settings().db(),
        }
    }
}
