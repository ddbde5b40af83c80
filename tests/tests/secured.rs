//! The gate on secured endpoints, as `scripts/services.sh up` provisions them on loopback: a
//! Kafka listener with mutual TLS, one with SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256,
//! OAUTHBEARER), a Redis TLS port with an ACL user, and the gate's own HTTPS listener with
//! client certificates. The test's producer and readers use the broker's plaintext listener;
//! only the gate goes through the secured one. Each mistake a user makes (a wrong password, an
//! untrusted certificate, a plain client on a TLS port) stops startup naming the setting.

use e2e::sidecar::{self, header_str, keyed, read_until};
use gate::config::tls::{ClientTls, ListenerTls};
use gate::config::{Fallback, GateConfig};
use gate::serve::headers as h;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The secured endpoints and the test PKI.
struct Secured {
    plain: String,
    ssl: String,
    sasl_ssl: String,
    user: String,
    password: String,
    redis_tls: String,
    tls: PathBuf,
}

impl Secured {
    fn from_env() -> Option<Self> {
        Some(Self {
            plain: e2e::kafka_brokers()?,
            ssl: e2e::secured_env("CG_TEST_KAFKA_SSL_BROKERS")?,
            sasl_ssl: e2e::secured_env("CG_TEST_KAFKA_SASL_SSL_BROKERS")?,
            user: e2e::secured_env("CG_TEST_KAFKA_SCRAM_USER")?,
            password: e2e::secured_env("CG_TEST_KAFKA_SCRAM_PASSWORD")?,
            redis_tls: e2e::secured_env("CG_TEST_REDIS_TLS_URL")?,
            tls: PathBuf::from(e2e::secured_env("CG_TEST_TLS_DIR")?),
        })
    }

    fn file(&self, name: &str) -> String {
        self.tls.join(name).display().to_string()
    }

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    /// librdkafka settings for the mutual-TLS listener.
    fn mtls(&self) -> BTreeMap<String, String> {
        Self::props(&[("security.protocol", "ssl"), ("ssl.ca.location", &self.file("ca.pem")), ("ssl.certificate.location", &self.file("client.pem")), ("ssl.key.location", &self.file("client.key"))])
    }

    /// librdkafka settings for the SASL_SSL listener with `mechanism`.
    fn sasl(&self, mechanism: &str, password: &str) -> BTreeMap<String, String> {
        let mut p = Self::props(&[("security.protocol", "sasl_ssl"), ("ssl.ca.location", &self.file("ca.pem")), ("sasl.mechanism", mechanism)]);
        if mechanism == "OAUTHBEARER" {
            p.extend(Self::props(&[("enable.sasl.oauthbearer.unsecure.jwt", "true"), ("sasl.oauthbearer.config", "principal=cg-test")]));
        } else {
            p.extend(Self::props(&[("sasl.username", &self.user), ("sasl.password", password)]));
        }
        p
    }

    fn redis_ca(&self) -> ClientTls {
        ClientTls { ca_file: Some(self.tls.join("ca.pem")), ..ClientTls::default() }
    }
}

/// A one-binding gate config whose Kafka clients go to `brokers` with `props`.
fn gate_config(brokers: &str, dir: &std::path::Path, src: &str, props: BTreeMap<String, String>, redis: Option<(&str, &str)>) -> GateConfig {
    let mut cfg = sidecar::config(brokers, dir, src, Fallback::Hold, redis);
    cfg.kafka.properties = props;
    cfg
}

