//! One consumed record, borrowed: what the outputs are built from, whether it comes straight
//! from the consumer or out of strict mode's deferral.

use rdkafka::message::BorrowedHeaders;

/// A consumed record, borrowed: what the outputs are built from.
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source timestamp.
    pub timestamp: Option<i64>,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// The key the last-good index knows the record by: the decoded key's canonical JSON for
    /// a structured key (`bindings[].key`), else the key itself.
    pub index_key: Option<&'a [u8]>,
    /// Payload.
    pub payload: &'a [u8],
    /// The record's own headers.
    pub headers: Option<&'a BorrowedHeaders>,
}

impl std::fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordRef").field("topic", &self.topic).field("partition", &self.partition).field("offset", &self.offset).finish_non_exhaustive()
    }
}
