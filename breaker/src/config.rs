//! Breaker and shared-store configuration: serde structs with typed durations
//! (`"30s"`, `"250ms"`) and validation that names the offending field.

use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most buckets a window may span; bounds the work of every flush (in Redis: keys read).
pub const MAX_BUCKETS: u64 = 3600;

/// How the breaker trips and recovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Records the window must hold before count, percent and distribution rules may trip it.
    /// Freshness and "no data" rules are judged with any number of records, since silence is
    /// exactly what they detect.
    pub min_records: u64,
    /// The window the rules are judged over.
    pub window: WindowConfig,
    /// How long the breaker stays open after its first trip before probing (half-open).
    #[serde(with = "humantime_serde")]
    pub open_wait: Duration,
    /// Upper bound of the open wait after repeated trips.
    #[serde(with = "humantime_serde")]
    pub max_open_wait: Duration,
    /// Factor applied to the open wait for each consecutive trip (1 = no backoff).
    pub backoff_multiplier: f64,
    /// Records admitted in half-open (over all replicas) and judged before closing.
    pub probe_records: u64,
    /// If the probe budget is not used up after this long in half-open, the probe records seen
    /// so far are judged; with none at all (no traffic, or the budget held by a replica that
    /// died) the breaker opens again and the next half-open starts with a fresh budget.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// How sure a sample must be before it counts as a breach: a probe (and, in strict mode,
    /// one flush's records) fails a rate rule only when a stream whose true rate sat exactly
    /// at the limit would show that many hits with probability at most `1 - confidence`.
    pub confidence: f64,
    /// How often each replica flushes its window delta to the store and re-reads the state.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            min_records: 100,
            window: WindowConfig::default(),
            open_wait: Duration::from_secs(10),
            max_open_wait: Duration::from_secs(300),
            backoff_multiplier: 2.0,
            probe_records: 100,
            probe_timeout: Duration::from_secs(60),
            confidence: 0.99,
            flush_interval: Duration::from_millis(250),
        }
    }
}

/// The window rules are judged over. Both kinds are stored as time buckets so that replicas
/// and buckets merge the same way; a count window is the newest buckets that together hold
/// at least `records` records (it may hold up to one bucket more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowConfig {
    /// The last `length` of time, in buckets of `bucket`.
    Time {
        /// Window length, e.g. `30s`.
        #[serde(with = "humantime_serde")]
        length: Duration,
        /// Bucket width, e.g. `1s`; the window slides by one bucket.
        #[serde(with = "humantime_serde")]
        bucket: Duration,
    },
    /// The newest `records` records, but never older than `max_age`.
    Count {
        /// Records in the window.
        records: u64,
        /// Bucket width, e.g. `1s`.
        #[serde(with = "humantime_serde")]
        bucket: Duration,
        /// Buckets older than this are dropped even if the window is not full.
        #[serde(with = "humantime_serde")]
        max_age: Duration,
    },
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig::Time { length: Duration::from_secs(30), bucket: Duration::from_secs(1) }
    }
}

impl WindowConfig {
    /// Bucket width.
    #[must_use]
    pub fn bucket(&self) -> Duration {
        match self {
            WindowConfig::Time { bucket, .. } | WindowConfig::Count { bucket, .. } => *bucket,
        }
    }

    /// How far back a bucket can matter: the time window length or the count window max age.
    #[must_use]
    pub fn span(&self) -> Duration {
        match self {
            WindowConfig::Time { length, .. } => *length,
            WindowConfig::Count { max_age, .. } => *max_age,
        }
    }

    // The stores' bucket arithmetic, in milliseconds.
    #[cfg(feature = "runtime")]
    pub(crate) fn bucket_ms(&self) -> i64 {
        ms(self.bucket()).max(1)
    }

    #[cfg(feature = "runtime")]
    pub(crate) fn span_ms(&self) -> i64 {
        ms(self.span())
    }
}

/// What the breaker does while the shared store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreOutagePolicy {
    /// Run the same breaker on this replica's own metrics (default).
    #[default]
    Local,
    /// Let all records flow (record-level failures are still quarantined).
    FailOpen,
    /// Divert all records to the fallback.
    FailClosed,
}

/// The Redis store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`.
    pub url: String,
    /// Prefix of every key and of the events channel. Give each breaker its own, and change it
    /// when the contract's window rules change (e.g. include contract name and major version),
    /// since stored buckets are laid out by rule.
    pub key_prefix: String,
    /// Deadline of one Redis call; past it the call counts as failed and the local fallback
    /// takes over for this flush.
    #[serde(with = "humantime_serde")]
    pub op_timeout: Duration,
    /// Deadline of one connection attempt.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// First delay between reconnection attempts.
    #[serde(with = "humantime_serde")]
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts.
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// What to do while Redis cannot be reached.
    pub fallback: StoreOutagePolicy,
    /// Certificates for a `rediss://` URL; without them the system's trust store is used.
    #[serde(skip)]
    pub tls: Option<TlsPem>,
    /// Find the master through Redis Sentinel instead of at the URL's address. The URL then
    /// gives the master's scheme (`redis://` or `rediss://`), user, password and database; its
    /// host and port are not used.
    pub sentinel: Option<SentinelConfig>,
}

