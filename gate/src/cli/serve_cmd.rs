//! `serve` and `breaker …` commands.

use crate::config::{GateConfig, RedisSection};
use crate::serve::{self, ServeError};
use serde_json::Value;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tracing::{error, info};

/// Overrides of three common config fields from flags and environment, shared by `serve` and
/// `config validate` so both read a config the same way.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Kafka bootstrap servers (overrides kafka.brokers).
    #[arg(long, env = "CONTRACT_GATE_BROKERS", hide_env_values = true)]
    pub brokers: Option<String>,
    /// Redis URL for the shared breaker (overrides redis.url; adds a redis section if missing).
    #[arg(long, env = "CONTRACT_GATE_REDIS", hide_env_values = true)]
    pub redis: Option<String>,
    /// HTTP listen address (overrides http.listen).
    #[arg(long, env = "CONTRACT_GATE_LISTEN", hide_env_values = true)]
    pub listen: Option<String>,
}

/// Loads the config file and applies the overrides.
///
/// # Errors
/// A config error naming the file, line or field.
pub fn load(path: &std::path::Path, o: &Overrides) -> Result<GateConfig, ServeError> {
    let mut cfg = GateConfig::load(path)?;
    if let Some(b) = &o.brokers {
        cfg.kafka.brokers.clone_from(b);
    }
    if let Some(r) = &o.redis {
        match &mut cfg.redis {
            Some(section) => section.url.clone_from(r),
            None => cfg.redis = Some(RedisSection { url: r.clone(), key_prefix: "contract-gate".into(), op_timeout: std::time::Duration::from_millis(500), fallback: breaker::StoreOutagePolicy::Local, tls: None, sentinel: None }),
        }
    }
    if let Some(l) = &o.listen {
        cfg.http.listen.clone_from(l);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Runs the sidecar until SIGTERM or Ctrl-C, then drains and commits.
///
/// # Errors
/// Startup failures, or a produce failure that stopped the pipeline.
pub async fn serve(cfg: GateConfig) -> Result<(), ServeError> {
    let metrics = crate::serve::telemetry::install().map_err(ServeError::Metrics)?;
    if cfg.bindings.is_empty() {
        return serve_registry_only(&cfg, metrics).await;
    }
    // The port first: a gate that cannot serve its HTTP port stops before it joins the
    // consumer group, opens transactions or reads a record (it used to start the record loops,
    // then fail the bind and wait out their transactional abort before exiting).
    let listener = TcpListener::bind(&cfg.http.listen).await.map_err(|source| ServeError::Http { what: format!("bind {}", cfg.http.listen), source })?;
    let running = serve::start(&cfg).await?;
    let topology = running.topology.clone();
    let sources: crate::lag::Sources = Box::new(move || topology.list().iter().map(|b| (b.cfg.source.clone(), b.cfg.name.clone())).collect());
    let lag = tokio::spawn(crate::lag::run(crate::kafka::client_config(&cfg), cfg.kafka.group_id.clone(), sources, std::time::Duration::from_secs(5), running.shutdown.subscribe()));
    let token = std::env::var(&cfg.http.token_env).ok().filter(|t| !t.is_empty());
    if token.is_none() {
        info!(env = %cfg.http.token_env, "no admin token set: breaker overrides over HTTP are refused");
    }
    let mut app = crate::http::router(running.ready.clone(), running.topology.clone(), metrics, token.clone(), running.transitions.clone());
    if let (Some(r), Some(rc)) = (&running.registry, &cfg.contracts.registry) {
        app = app.merge(registry::api::router_with_bindings(std::sync::Arc::clone(r), crate::http::registry_authorizer(token), rc.max_body_bytes, crate::http::bindings_view(running.topology.clone())));
    }
    let addr = listener.local_addr().map_err(|source| ServeError::Http { what: "local address".into(), source })?;
    info!(%addr, tls = cfg.http.tls.is_some(), "http listening");
    let (listener, app) = crate::http::bounded(listener, app, &cfg.http)?;
    let http = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut pipeline = running.pipeline;
    let result = tokio::select! {
        r = &mut pipeline => r,
        () = shutdown_signal() => {
            info!("shutdown requested: draining in-flight records");
            let _ = running.shutdown.send(true);
            pipeline.await
        }
    };
    let _ = running.shutdown.send(true);
    for f in running.flushers {
        let _ = f.await;
    }
    http.abort();
    let _ = lag.await;
    match result {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "pipeline task failed");
            Err(ServeError::Task { what: "record loop", source: e })
        }
    }
}