/// Starts `cfg`, sends 20 valid records and one invalid through the plaintext listener, and
/// checks that the gate routed them: 20 validated, 1 quarantined with its rule.
async fn routes(s: &Secured, cfg: &GateConfig) -> anyhow::Result<gate::serve::Running> {
    let src = cfg.bindings[0].source.clone();
    let running = gate::serve::start(cfg).await?;
    let sample = sidecar::flights_sample();
    let mut recs = keyed(&sample[..20]);
    let mut bad = sample[25].clone();
    bad["dep_delay"] = serde_json::Value::String("12".into());
    recs.push(("bad".into(), bad.to_string().into_bytes()));
    sidecar::produce(&e2e::producer(&s.plain)?, &src, &recs).await?;
    let v = read_until(&sidecar::reader(&s.plain, &format!("{src}.validated"))?, T, |m| m.len() >= 20).await?;
    assert_eq!(v.len(), 20);
    assert_eq!(header_str(&v[0], h::VERDICT).as_deref(), Some("valid"));
    let q = read_until(&sidecar::reader(&s.plain, &format!("{src}.quarantine"))?, T, |m| !m.is_empty()).await?;
    assert_eq!(header_str(&q[0], h::VIOLATIONS).as_deref(), Some("[\"dep_delay.logicalType\"]"));
    Ok(running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_over_mutual_tls_kafka_with_the_breaker_on_rediss() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let src = e2e::unique_name("mtls");
    let prefix = e2e::unique_name("mtls");
    let mut cfg = gate_config(&s.ssl, dir.path(), &src, s.mtls(), Some((&s.redis_tls, &prefix)));
    if let Some(r) = &mut cfg.redis {
        r.tls = Some(s.redis_ca());
    }
    let running = routes(&s, &cfg).await?;
    sidecar::stop(running).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_over_sasl_ssl_with_each_mechanism() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "OAUTHBEARER"] {
        let src = e2e::unique_name(&format!("sasl-{}", mechanism.to_ascii_lowercase()));
        let cfg = gate_config(&s.sasl_ssl, dir.path(), &src, s.sasl(mechanism, &s.password), None);
        let running = routes(&s, &cfg).await.map_err(|e| e.context(mechanism))?;
        sidecar::stop(running).await?;
    }
    Ok(())
}

/// The password comes from a file named in the config (`${file:…}`), as a mounted secret
/// would, and the config file holds no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_takes_the_sasl_password_from_a_secret_file() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let src = e2e::unique_name("sasl-file");
    let placeholder = "PLACEHOLDER-PASSWORD";
    let cfg = gate_config(&s.sasl_ssl, dir.path(), &src, s.sasl("SCRAM-SHA-512", placeholder), None);
    let text = serde_saphyr::to_string(&cfg)?.replace(placeholder, "${file:secrets/scram-password}");
    std::fs::create_dir_all(dir.path().join("secrets"))?;
    std::fs::write(dir.path().join("secrets/scram-password"), format!("{}\n", s.password))?;
    let path = dir.path().join("gate.yaml");
    std::fs::write(&path, &text)?;
    assert!(!text.contains(&s.password));
    let loaded = GateConfig::load(&path)?;
    assert_eq!(loaded.kafka.properties.get("sasl.password"), Some(&s.password), "the trailing line break is dropped");
    let running = routes(&s, &loaded).await?;
    sidecar::stop(running).await
}

/// Two gates share one breaker through Redis over TLS: an operator opens it on one, and the
/// other diverts too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_breaker_through_rediss() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let src = e2e::unique_name("rediss-shared");
    let prefix = e2e::unique_name("rediss-shared");
    let mut gates = Vec::new();
    for replica in ["a", "b"] {
        let mut cfg = gate_config(&s.sasl_ssl, dir.path(), &src, s.sasl("SCRAM-SHA-512", &s.password), Some((&s.redis_tls, &prefix)));
        cfg.kafka.group_id = format!("{src}-{replica}");
        if let Some(r) = &mut cfg.redis {
            r.tls = Some(s.redis_ca());
        }
        gates.push(gate::serve::start(&cfg).await?);
    }
    let now = chrono::Utc::now().timestamp_millis();
    gates[0].bindings[0].breaker.command(breaker::Command::ForceOpen, Some("secured test"), now).await?;
    e2e::wait_until("the other replica learns the forced open over rediss", T, || async {
        (gates[1].bindings[0].breaker.router().mode() == breaker::Mode::ForcedOpen).then_some(())
    })
    .await?;
    for g in gates {
        sidecar::stop(g).await?;
    }
    Ok(())
}