/// Redis Sentinel: the sentinels to ask and the name they monitor the master under. The
/// master is asked for again at every reconnection, so that the store follows a failover.
/// The sentinels are reached with the scheme and certificates of the URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The master's name in the sentinels' configuration (`sentinel monitor NAME …`).
    pub master: String,
    /// Sentinel addresses, `host:port` (`[v6]:port` for IPv6); asked in this order.
    pub nodes: Vec<String>,
    /// User of the sentinels, when they have ACLs of their own.
    #[serde(default)]
    pub username: Option<String>,
    /// Password of the sentinels (their `requirepass`), when they have one; not the master's.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for SentinelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelConfig")
            .field("master", &self.master)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SentinelConfig {
    /// The sentinel addresses as host and port.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `sentinel.nodes` for an entry that is not `host:port`.
    pub fn addresses(&self) -> Result<Vec<(String, u16)>, ConfigError> {
        self.nodes
            .iter()
            .map(|n| {
                let bad = || invalid("sentinel.nodes", format!("{n:?} is not host:port (e.g. sentinel-0:26379)"));
                let (host, port) = n.trim().rsplit_once(':').ok_or_else(bad)?;
                let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
                let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?;
                if host.is_empty() || host.contains(char::is_whitespace) {
                    return Err(bad());
                }
                Ok((host.to_string(), port))
            })
            .collect()
    }

    /// Checks the master name and the addresses; field names are `sentinel.<field>`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.master.is_empty() || self.master.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("sentinel.master", "must be the master's name, non-empty, without spaces"));
        }
        if self.nodes.is_empty() {
            return Err(invalid("sentinel.nodes", "must list at least one sentinel, host:port"));
        }
        self.addresses().map(|_| ())
    }
}

/// PEM certificates of a TLS client connection (here to Redis; the gate uses the same for its
/// other clients). `Debug` shows only which parts are set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsPem {
    /// CA certificates to trust instead of the system's.
    pub ca: Option<Vec<u8>>,
    /// Client certificate chain and private key (PKCS#8), for a server that asks for one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem").field("ca", &self.ca.is_some()).field("identity", &self.identity.is_some()).finish()
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "contract-gate".into(),
            op_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            fallback: StoreOutagePolicy::Local,
            tls: None,
            sentinel: None,
        }
    }
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field, message: message.into() }
}

fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.as_millis() == 0 {
        return Err(invalid(field, "must be at least 1ms"));
    }
    Ok(())
}

impl BreakerConfig {
    /// Checks every field; the error names the first offending one.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with the field path and what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.min_records == 0 {
            return Err(invalid("min_records", "must be at least 1"));
        }
        self.window.validate()?;
        positive("open_wait", self.open_wait)?;
        if self.max_open_wait < self.open_wait {
            return Err(invalid(
                "max_open_wait",
                format!(
                    "{:?} is shorter than open_wait {:?}",
                    self.max_open_wait, self.open_wait
                ),
            ));
        }
        if !self.backoff_multiplier.is_finite() || self.backoff_multiplier < 1.0 {
            return Err(invalid(
                "backoff_multiplier",
                format!("must be a finite number >= 1, got {}", self.backoff_multiplier),
            ));
        }
        if self.probe_records == 0 {
            return Err(invalid("probe_records", "must be at least 1"));
        }
        positive("probe_timeout", self.probe_timeout)?;
        if !(0.5..1.0).contains(&self.confidence) {
            return Err(invalid("confidence", format!("must be at least 0.5 and below 1, got {}", self.confidence)));
        }
        positive("flush_interval", self.flush_interval)?;
        Ok(())
    }
}

impl WindowConfig {
    /// Checks the window; field names are given as `window.<field>`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (span_field, span) = match self {
            WindowConfig::Time { length, .. } => ("window.length", *length),
            WindowConfig::Count { records, max_age, .. } => {
                if *records == 0 {
                    return Err(invalid("window.records", "must be at least 1"));
                }
                ("window.max_age", *max_age)
            }
        };
        positive("window.bucket", self.bucket())?;
        if span < self.bucket() {
            return Err(invalid(span_field, "must be at least one bucket long"));
        }
        let buckets = span.as_millis() / self.bucket().as_millis().max(1);
        if buckets > u128::from(MAX_BUCKETS) {
            return Err(invalid(
                span_field,
                format!("spans {buckets} buckets, more than {MAX_BUCKETS}; use wider buckets"),
            ));
        }
        Ok(())
    }
}

impl RedisConfig {
    /// Checks every field; the error names the first offending one.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("redis://")
            || self.url.starts_with("rediss://")
            || self.url.starts_with("unix://")
            || self.url.starts_with("redis+unix://"))
        {
            // Only the scheme is shown: the rest of a URL may hold a password.
            let scheme = self.url.split_once("://").map_or("none", |(s, _)| s);
            return Err(invalid("url", format!("scheme {scheme:?} is not redis://, rediss://, unix:// or redis+unix://")));
        }
        if self.tls.is_some() && !self.url.starts_with("rediss://") {
            return Err(invalid("tls", "certificates are given, but the url is not rediss://"));
        }
        if let Some(sentinel) = &self.sentinel {
            if !(self.url.starts_with("redis://") || self.url.starts_with("rediss://")) {
                return Err(invalid("url", "with sentinel, must be redis:// or rediss:// (the master's scheme, user, password and database)"));
            }
            sentinel.validate()?;
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid("key_prefix", "must be non-empty, without spaces"));
        }
        positive("op_timeout", self.op_timeout)?;
        positive("connect_timeout", self.connect_timeout)?;
        positive("reconnect_min", self.reconnect_min)?;
        if self.reconnect_max < self.reconnect_min {
            return Err(invalid("reconnect_max", "must not be shorter than reconnect_min"));
        }
        Ok(())
    }
}
