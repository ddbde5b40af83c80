//! The shared breaker through Redis Sentinel, on real processes: a master, a replica and a
//! sentinel (`redis-server --sentinel`), each on a free loopback port with its files in a
//! temporary directory. The store finds the master through the sentinel, and after the master
//! is killed and the sentinel promotes the replica, its writes reach the new master. The gate
//! takes the same settings (`redis.sentinel`) and names `redis.sentinel.master` when no
//! sentinel knows the name.

use breaker::{Breaker, BreakerConfig, BreakerOptions, Command, Mode, RedisConfig, RedisStore, SentinelConfig, Source, StoreOutagePolicy, WindowConfig};
use contracts::{WindowRule, WindowState};
use e2e::sidecar;
use gate::config::Fallback;
use std::process::{Child, Stdio};
use std::time::Duration;

const MASTER: &str = "cg-master";
const T: Duration = Duration::from_secs(60);

/// A redis-server process, killed when dropped.
struct Node {
    child: Option<Child>,
    port: u16,
}

impl Node {
    /// `redis-server ARGS --port P --bind 127.0.0.1` on a free port.
    fn spawn(args: &[String]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut all = args.to_vec();
        all.extend(["--port".into(), port.to_string(), "--bind".into(), "127.0.0.1".into()]);
        let child = std::process::Command::new("redis-server").args(&all).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => anyhow::bail!("cannot run redis-server ({e}); install the redis-server package"),
        };
        Ok(Self { child: Some(child), port })
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> anyhow::Result<T> {
        let mut c = e2e::redis_connection(&self.url()).await?;
        Ok(cmd.query_async(&mut c).await?)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Master, replica and sentinel, ready: the sentinel has seen the replica.
struct Cluster {
    master: Node,
    replica: Node,
    sentinel: Node,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let plain = |sub: &str| -> anyhow::Result<Vec<String>> {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d)?;
            Ok(vec!["--save".into(), String::new(), "--appendonly".into(), "no".into(), "--dir".into(), d.display().to_string()])
        };
        let master = Node::spawn(&plain("master")?)?;
        e2e::wait_until("the master answers PING", T, || async { master.query::<String>(&redis::cmd("PING")).await.ok() }).await?;
        let mut args = plain("replica")?;
        args.extend(["--replicaof".into(), "127.0.0.1".into(), master.port.to_string()]);
        let replica = Node::spawn(&args)?;
        e2e::wait_until("the replica is in sync", T, || async {
            let info: String = replica.query(redis::cmd("INFO").arg("replication")).await.ok()?;
            info.contains("master_link_status:up").then_some(())
        })
        .await?;
        // The sentinel rewrites its config file, so it gets its own writable copy.
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {MASTER} 127.0.0.1 {port} 1\nsentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 10000\n",
                port = master.port
            ),
        )?;
        let sentinel = Node::spawn(&[conf.display().to_string(), "--sentinel".into(), "--dir".into(), dir.path().display().to_string()])?;
        // A sentinel learns of replicas from the master's INFO, every 10 s at first.
        e2e::wait_until("the sentinel knows the replica", T, || async {
            let replicas: Vec<redis::Value> = sentinel.query(redis::cmd("SENTINEL").arg("REPLICAS").arg(MASTER)).await.ok()?;
            (!replicas.is_empty()).then_some(())
        })
        .await?;
        Ok(Self { master, replica, sentinel, _dir: dir })
    }

    fn sentinel(&self) -> SentinelConfig {
        SentinelConfig { master: MASTER.into(), nodes: vec![format!("127.0.0.1:{}", self.sentinel.port)], username: None, password: None }
    }

    /// The port the sentinel names as the master now.
    async fn master_port(&self) -> Option<u16> {
        let addr: Option<(String, u16)> = self.sentinel.query(redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(MASTER)).await.ok()?;
        addr.map(|(_, p)| p)
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rules() -> Vec<WindowRule> {
    Vec::new()
}

fn breaker(cluster: &Cluster, prefix: &str) -> anyhow::Result<Breaker<RedisStore>> {
    let window = WindowConfig::Time { length: Duration::from_secs(10), bucket: Duration::from_secs(1) };
    let cfg = RedisConfig {
        // The host is not used with Sentinel; the master's name reads well there.
        url: format!("redis://{MASTER}/0"),
        key_prefix: prefix.into(),
        op_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(500),
        sentinel: Some(cluster.sentinel()),
        ..RedisConfig::default()
    };
    let store = RedisStore::new(cfg, window.clone(), &rules())?;
    let opts = BreakerOptions { name: prefix.into(), replica: "sentinel-test".into(), fallback: StoreOutagePolicy::Local };
    Ok(Breaker::new(BreakerConfig { window, ..BreakerConfig::default() }, rules(), store, opts, now_ms())?)
}

/// The breaker's mode as stored on `node`.
async fn stored_mode(node: &Node, prefix: &str) -> Option<String> {
    node.query::<Option<String>>(redis::cmd("HGET").arg(format!("{prefix}:state")).arg("mode")).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_sentinel_failover() -> anyhow::Result<()> {
    // The suite's services must be there (the rule for every e2e test); this test runs its own.
    if e2e::redis_url().is_none() {
        return Ok(());
    }
    let mut cluster = Cluster::start().await?;
    let prefix = e2e::unique_name("sentinel");
    let b = breaker(&cluster, &prefix)?;
    let empty = WindowState::new(&rules());
    let rep = b.flush(&empty, &empty, now_ms()).await?;
    assert_eq!(rep.source, Source::Shared, "{:?}", rep.error);
    let forced = b.command(Command::ForceOpen, Some("sentinel test"), now_ms()).await?;
    assert_eq!((forced.source, forced.state.mode), (Source::Shared, Mode::ForcedOpen));
    assert_eq!(stored_mode(&cluster.master, &prefix).await.as_deref(), Some("forced_open"), "written on the master");

    // The master dies; the sentinel is told to promote the replica at once.
    cluster.master.kill();
    e2e::wait_until("the sentinel promotes the replica", T, || async {
        if cluster.master_port().await != Some(cluster.replica.port) {
            // Refused while a failover is under way or before the sentinel sees a good replica.
            let _ = cluster.sentinel.query::<String>(redis::cmd("SENTINEL").arg("FAILOVER").arg(MASTER)).await;
            return None;
        }
        let role: Vec<redis::Value> = cluster.replica.query(&redis::cmd("ROLE")).await.ok()?;
        matches!(role.first(), Some(redis::Value::BulkString(b)) if b.as_slice() == b"master").then_some(())
    })
    .await?;

    // The store's connection to the dead master fails, it asks the sentinel again, and its
    // writes land on the new master.
    e2e::wait_until("a flush reaches the new master", T, || async {
        let rep = b.flush(&empty, &empty, now_ms()).await.ok()?;
        (rep.source == Source::Shared).then_some(())
    })
    .await?;
    let changed = b.command(Command::MetricsOnly, Some("after failover"), now_ms()).await?;
    assert_eq!((changed.source, changed.state.mode), (Source::Shared, Mode::MetricsOnly));
    assert_eq!(stored_mode(&cluster.replica, &prefix).await.as_deref(), Some("metrics_only"), "written on the promoted replica");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_finds_its_breaker_store_through_sentinel() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    if e2e::redis_url().is_none() {
        return Ok(());
    }
    let cluster = Cluster::start().await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let src = e2e::unique_name("sentinel-gate");
    let url = format!("redis://{MASTER}/0");
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, Some((&url, &src)));
    if let Some(r) = &mut cfg.redis {
        r.sentinel = Some(cluster.sentinel());
    }
    let running = gate::serve::start(&cfg).await?;
    let now = now_ms();
    running.bindings[0].breaker.command(Command::ForceOpen, Some("sentinel gate test"), now).await?;
    e2e::wait_until("the gate's breaker state is on the master", T, || async {
        let modes: Vec<String> = cluster.master.query(redis::cmd("KEYS").arg(format!("{src}*:state"))).await.ok()?;
        (!modes.is_empty()).then_some(())
    })
    .await?;
    sidecar::stop(running).await?;

    let mut wrong = cfg.clone();
    if let Some(s) = wrong.redis.as_mut().and_then(|r| r.sentinel.as_mut()) {
        s.master = "no-such-master".into();
    }
    let err = match gate::serve::start(&wrong).await {
        Ok(running) => {
            let _ = sidecar::stop(running).await;
            panic!("the gate started with an unknown master name")
        }
        Err(e) => format!("{:#}", anyhow::Error::from(e)),
    };
    println!("unknown master: {err}");
    assert!(err.contains("redis.sentinel.master") && err.contains("no-such-master"), "{err}");
    Ok(())
}
