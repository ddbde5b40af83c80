//! The gate on Kafka with SASL OAUTHBEARER through librdkafka's OIDC client-credentials flow,
//! against a broker that validates signed JWTs (Kafka's `OAuthBearerValidatorCallbackHandler`
//! with a JWKS endpoint), as managed clusters behind an identity provider do.
//!
//! The test starts its own pieces: a token endpoint (`tests/python/oidc_token_endpoint.py`:
//! a JWKS and RS256 JWTs for one client) and a private single-node broker (the jars and Java
//! of `scripts/services.sh kafka-java`) whose listener `OIDC` speaks SASL_SSL with the test
//! PKI of `scripts/services.sh up` and trusts only tokens that endpoint signed. The shared
//! broker cannot serve: its validator is fixed when it starts, and the endpoint's URL is
//! known only once the endpoint runs.

use anyhow::{bail, Context as _};
use e2e::sidecar::{self, header_str, keyed, read_until};
use gate::config::{Fallback, GateConfig};
use gate::serve::headers as h;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
/// How long the private broker may take to serve a topic (a busy two-core machine).
const BROKER_READY: Duration = Duration::from_secs(180);
const CLIENT_ID: &str = "contract-gate";
const VALIDATOR: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
const LOGIN_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// A child process killed when the test ends, pass or fail.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The token endpoint, listening; its port.
fn token_endpoint(python: &str, secret_file: &Path) -> anyhow::Result<(Proc, u16)> {
    let mut child = Command::new(python)
        .arg(e2e::python_script("oidc_token_endpoint.py"))
        .args(["--client-id", CLIENT_ID, "--secret-file"])
        .arg(secret_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the token endpoint")?;
    let stdout = child.stdout.take().context("the endpoint's stdout")?;
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port = line.trim().parse().with_context(|| format!("the token endpoint printed {line:?}, not its port"))?;
    Ok((proc, port))
}

/// A private broker: PLAINTEXT for the test's producer and readers, and `OIDC` (SASL_SSL,
/// OAUTHBEARER) that accepts tokens signed by the key at `jwks`. Returns the process and the
/// two bootstrap addresses, once a topic can be created.
async fn oidc_broker(dir: &Path, tls: &Path, jwks: &str) -> anyhow::Result<(Proc, String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let out = Command::new(&script).arg("kafka-java").output().context("scripts/services.sh kafka-java")?;
    if !out.status.success() {
        bail!("scripts/services.sh kafka-java failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let (Some(java), Some(libs)) = (lines.next(), lines.next()) else { bail!("scripts/services.sh kafka-java printed {text:?}") };
    let (plain, controller, oidc) = (free_port()?, free_port()?, free_port()?);
    let tls = tls.display();
    let properties = format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},OIDC://127.0.0.1:{oidc}
advertised.listeners=PLAINTEXT://127.0.0.1:{plain},OIDC://127.0.0.1:{oidc}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,OIDC:SASL_SSL
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs={data}
ssl.keystore.type=PEM
ssl.keystore.location={tls}/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location={tls}/ca.pem
listener.name.oidc.ssl.client.auth=none
listener.name.oidc.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oidc.oauthbearer.sasl.jaas.config={LOGIN_MODULE} required;
listener.name.oidc.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}
listener.name.oidc.oauthbearer.sasl.oauthbearer.jwks.endpoint.url={jwks}
listener.name.oidc.oauthbearer.sasl.oauthbearer.expected.audience=kafka
listener.name.oidc.oauthbearer.sasl.oauthbearer.expected.issuer=contract-gate-test-idp
auto.create.topics.enable=true
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
",
        data = dir.join("data").display(),
    );
    let config = dir.join("server.properties");
    std::fs::write(&config, properties)?;
    let log4j = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka/log4j2.properties");
    let jvm = |log: &str| -> Vec<String> {
        vec![
            "-Xms128m".into(),
            "-Xmx512m".into(),
            "-Djava.awt.headless=true".into(),
            format!("-Dlog4j2.configurationFile={}", log4j.display()),
            format!("-Dcg.log.file={}", dir.join(log).display()),
            // Kafka 4 fetches no OAuth URL that is not listed here (SSRF protection).
            format!("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={jwks}"),
        ]
    };
    let classpath = format!("{libs}/*");
    // A fixed cluster id: the broker's directory is its own.
    let format = Command::new(java)
        .args(jvm("format.log"))
        .args(["-cp", &classpath, "kafka.tools.StorageTool", "format", "-t", "Y2dvaWRjdGVzdGNsdXN0ZQ", "-c"])
        .arg(&config)
        .output()
        .context("formatting the private broker's storage")?;
    if !format.status.success() {
        bail!("kafka storage format failed: {}{}", String::from_utf8_lossy(&format.stdout), String::from_utf8_lossy(&format.stderr));
    }
    let broker = Proc(
        Command::new(java)
            .args(jvm("broker.log"))
            .args(["-cp", &classpath, "kafka.Kafka"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log"))?)
            .spawn()
            .context("starting the private broker")?,
    );
    let plain = format!("127.0.0.1:{plain}");
    let probe = e2e::unique_name("oidc-ready");
    e2e::wait_until("the private OIDC broker creates a topic", BROKER_READY, || async { e2e::create_topic(&plain, &probe, 1).await.ok() })
        .await
        .with_context(|| format!("broker log: {}", dir.join("broker.log").display()))?;
    Ok((broker, plain, format!("127.0.0.1:{oidc}")))
}

/// librdkafka settings for the OIDC client-credentials flow; the secret is `secret` as written.
fn oidc_props(tls: &Path, token_url: &str, secret: &str) -> BTreeMap<String, String> {
    [
        ("security.protocol", "sasl_ssl"),
        ("ssl.ca.location", &tls.join("ca.pem").display().to_string()),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.method", "oidc"),
        ("sasl.oauthbearer.client.id", CLIENT_ID),
        ("sasl.oauthbearer.client.secret", secret),
        ("sasl.oauthbearer.token.endpoint.url", token_url),
        ("sasl.oauthbearer.scope", "kafka"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Startup's error, or a panic if the gate started.
async fn refused(cfg: &GateConfig) -> String {
    match gate::serve::start(cfg).await {
        Ok(running) => {
            let _ = sidecar::stop(running).await;
            panic!("the gate started")
        }
        Err(e) => format!("{:#}", anyhow::Error::from(e)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_over_oauthbearer_with_oidc_client_credentials() -> anyhow::Result<()> {
    let Some(tls) = e2e::secured_env("CG_TEST_TLS_DIR").map(PathBuf::from) else { return Ok(()) };
    let Some(python) = e2e::python() else { return Ok(()) };
    e2e::test_log();
    let work = tempfile::tempdir()?;
    let secret = format!("oidc-secret-{}", e2e::unique_name("s"));
    std::fs::create_dir_all(work.path().join("secrets"))?;
    std::fs::write(work.path().join("secrets/oidc-client-secret"), format!("{secret}\n"))?;
    let (_endpoint, port) = token_endpoint(&python, &work.path().join("secrets/oidc-client-secret"))?;
    let (token_url, jwks) = (format!("http://127.0.0.1:{port}/token"), format!("http://127.0.0.1:{port}/jwks"));
    let broker_dir = tempfile::tempdir()?;
    let (_broker, plain, oidc) = oidc_broker(broker_dir.path(), &tls, &jwks).await?;

    // The config file names the secret file, as a mounted secret; it holds no secret.
    std::fs::write(work.path().join("flights.odcs.yaml"), sidecar::flights_contract())?;
    let src = e2e::unique_name("oidc");
    let placeholder = "PLACEHOLDER-SECRET";
    let mut cfg = sidecar::config(&oidc, work.path(), &src, Fallback::Hold, None);
    cfg.kafka.properties = oidc_props(&tls, &token_url, placeholder);
    let text = serde_saphyr::to_string(&cfg)?.replace(placeholder, "${file:secrets/oidc-client-secret}");
    assert!(!text.contains(&secret));
    let path = work.path().join("gate.yaml");
    std::fs::write(&path, &text)?;
    let loaded = GateConfig::load(&path)?;
    assert_eq!(loaded.kafka.properties.get("sasl.oauthbearer.client.secret"), Some(&secret));

    let running = gate::serve::start(&loaded).await?;
    let sample = sidecar::flights_sample();
    let mut recs = keyed(&sample[..20]);
    let mut bad = sample[25].clone();
    bad["dep_delay"] = serde_json::Value::String("12".into());
    recs.push(("bad".into(), bad.to_string().into_bytes()));
    sidecar::produce(&e2e::producer(&plain)?, &src, &recs).await?;
    let v = read_until(&sidecar::reader(&plain, &format!("{src}.validated"))?, T, |m| m.len() >= 20).await?;
    assert_eq!(v.len(), 20);
    assert_eq!(header_str(&v[0], h::VERDICT).as_deref(), Some("valid"));
    let q = read_until(&sidecar::reader(&plain, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"dep_delay.logicalType\"]"));
    sidecar::stop(running).await?;

    // A wrong secret: the token endpoint refuses it, and startup stops naming the field.
    let mut wrong = loaded.clone();
    wrong.kafka.properties.insert("sasl.oauthbearer.client.secret".into(), "not-the-secret".into());
    let err = refused(&wrong).await;
    println!("wrong client secret: {err}");
    assert!(err.contains("kafka.properties.sasl.oauthbearer.client.secret"), "{err}");
    assert!(!err.contains("not-the-secret") && !err.contains(&secret), "the secret leaked: {err}");
    Ok(())
}
