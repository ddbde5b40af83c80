//! What `/ready` answers: Kafka reachable, and the state of every binding's breaker store.
//! One client asks Kafka, at most once per [`KAFKA_VERDICT_TTL`]; concurrent probes wait for
//! the one in progress and share its answer (300 concurrent probes used to build 300 clients:
//! 700 threads and 600 MB).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long one answer from Kafka stands for every probe.
pub const KAFKA_VERDICT_TTL: Duration = Duration::from_secs(2);

/// What `/ready` checks.
#[derive(Debug)]
pub struct Readiness {
    kafka: ClientConfig,
    bindings: crate::serve::topology::BindingSet,
    asked: Mutex<Asked>,
}

/// The client and its last answer.
#[derive(Default)]
struct Asked {
    client: Option<Arc<BaseConsumer>>,
    last: Option<(Instant, Result<usize, String>)>,
}

impl std::fmt::Debug for Asked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asked").field("last", &self.last).finish_non_exhaustive()
    }
}

impl Readiness {
    /// A readiness probe over these clients and bindings.
    #[must_use]
    pub fn new(kafka: ClientConfig, bindings: crate::serve::topology::BindingSet) -> Self {
        Self { kafka, bindings, asked: Mutex::new(Asked::default()) }
    }

    /// Whether Kafka answered a metadata request (the broker count), asked at most once per
    /// [`KAFKA_VERDICT_TTL`] with one client.
    async fn kafka(&self) -> Result<usize, String> {
        let mut asked = self.asked.lock().await;
        if let Some((at, verdict)) = &asked.last {
            if at.elapsed() < KAFKA_VERDICT_TTL {
                return verdict.clone();
            }
        }
        let client = match &asked.client {
            Some(c) => Arc::clone(c),
            None => {
                let c: BaseConsumer = self.kafka.create().map_err(|e| e.to_string())?;
                let c = Arc::new(c);
                asked.client = Some(Arc::clone(&c));
                c
            }
        };
        let verdict = tokio::task::spawn_blocking(move || client.fetch_metadata(None, Duration::from_secs(3)).map(|md| md.brokers().len()).map_err(|e| e.to_string()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        asked.last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    /// Checks that Kafka answers a metadata request and reports every breaker store. A store
    /// on its local fallback is still ready (records keep flowing and failing ones keep
    /// reaching quarantine); the detail says so.
    pub async fn check(&self) -> (bool, Value) {
        let kafka = self.kafka().await;
        let mut bindings = Vec::new();
        for b in &self.bindings.list() {
            let st = b.breaker.status().await;
            let contract = b.contract();
            bindings.push(json!({
                "binding": b.cfg.name, "contract": &*contract.id, "version": &*contract.version,
                "store": st.store, "store_fallback_active": st.degraded, "store_error": st.last_error,
                "breaker": st.state.mode.as_str(),
            }));
        }
        let ok = kafka.is_ok();
        (ok, json!({ "ready": ok, "kafka": match kafka { Ok(n) => json!({"ok": true, "brokers": n}), Err(e) => json!({"ok": false, "error": e}) }, "contracts": "compiled", "bindings": bindings }))
    }
}
