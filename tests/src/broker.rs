//! A private Kafka broker for tests that stop and restart it: the shared test broker serves
//! every other test at the same time and must never go away.
//!
//! It runs the Kafka that `scripts/services.sh` installed (`services.sh kafka-java` names the
//! Java 17 binary and the jars) as one KRaft node with a PLAINTEXT listener on a free loopback
//! port, its data in a temporary directory. [`PrivateKafka::stop`] and [`PrivateKafka::kill`]
//! take it away (SIGTERM, SIGKILL); [`PrivateKafka::start`] brings it back on the same port and
//! data. Dropping it kills the broker and removes the data.

use anyhow::{bail, ensure, Context as _};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take (a cold JVM on a busy 2-core box takes 10 to 20 s).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a SIGTERM may take before the broker counts as hung.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// One private KRaft broker (broker and controller in one process).
#[derive(Debug)]
pub struct PrivateKafka {
    /// `127.0.0.1:PORT`, stable across restarts.
    pub bootstrap: String,
    java: PathBuf,
    libs: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateKafka {
    /// Formats the storage and starts the broker; returns once it serves metadata and a topic
    /// created on it has a leader.
    ///
    /// # Errors
    /// No Kafka installed (run `scripts/services.sh up`), or the broker did not come up.
    pub async fn launch() -> anyhow::Result<Self> {
        let (java, libs) = tokio::task::spawn_blocking(installed_kafka).await??;
        let dir = tempfile::Builder::new().prefix("cg-private-kafka-").tempdir()?;
        let (port, controller) = (free_port()?, free_port()?);
        let bootstrap = format!("127.0.0.1:{port}");
        std::fs::write(dir.path().join("server.properties"), server_properties(dir.path(), port, controller))?;
        std::fs::write(dir.path().join("log4j2.properties"), LOG4J)?;
        let mut me = Self { bootstrap, java, libs, dir, child: None };
        let format = me.java_cmd("format.log").args(["kafka.tools.StorageTool", "format", "-t", &cluster_id()?, "-c"]).arg(me.dir.path().join("server.properties")).status().context("running Kafka's StorageTool")?;
        ensure!(format.success(), "formatting the private broker's storage failed ({format}); see {}", me.dir.path().join("format.log").display());
        me.start().await?;
        Ok(me)
    }

    fn java_cmd(&self, log: &str) -> Command {
        let mut c = Command::new(&self.java);
        let out = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(log));
        c.args(["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true"])
            .arg(format!("-Dlog4j2.configurationFile={}", self.dir.path().join("log4j2.properties").display()))
            .arg("-cp")
            .arg(format!("{}/*", self.libs.display()))
            .stdin(Stdio::null());
        if let Ok(out) = out {
            if let Ok(err) = out.try_clone() {
                c.stdout(out).stderr(err);
            }
        }
        c
    }

    /// Starts the broker on its port and data (again), and waits until it is ready.
    ///
    /// # Errors
    /// It is running already, exited during startup, or was not ready in time.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        ensure!(self.child.is_none(), "the private broker is running already");
        let child = self.java_cmd("broker.log").arg("kafka.Kafka").arg(self.dir.path().join("server.properties")).spawn().context("starting the private broker")?;
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                self.child = None;
                bail!("the private broker exited during startup ({st}); log:\n{}", self.log_tail());
            }
            if self.ready().await {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                bail!("the private broker was not ready after {START_TIMEOUT:?}; log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Ready: the broker answers metadata with itself as a broker, and a fresh topic gets a
    /// leader (a KRaft broker accepts connections before it is unfenced).
    async fn ready(&self) -> bool {
        let bootstrap = self.bootstrap.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let c: Result<BaseConsumer, _> = crate::kafka_config(&bootstrap).create();
            c.ok().and_then(|c| c.fetch_metadata(None, Duration::from_secs(2)).ok()).is_some_and(|md| !md.brokers().is_empty())
        })
        .await
        .unwrap_or(false);
        if !answers {
            return false;
        }
        let probe = crate::unique_name("ready");
        crate::create_topic(&self.bootstrap, &probe, 1).await.is_ok()
    }

    /// SIGTERM (a controlled shutdown), then waits for the exit.
    ///
    /// # Errors
    /// Not running, or it did not exit in time.
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let child = self.child.as_mut().context("the private broker is not running")?;
        let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        ensure!(st.success(), "kill -TERM of the private broker failed");
        let start = Instant::now();
        loop {
            if let Some(st) = child.try_wait()? {
                self.child = None;
                return Ok(st);
            }
            if start.elapsed() > STOP_TIMEOUT {
                bail!("the private broker did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the broker dies without flushing or telling anyone.
    ///
    /// # Errors
    /// Not running.
    pub fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("the private broker is not running")?;
        child.kill()?;
        Ok(child.wait()?)
    }

    /// The last lines of the broker's log.
    #[must_use]
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Java 17 and Kafka's jars, as `scripts/services.sh kafka-java` names them.
fn installed_kafka() -> anyhow::Result<(PathBuf, PathBuf)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let out = Command::new(&script).arg("kafka-java").stderr(Stdio::inherit()).output().with_context(|| format!("running {} kafka-java", script.display()))?;
    ensure!(out.status.success(), "{} kafka-java failed ({})", script.display(), out.status);
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let (Some(java), Some(libs)) = (lines.next(), lines.next()) else { bail!("{} kafka-java printed {text:?}", script.display()) };
    Ok((PathBuf::from(java), PathBuf::from(libs)))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A KRaft cluster id: 16 random bytes in URL-safe base64 without padding (the form
/// `kafka-storage random-uuid` prints), never starting with `-` (the storage tool would read
/// it as an option).
fn cluster_id() -> anyhow::Result<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    bytes[0] &= 0x7f; // the first character is then from A..f, never '-'
    // 128 bits as 22 six-bit digits, most significant first (the last one padded with zeros).
    let n = u128::from_be_bytes(bytes);
    Ok((0..22).map(|i| {
        let shift = 122 - 6 * i;
        let digit = if shift >= 0 { (n >> shift) & 63 } else { (n << -shift) & 63 };
        char::from(ALPHABET[usize::try_from(digit).unwrap_or(0)])
    }).collect())
}

fn server_properties(dir: &Path, port: u16, controller: u16) -> String {
    format!(
        "# A private one-node test broker (e2e::broker).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs={data}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=8388608
num.network.threads=2
num.io.threads=2
",
        data = dir.join("data").display()
    )
}

/// Warnings and errors to the broker's stdout (its log file here).
const LOG4J: &str = "rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
";
