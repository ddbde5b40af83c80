//! Circuit breaker of contract-gate.
//!
//! * [`core::step`] is the whole decision logic: a pure function of configuration, state,
//!   event and `now`. Batch `check`, every stream replica and the tests run it unchanged.
//! * A [`Store`] keeps the window buckets and the state: [`MemoryStore`] in one process,
//!   [`RedisStore`] shared by every replica (one script call per replica per flush interval;
//!   a second, compare-and-set on the epoch, only when a transition happens).
//! * [`Breaker`] ties them together for one replica: [`Breaker::flush`] every flush interval,
//!   [`Router::route`] per record (a couple of relaxed atomics), [`Breaker::command`] for the
//!   manual overrides, and a local fallback when the shared store is unreachable.
//!
//! See `breaker/README.md` for the reasoning behind the design.
//!
//! # Features
//!
//! * `runtime`: [`Breaker`], the async [`Store`] trait and [`MemoryStore`] (tokio).
//! * `redis` (default; implies `runtime`): [`RedisStore`].
//!
//! With neither (`default-features = false`) the crate is the pure core: [`core::step`],
//! [`Router`], the state and config types, and the store data types and key [`Layout`]; it
//! builds without tokio and the Redis client.

// The links above name the runtime and Redis types, which a build without them lacks.
#![cfg_attr(not(feature = "redis"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "runtime")]
pub mod breaker;
// The in-process window; only the stores and the local fallback use it.
#[cfg(feature = "runtime")]
mod buckets;
pub mod config;
pub mod core;
pub mod error;
pub mod route;
pub mod sizing;
pub mod state;
pub mod store;

#[cfg(feature = "runtime")]
pub use breaker::{Breaker, BreakerOptions, CommandOutcome, FlushReport, Source, Status};
pub use config::{BreakerConfig, RedisConfig, SentinelConfig, StoreOutagePolicy, TlsPem, WindowConfig};
pub use core::{step, Event, Observation, ProbeObservation, Step};
pub use error::{ConfigError, StoreError};
pub use route::{Route, Router};
pub use state::{Breach, BreakerState, Command, Millis, Mode, Reason, Transition};
pub use store::{Cas, FlushRequest, Layout, ProbeReport, Snapshot};
#[cfg(feature = "runtime")]
pub use store::{MemoryStore, Store};
#[cfg(feature = "redis")]
pub use store::{redis_ping, PingFailure, RedisStore};
