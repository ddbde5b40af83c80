//! The sidecar under failure, on real Kafka and Redis:
//!
//! - `kill -9` of the `contract-gate serve` process mid-stream and a restart: every source
//!   (partition, offset) reaches exactly one of validated / quarantine / held / degraded at least
//!   once (duplicates are counted and reported; at-least-once allows them), none is lost, and a
//!   SIGTERM afterwards drains and commits every offset;
//! - two replicas in one consumer group share one breaker in Redis: a null burst that neither
//!   replica sees enough of to trip alone trips the shared breaker for both, with one event per
//!   transition;
//! - Redis stopped mid-stream (a private `redis-server`, not the shared one): record-level
//!   failures still reach quarantine, valid records still reach validated, nothing is lost, the
//!   readiness detail says the store fallback is active, and it clears once Redis is back;
//! - a replica started while Redis is away, with the shared breaker forced open there: it
//!   diverts every record until it can read the shared state, then honours the forced state.
//!
//! The `kill -9` test runs the real binary, `<target>/<profile>/contract-gate`: it builds it with
//! `cargo build -p gate --bin contract-gate` first (a no-op when fresh), or uses `CG_GATE_BIN`
//! when that is set (`scripts/test.sh` sets it to the binary its workspace build made, or builds
//! one before the services start).

use anyhow::{bail, ensure, Context as _};
use e2e::sidecar;
use gate::config::Fallback;
use gate::serve::headers as h;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bound of every wait; waits return as soon as their condition holds.
const T: Duration = Duration::from_secs(90);

/// The outputs a consumed record can end in (last-good is a copy of validated, not an outcome).
const OUTCOMES: [&str; 4] = ["validated", "quarantine", "held", "degraded"];

mod broker_restart;
mod data;
mod forced_outage;
mod kill9;
mod ledger;
mod process;
mod queue_full;
mod redis_outage;
mod replicas;

use data::*;
use ledger::*;
use process::*;