/// The HTTP app of a process without bindings: `/health`, `/ready`, `/metrics`, the (empty)
/// breaker admin and the registry API. Returns the app and the registry.
///
/// # Errors
/// A config without `contracts.registry`, or a registry that cannot be opened.
pub async fn registry_app(cfg: &GateConfig, metrics: metrics_exporter_prometheus::PrometheusHandle, token: Option<String>) -> Result<(axum::Router, std::sync::Arc<registry::Registry>), ServeError> {
    let Some(rc) = &cfg.contracts.registry else {
        return Err(ServeError::Config(crate::config::ConfigError::Invalid { field: "contracts.registry".into(), message: "a process without bindings serves the registry only; configure contracts.registry".into() }));
    };
    // The same offline checks as a gate with bindings (the seed files among them).
    crate::serve::startup::offline(cfg)?;
    crate::serve::preflight(cfg).await?;
    let source = crate::contract_source::ContractSource::open(cfg).await?;
    let Some(registry) = source.registry() else {
        return Err(ServeError::Config(crate::config::ConfigError::Invalid { field: "contracts.registry".into(), message: "set, but the contracts were read from contracts.dir".into() }));
    };
    let producer: rdkafka::producer::FutureProducer = crate::kafka::client_config(cfg).create().map_err(crate::serve::kafka_err("events producer"))?;
    let events = crate::serve::events::TransitionSink::new(producer, cfg.events.breaker_topic.clone(), "registry".into());
    let ready = std::sync::Arc::new(crate::serve::ready::Readiness::new(crate::kafka::client_config(cfg), crate::serve::topology::BindingSet::default()));
    let app = crate::http::router(ready, crate::serve::topology::BindingSet::default(), metrics, token.clone(), events).merge(registry::api::router(std::sync::Arc::clone(&registry), crate::http::registry_authorizer(token), rc.max_body_bytes));
    Ok((app, registry))
}

/// Registry-only mode: `serve` with `contracts.registry` and no bindings.
async fn serve_registry_only(cfg: &GateConfig, metrics: metrics_exporter_prometheus::PrometheusHandle) -> Result<(), ServeError> {
    let token = std::env::var(&cfg.http.token_env).ok().filter(|t| !t.is_empty());
    if token.is_none() {
        info!(env = %cfg.http.token_env, "no admin token set: registry writes over HTTP are refused");
    }
    let listener = TcpListener::bind(&cfg.http.listen).await.map_err(|source| ServeError::Http { what: format!("bind {}", cfg.http.listen), source })?;
    let (app, _registry) = registry_app(cfg, metrics, token).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Http { what: "local address".into(), source })?;
    info!(%addr, "registry-only: http listening");
    let (listener, app) = crate::http::bounded(listener, app, &cfg.http)?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(|source| ServeError::Http { what: "serving".into(), source })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Calls the breaker admin API of a running gate.
///
/// # Errors
/// Transport errors and non-2xx answers, with the server's message.
pub fn admin(url: &str, tls: &super::http_client::TlsArgs, token: Option<&str>, binding: Option<&str>, action: Option<&str>) -> Result<Value, String> {
    let base = url.trim_end_matches('/');
    let agent = tls.agent()?;
    let resp = match (binding, action) {
        (b, None) => {
            let path = b.map_or_else(|| format!("{base}/v1/breakers"), |b| format!("{base}/v1/breakers/{}", super::http_client::segment(b)));
            agent.get(&path).config().http_status_as_error(false).build().call()
        }
        (Some(b), Some(a)) => {
            let mut req = agent.post(format!("{base}/v1/breakers/{}/{}", super::http_client::segment(b), super::http_client::segment(a))).config().http_status_as_error(false).build();
            if let Some(t) = token {
                req = req.header("authorization", &format!("Bearer {t}"));
            }
            req.send_empty()
        }
        (None, Some(_)) => return Err("a binding name is required".into()),
    };
    let mut resp = resp.map_err(|e| super::http_client::explain(base, tls, &e))?;
    let status = resp.status();
    let body: Value = resp.body_mut().read_json().map_err(|e| format!("{base}: unreadable answer: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {}", body.get("error").and_then(Value::as_str).unwrap_or("request failed")))
    }
}

/// Default admin URL.
#[must_use]
pub fn default_url() -> String {
    "http://127.0.0.1:8080".into()
}

/// Path type for clap.
pub type ConfigPath = PathBuf;
