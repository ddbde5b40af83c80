//! One store type for every binding, whether the breaker state is local or shared in Redis.

use breaker::{BreakerState, Cas, FlushRequest, MemoryStore, RedisStore, Snapshot, Store, StoreError};
use tokio::sync::watch;

/// The memory store (one replica) or the Redis store (shared by replicas).
#[derive(Debug)]
pub enum AnyStore {
    /// In this process only.
    Memory(MemoryStore),
    /// Shared through Redis.
    Redis(RedisStore),
}

impl Store for AnyStore {
    async fn flush(&self, req: &FlushRequest<'_>) -> Result<Snapshot, StoreError> {
        match self {
            Self::Memory(s) => s.flush(req).await,
            Self::Redis(s) => s.flush(req).await,
        }
    }

    async fn transition(&self, expected_epoch: u64, next: &BreakerState) -> Result<Cas, StoreError> {
        match self {
            Self::Memory(s) => s.transition(expected_epoch, next).await,
            Self::Redis(s) => s.transition(expected_epoch, next).await,
        }
    }

    async fn load(&self) -> Result<Option<BreakerState>, StoreError> {
        match self {
            Self::Memory(s) => s.load().await,
            Self::Redis(s) => s.load().await,
        }
    }

    fn subscribe(&self) -> watch::Receiver<Option<BreakerState>> {
        match self {
            Self::Memory(s) => s.subscribe(),
            Self::Redis(s) => s.subscribe(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Memory(s) => s.kind(),
            Self::Redis(s) => s.kind(),
        }
    }

    fn in_process(&self) -> bool {
        match self {
            Self::Memory(s) => s.in_process(),
            Self::Redis(s) => s.in_process(),
        }
    }

    fn relayout(&self, rules: &[contracts::WindowRule]) {
        match self {
            Self::Memory(s) => s.relayout(rules),
            Self::Redis(s) => Store::relayout(s, rules),
        }
    }
}
