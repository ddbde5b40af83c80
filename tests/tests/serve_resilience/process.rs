//! The real `contract-gate` binary as a child process, its config and the group's committed offsets.

use super::*;

pub(crate) use e2e::gate_binary;

/// A free loopback port (bound and released: another process could take it in between, which
/// fails the start loudly rather than silently).
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A `GET` over a plain TCP connection: (status, body).
pub(crate) async fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// One `contract-gate serve` process; killed (SIGKILL) on drop if still running.
pub(crate) struct GateProcess {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) log: PathBuf,
}

impl GateProcess {
    pub(crate) fn spawn(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<Self> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = std::process::Command::new(bin)
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &addr])
            .env("RUST_LOG", "info,rdkafka=warn")
            // The config names the services; `services.sh up`'s exports must not override it.
            .env_remove("CONTRACT_GATE_BROKERS")
            .env_remove("CONTRACT_GATE_REDIS")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(Self {
            child,
            addr,
            log: log.to_path_buf(),
        })
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until `/ready` answers 200 (Kafka reachable, contracts compiled; the HTTP listener
    /// starts after the consumer subscribed). Fails at once if the process exits.
    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!(
                    "contract-gate exited during startup ({st}); log:\n{}",
                    self.log_tail()
                );
            }
            if matches!(http_get(&self.addr, "/ready").await, Ok((200, _))) {
                return Ok(());
            }
            if start.elapsed() > T {
                bail!(
                    "contract-gate not ready after {T:?}; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`.
    pub(crate) fn kill9(&mut self) -> anyhow::Result<ExitStatus> {
        self.child.kill()?; // SIGKILL on Unix
        Ok(self.child.wait()?)
    }

    /// SIGTERM, then waits for the exit.
    pub(crate) async fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        let st = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        ensure!(st.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if start.elapsed() > T {
                bail!(
                    "contract-gate did not exit within {T:?} of SIGTERM; log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for GateProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `serve` config for `src` (3 KB of YAML, as a user would write it).
pub(crate) fn gate_yaml(brokers: &str, contracts: &Path, src: &str, group: &str) -> String {
    format!(
        "kafka:
  brokers: {brokers}
  group_id: {group}
  properties:
    # A killed member leaves the group after this, so the restart gets its partitions quickly.
    session.timeout.ms: \"6000\"
contracts:
  dir: {contracts}
events:
  breaker_topic: {src}.breaker-events
  violations_topic: {src}.violations
bindings:
  - name: flights
    source: {src}
    contract: flights
    fallback: hold
    breaker:
      min_records: 50
      window: {{ kind: time, length: 10s, bucket: 500ms }}
      open_wait: 2s
      max_open_wait: 4s
      probe_records: 30
      probe_timeout: 20s
      flush_interval: 250ms
",
        contracts = contracts.display()
    )
}

/// The group's committed offset of each partition of `topic` (`-1` when none).
pub(crate) fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
    let c: BaseConsumer = e2e::consumer_config(brokers, group).create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
    let out = (0..partitions)
        .map(|p| {
            got.find_partition(topic, p)
                .and_then(|x| x.offset().to_raw())
                .unwrap_or(-1)
        })
        .collect();
    drop(got);
    Ok(out)
}

pub(crate) async fn stop(running: gate::serve::Running) -> anyhow::Result<()> {
    e2e::sidecar::stop(running).await
}