/// Startup stops with the setting to fix.
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
async fn each_mistake_stops_startup_naming_the_setting() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let src = e2e::unique_name("mistakes");
    let mut untrusted = s.mtls();
    untrusted.insert("ssl.ca.location".into(), s.file("other-ca.pem"));
    let mut no_client_cert = s.mtls();
    no_client_cert.remove("ssl.certificate.location");
    no_client_cert.remove("ssl.key.location");
    let kafka_cases = [
        ("wrong SCRAM password", s.sasl_ssl.clone(), s.sasl("SCRAM-SHA-512", "not-the-password"), "kafka.properties.sasl.password"),
        ("untrusted broker certificate", s.ssl.clone(), untrusted, "kafka.properties.ssl.ca.location"),
        ("plaintext client on the TLS port", s.ssl.clone(), BTreeMap::new(), "kafka.properties.security.protocol"),
        ("no client certificate for mutual TLS", s.ssl.clone(), no_client_cert, "kafka.properties.ssl.certificate.location"),
    ];
    for (what, brokers, props, field) in kafka_cases {
        let err = refused(&gate_config(&brokers, dir.path(), &src, props, None)).await;
        println!("{what}: {err}");
        assert!(err.contains(field), "{what}: {err}");
        assert!(!err.contains(&s.password), "{what}: the password leaked: {err}");
    }
    let wrong_password = s.redis_tls.replacen(&format!(":{}@", password_of(&s.redis_tls)), ":not-the-password@", 1);
    let plain_on_tls = s.redis_tls.replacen("rediss://", "redis://", 1);
    let redis_cases = [
        ("wrong Redis password", wrong_password, Some(s.redis_ca()), "redis.url"),
        ("untrusted Redis certificate", s.redis_tls.clone(), Some(ClientTls { ca_file: Some(s.tls.join("other-ca.pem")), ..ClientTls::default() }), "redis.tls.ca_file"),
        ("plain Redis client on the TLS port", plain_on_tls, None, "rediss://"),
    ];
    for (what, url, tls, needle) in redis_cases {
        let mut cfg = gate_config(&s.plain, dir.path(), &src, BTreeMap::new(), Some((&url, "mistakes")));
        if let Some(r) = &mut cfg.redis {
            r.tls = tls;
        }
        let err = refused(&cfg).await;
        println!("{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        assert!(!err.contains(&password_of(&s.redis_tls)), "{what}: the password leaked: {err}");
    }
    Ok(())
}

fn password_of(url: &str) -> String {
    gate::config::interpolate::password_of(url)
}

/// A registry-only gate on SASL_SSL Kafka behind HTTPS with client certificates, and
/// `contracts push` from the command line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_push_over_https_to_a_registry_on_sasl_ssl() -> anyhow::Result<()> {
    let Some(s) = Secured::from_env() else { return Ok(()) };
    let topic = e2e::unique_name("secured-registry");
    let mut cfg = sidecar::registry_config(&s.sasl_ssl, &topic, 1 << 20);
    cfg.kafka.properties = s.sasl("SCRAM-SHA-512", &s.password);
    cfg.http.tls = Some(ListenerTls { cert_file: s.tls.join("server.pem"), key_file: s.tls.join("server.key"), client_ca_file: Some(s.tls.join("ca.pem")) });
    cfg.validate()?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    let token = "secured-token";
    let (app, _registry) = gate::cli::serve_cmd::registry_app(&cfg, metrics, Some(token.into())).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (listener, app) = gate::http::bounded(listener, app, &cfg.http)?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let contract = tempfile::NamedTempFile::new()?;
    std::fs::write(contract.path(), sidecar::flights_contract())?;
    let bin = e2e::gate_binary()?;
    let push = |url: String, extra: Vec<String>| {
        let (bin, file) = (bin.clone(), contract.path().to_path_buf());
        tokio::task::spawn_blocking(move || push(&bin, &file, &url, token, &extra))
    };
    let https = format!("https://localhost:{port}");
    let ca = vec!["--ca-file".to_string(), s.file("ca.pem")];
    let client = vec!["--client-cert".to_string(), s.file("client.pem"), "--client-key".to_string(), s.file("client.key")];
    let all: Vec<String> = ca.iter().chain(&client).cloned().collect();
    let (code, out) = push(https.clone(), all.clone()).await?;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("flights") && out.contains("1.0.0"), "{out}");
    let mistakes = [
        ("no --ca-file", https.clone(), client.clone(), "--ca-file"),
        ("no client certificate", https.clone(), ca.clone(), "--client-cert"),
        ("http:// on the https port", format!("http://localhost:{port}"), all.clone(), "https://"),
    ];
    for (what, url, args, needle) in mistakes {
        let (code, out) = push(url, args).await?;
        println!("{what}: {out}");
        assert_eq!(code, Some(2), "{what}: {out}");
        assert!(out.contains(needle), "{what}: {out}");
    }
    server.abort();
    Ok(())
}

/// `contract-gate contracts push FILE --registry URL --token TOKEN EXTRA…`: exit code and output.
fn push(bin: &std::path::Path, file: &std::path::Path, url: &str, token: &str, extra: &[String]) -> (Option<i32>, String) {
    let out = std::process::Command::new(bin)
        .args(["contracts", "push"])
        .arg(file)
        .args(["--registry", url, "--token", token])
        .args(extra)
        .env_remove("CONTRACT_GATE_CA_FILE")
        .env_remove("CONTRACT_GATE_CLIENT_CERT")
        .env_remove("CONTRACT_GATE_CLIENT_KEY")
        .output()
        .expect("runs the binary");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}
