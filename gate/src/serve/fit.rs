//! Records an output cannot take. Before a send, a record whose output would exceed the
//! output topic's limit is replaced by a stub on quarantine (its source coordinates, size,
//! SHA-256 and the reason), so one oversized record neither stops the gate nor comes back on
//! every restart. After a send, a refused delivery is classified: the broker will never take
//! this record (stub it), the cluster is away (send it again), or the gate cannot write at all
//! (stop).

use rdkafka::message::Headers;
use rdkafka::types::RDKafkaErrorCode as Code;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Room the gate's own headers take on an output record: the `contract-gate-*` names and
/// values, a quarantine reason and a violation list, counted generously.
pub const GATE_HEADERS_BYTES: usize = 4 * 1024;

/// Added to `max_record_bytes` for the output producer's `message.max.bytes` when the user
/// does not set it: the record's key and its own headers, and the gate's headers.
pub const HEADROOM: usize = 64 * 1024;

/// Per-record framing in a Kafka record batch (varints, attributes, batch header), generously.
const FRAMING: usize = 128;

/// A stub keeps the record's key up to this size: the key may be what made it too large.
pub const STUB_KEY_MAX: usize = 4 * 1024;

/// What a refused output means for its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The broker will never accept this record (too large, malformed, timestamp out of
    /// range): quarantine a stub instead.
    Record,
    /// The cluster was away longer than the producer's retries: send it again.
    Transient,
    /// Not about this record (authorisation, a fenced producer, an unknown topic): stop.
    Fatal,
}

impl Refusal {
    /// The metric label of what the gate did about it.
    #[must_use]
    pub fn outcome(self) -> &'static str {
        match self {
            Self::Record => "stubbed",
            Self::Transient => "retried",
            Self::Fatal => "stopped",
        }
    }
}

/// Classifies a produce error code.
#[must_use]
pub fn refusal(code: Code) -> Refusal {
    match code {
        Code::MessageSizeTooLarge | Code::InvalidMessageSize | Code::InvalidMessage | Code::InvalidRecord | Code::InvalidTimestamp | Code::MessageBatchTooLarge => Refusal::Record,
        Code::MessageTimedOut
        | Code::QueueFull
        | Code::BrokerTransportFailure
        | Code::AllBrokersDown
        | Code::RequestTimedOut
        | Code::NotEnoughReplicas
        | Code::NotEnoughReplicasAfterAppend
        | Code::LeaderNotAvailable
        | Code::NotLeaderForPartition
        | Code::NetworkException
        | Code::KafkaStorageError
        | Code::NotCoordinator
        | Code::OperationTimedOut => Refusal::Transient,
        _ => Refusal::Fatal,
    }
}

/// Bytes an output record takes against `message.max.bytes`: key, payload, the headers it
/// carries over from its source, the gate's headers and the framing.
#[must_use]
pub fn output_size<H: Headers>(key: Option<&[u8]>, payload: &[u8], inherited: Option<&H>) -> usize {
    let carried: usize = inherited.map_or(0, |h| h.iter().map(|x| x.key.len() + x.value.map_or(0, <[u8]>::len) + 8).sum());
    key.map_or(0, <[u8]>::len) + payload.len() + carried + GATE_HEADERS_BYTES + FRAMING
}

/// The body of a stub: what identifies the record that no output would take.
#[derive(Debug, Serialize)]
struct Stub<'a> {
    stub: bool,
    source_topic: &'a str,
    source_partition: i32,
    source_offset: i64,
    size_bytes: usize,
    key_bytes: usize,
    sha256: String,
    error: &'a str,
}

/// A stub's JSON body for the record at `topic/partition/offset` whose payload is `payload`,
/// refused (or foreseen refused) with `error`.
#[must_use]
pub fn stub_body(topic: &str, partition: i32, offset: i64, key: Option<&[u8]>, payload: &[u8], error: &str) -> Vec<u8> {
    let sha256 = Sha256::digest(payload).iter().map(|b| format!("{b:02x}")).collect();
    let stub = Stub { stub: true, source_topic: topic, source_partition: partition, source_offset: offset, size_bytes: payload.len(), key_bytes: key.map_or(0, <[u8]>::len), sha256, error };
    // Serialising plain strings and numbers cannot fail; an empty body would still be a stub.
    serde_json::to_vec(&stub).unwrap_or_default()
}

/// The key a stub keeps: the record's, unless that is what is too large.
#[must_use]
pub fn stub_key(key: Option<&[u8]>) -> Option<&[u8]> {
    key.filter(|k| k.len() <= STUB_KEY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{Header, OwnedHeaders};

    #[test]
    fn refusals() {
        let cases = [
            (Code::MessageSizeTooLarge, Refusal::Record),
            (Code::InvalidTimestamp, Refusal::Record),
            (Code::InvalidRecord, Refusal::Record),
            (Code::MessageTimedOut, Refusal::Transient),
            (Code::AllBrokersDown, Refusal::Transient),
            (Code::QueueFull, Refusal::Transient),
            (Code::TopicAuthorizationFailed, Refusal::Fatal),
            (Code::ProducerFenced, Refusal::Fatal),
            (Code::UnknownTopicOrPartition, Refusal::Fatal),
        ];
        for (code, want) in cases {
            assert_eq!(refusal(code), want, "{code:?}");
        }
    }

    #[test]
    fn sizes_count_key_payload_and_carried_headers() {
        let h = OwnedHeaders::new().insert(Header { key: "traceparent", value: Some("abc") });
        assert_eq!(output_size::<OwnedHeaders>(None, &[0; 10], None), 10 + GATE_HEADERS_BYTES + FRAMING);
        assert_eq!(output_size(Some(b"k".as_slice()), &[0; 10], Some(&h)), 1 + 10 + (11 + 3 + 8) + GATE_HEADERS_BYTES + FRAMING);
    }

    #[test]
    fn a_stub_names_the_record_and_its_digest() {
        let body = stub_body("flights", 2, 41, Some(b"k1".as_slice()), b"abc", "Broker: Message size too large");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["stub"], true);
        assert_eq!((v["source_topic"].as_str(), v["source_partition"].as_i64(), v["source_offset"].as_i64()), (Some("flights"), Some(2), Some(41)));
        assert_eq!((v["size_bytes"].as_u64(), v["key_bytes"].as_u64()), (Some(3), Some(2)));
        // SHA-256 of "abc" (FIPS 180-2 test vector).
        assert_eq!(v["sha256"], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(stub_key(Some(&[0; STUB_KEY_MAX + 1])), None);
        assert_eq!(stub_key(Some(b"k".as_slice())), Some(b"k".as_slice()));
    }
}
