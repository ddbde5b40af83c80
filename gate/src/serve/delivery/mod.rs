//! What happens after a record's outputs are sent: when its source offset may be committed.
//! One trait, two implementations: [`AtLeastOnce`] stores a partition's offset once every
//! output before it is acknowledged; [`Transactional`] commits the outputs of a micro-batch
//! and the offsets after it in one Kafka transaction. The record loop drives either the same
//! way.

mod at_least_once;
mod transactional;

pub use at_least_once::AtLeastOnce;
pub use transactional::Transactional;

use super::partitions::Partitions;
use super::pipeline::Pipeline;
use super::ServeError;
use std::sync::Arc;

/// A delivery mode, as the record loop sees it. Methods the mode has no use for do nothing.
pub(crate) trait Delivery {
    /// Whether strict mode's deferral works with this mode (a transaction cannot stay open
    /// across flushes).
    const DEFERS: bool;

    /// Before the first record.
    async fn start(&mut self, p: &Pipeline) -> Result<(), ServeError>;

    /// Whether the loop may consume another record, with `deferred` records waiting.
    fn has_room(&self, deferred: usize) -> bool;

    /// Whether delivery reports are awaited between records.
    fn awaits_reports(&self) -> bool;

    /// Takes the queued delivery reports.
    ///
    /// # Errors
    /// An output failed: the process must stop without committing past its record.
    fn on_reports(&mut self, p: &Pipeline, parts: &mut Partitions) -> Result<(), ServeError>;

    /// When the open batch must be committed, if one is open.
    fn due(&self) -> Option<tokio::time::Instant>;

    /// Commits the open batch.
    async fn on_due(&mut self, p: &Pipeline) -> Result<(), ServeError>;

    /// The group asks `revoked` back: finish what was sent from them so their new owner
    /// starts after it, not before. They are unassigned when this returns.
    ///
    /// # Errors
    /// As [`Delivery::on_reports`] and [`Delivery::on_due`].
    async fn hand_over(&mut self, p: &Pipeline, parts: &mut Partitions, revoked: &[(String, i32)]) -> Result<(), ServeError>;

    /// Partitions moved (assigned or revoked) before the next record.
    async fn on_moved(&mut self, p: &Pipeline, moved: &[(String, i32)]) -> Result<(), ServeError>;

    /// Whether a consumed record is taken at all (a record fetched before a rewind is not).
    fn admits(&mut self, topic: &str, partition: i32, offset: i64) -> bool;

    /// Before a record is judged and its outputs sent.
    fn before_send(&mut self, p: &Pipeline) -> Result<(), ServeError>;

    /// A record was routed and `outputs` outputs sent for it (none: it is done at once).
    fn sent(&mut self, p: &Pipeline, parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32);

    /// A record was deferred by strict mode: its offset waits.
    fn deferred(&mut self, parts: &mut Partitions, topic: &str, partition: i32, offset: i64);

    /// A deferred record was released to `outputs` outputs.
    fn released(&mut self, p: &Pipeline, parts: &mut Partitions, topic: &Arc<str>, partition: i32, offset: i64, outputs: u32);

    /// Shutdown: finishes what is in flight.
    async fn finish(&mut self, p: &Pipeline, parts: &mut Partitions) -> Result<(), ServeError>;
}
