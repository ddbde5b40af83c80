//! The HTTP listener under a flood, with the gate running on real Kafka: 300 concurrent
//! `GET /ready` share one Kafka client (the process's thread count stays flat; each probe
//! used to build a client of its own) and 300 connections that send nothing neither stop
//! `/health` from answering nor outlive the idle timeout.

use e2e::sidecar;
use gate::config::Fallback;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").and_then(|n| n.trim().parse().ok()))).unwrap_or(0)
}

async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_flood_and_silent_connections_are_bounded() -> anyhow::Result<()> {
    let Some(brokers) = e2e::kafka_brokers() else { return Ok(()) };
    let src = e2e::unique_name("flood");
    e2e::create_topic(&brokers, &src, 1).await?;
    let dir = sidecar::contracts_dir(&sidecar::flights_contract());
    let mut cfg = sidecar::config(&brokers, dir.path(), &src, Fallback::Hold, None);
    cfg.http.max_connections = 64;
    cfg.http.idle_timeout = Duration::from_secs(2);
    let running = gate::serve::start(&cfg).await?;
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder().handle();
    let app = gate::http::router(running.ready.clone(), running.bindings.clone(), metrics, None, running.transitions.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (listener, app) = gate::http::bounded(listener, app, &cfg.http)?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    anyhow::ensure!(get(addr, "/ready").await?.starts_with("HTTP/1.1 200"), "not ready");
    let before = threads();
    let answers = futures::future::join_all((0..300).map(|_| get(addr, "/ready"))).await;
    let ok = answers.iter().filter(|a| a.as_ref().is_ok_and(|a| a.starts_with("HTTP/1.1 200"))).count();
    let after = threads();
    anyhow::ensure!(ok == 300, "{ok} of 300 probes answered 200");
    anyhow::ensure!(after <= before + 8, "threads {before} → {after} under 300 concurrent /ready");

    // 300 connections that send nothing: the first 64 take every slot until the idle
    // timeout drops them, the rest wait in the backlog; /health still answers in time.
    let mut silent = Vec::new();
    for _ in 0..300 {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            silent.push(s);
        }
    }
    let health = tokio::time::timeout(Duration::from_secs(60), get(addr, "/health")).await;
    anyhow::ensure!(health.as_ref().is_ok_and(|h| h.as_ref().is_ok_and(|h| h.starts_with("HTTP/1.1 200"))), "/health under 300 silent connections: {health:?}");
    drop(silent);
    server.abort();
    sidecar::stop(running).await
}
