//! The HTTP listener under a flood, with the gate running on real Kafka: 300 concurrent
//! `GET /ready` share one Kafka client (the process's thread count stays flat; each probe
//! used to build a client of its own); 300 clients that keep asking `/ready` on kept-alive
//! connections hold every ordinary connection slot, and `/health` still answers on a slot
//! reserved for it (it used to wait in the backlog until the flood stopped); 300 connections
//! that send nothing neither stop `/health` from answering nor outlive the idle timeout.

use e2e::sidecar;
use gate::config::Fallback;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
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

/// What a flood client saw.
#[derive(Default)]
struct Flood {
    /// Clients whose connection answered a `/ready` and is kept open: each holds a slot.
    holding: AtomicUsize,
    /// `/ready` answered 200.
    ready: AtomicUsize,
    /// Refused on a health-only slot (503, "busy").
    busy: AtomicUsize,
    stop: AtomicBool,
}

/// One response on a kept-alive connection: (status, whether the server closes after it).
async fn response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool)> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(format!("status line {line:?}")))?;
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().map_err(std::io::Error::other)?,
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await?;
    Ok((status, close))
}

/// A client that asks `/ready` again and again on one kept-alive connection until told to
/// stop, connecting again when the server closes it.
async fn flood_client(addr: std::net::SocketAddr, f: Arc<Flood>) {
    while !f.stop.load(Relaxed) {
        let Ok(s) = TcpStream::connect(addr).await else { continue };
        let mut r = BufReader::new(s);
        let mut holds = false;
        while !f.stop.load(Relaxed) {
            if r.get_mut().write_all(b"GET /ready HTTP/1.1\r\nhost: x\r\n\r\n").await.is_err() {
                break;
            }
            let Ok((status, close)) = response(&mut r).await else { break };
            match status {
                200 => {
                    f.ready.fetch_add(1, Relaxed);
                    if !holds {
                        holds = true;
                        f.holding.fetch_add(1, Relaxed);
                    }
                }
                _ => {
                    f.busy.fetch_add(1, Relaxed);
                }
            }
            // Paced: the point is the slots the connections hold, not the CPU they burn.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if close {
                break;
            }
        }
        if holds {
            f.holding.fetch_sub(1, Relaxed);
        }
    }
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
    let app = gate::http::router(running.ready.clone(), running.topology.clone(), metrics, None, running.transitions.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (listener, app) = gate::http::bounded(listener, app, &cfg.http)?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    anyhow::ensure!(get(addr, "/ready").await?.starts_with("HTTP/1.1 200"), "not ready");
    let before = threads();
    let answers = futures::future::join_all((0..300).map(|_| get(addr, "/ready"))).await;
    let ok = answers.iter().filter(|a| a.as_ref().is_ok_and(|a| a.starts_with("HTTP/1.1 200"))).count();
    // A probe that found every ordinary slot taken and came in on one reserved for /health is
    // told so at once.
    let busy = answers.iter().filter(|a| a.as_ref().is_ok_and(|a| a.starts_with("HTTP/1.1 503") && a.contains("busy"))).count();
    let after = threads();
    anyhow::ensure!(ok + busy == 300 && ok >= cfg.http.max_connections, "of 300 probes {ok} answered 200 and {busy} 503 busy");
    anyhow::ensure!(after <= before + 8, "threads {before} → {after} under 300 concurrent /ready");

    // 300 clients keep asking /ready on kept-alive connections: 64 hold every ordinary slot for
    // as long as the flood lasts, the rest wait in the backlog or are refused on a reserved
    // slot. /health answers while they hold them.
    let flood = Arc::new(Flood::default());
    let clients: Vec<_> = (0..300).map(|_| tokio::spawn(flood_client(addr, Arc::clone(&flood)))).collect();
    e2e::wait_until("the flood holds every ordinary connection slot", Duration::from_secs(60), || {
        let held = flood.holding.load(Relaxed) >= cfg.http.max_connections;
        async move { held.then_some(()) }
    })
    .await?;
    let health = tokio::time::timeout(Duration::from_secs(30), get(addr, "/health")).await;
    let held_then = flood.holding.load(Relaxed);
    flood.stop.store(true, Relaxed);
    for c in clients {
        c.await?;
    }
    anyhow::ensure!(health.as_ref().is_ok_and(|h| h.as_ref().is_ok_and(|h| h.starts_with("HTTP/1.1 200"))), "/health while {held_then} kept-alive /ready clients held the {} slots: {health:?}", cfg.http.max_connections);
    eprintln!("/ready flood on kept-alive connections: /health answered with {held_then} slots held; {} /ready answered 200, {} refused on a health-only slot", flood.ready.load(Relaxed), flood.busy.load(Relaxed));

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
