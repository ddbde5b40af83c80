//! The headers every routed record carries (names are a stable interface).

use super::plan::VerdictTag;
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

/// Contract id.
pub const CONTRACT: &str = "contract-gate-contract";
/// Contract version that judged the record.
pub const CONTRACT_VERSION: &str = "contract-gate-contract-version";
/// valid | invalid | degraded | held | stale.
pub const VERDICT: &str = "contract-gate-verdict";
/// Breaker mode when the record was routed.
pub const BREAKER_STATE: &str = "contract-gate-breaker-state";
/// JSON array of violated rule ids.
pub const VIOLATIONS: &str = "contract-gate-violations";
/// Source topic.
pub const SOURCE_TOPIC: &str = "contract-gate-source-topic";
/// Source partition.
pub const SOURCE_PARTITION: &str = "contract-gate-source-partition";
/// Source offset.
pub const SOURCE_OFFSET: &str = "contract-gate-source-offset";
/// Source timestamp, ms since the epoch.
pub const SOURCE_TIMESTAMP: &str = "contract-gate-source-timestamp";
/// Why a record was quarantined, in words (decode errors and the first violation).
pub const REASON: &str = "contract-gate-reason";

/// Where a record came from.
#[derive(Debug, Clone, Copy)]
pub struct SourceCoords<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp, if the record had one.
    pub timestamp: Option<i64>,
}

/// Everything that goes into the headers of one output record.
#[derive(Debug, Clone, Copy)]
pub struct HeaderValues<'a> {
    /// Contract id.
    pub contract: &'a str,
    /// Contract version.
    pub version: &'a str,
    /// Verdict.
    pub verdict: VerdictTag,
    /// Breaker mode name.
    pub breaker_state: &'a str,
    /// Violated rule ids as a JSON array.
    pub violations: &'a str,
    /// Source coordinates (of the snapshot's own source for stale re-emits).
    pub source: SourceCoords<'a>,
    /// Reason text for quarantined records.
    pub reason: Option<&'a str>,
}

/// Prefix of every header the gate writes.
pub const PREFIX: &str = "contract-gate-";

/// The source record's own headers, to carry to its outputs (tracing ids, producer metadata).
/// Headers a gate wrote earlier (a held record replayed, a gate behind a gate) are dropped:
/// the outputs get fresh ones, and two values under one name would leave a reader guessing.
#[must_use]
pub fn inherited(source: Option<&BorrowedHeaders>) -> Option<OwnedHeaders> {
    let source = source?;
    let mut out = OwnedHeaders::new_with_capacity(source.count());
    for h in source.iter().filter(|h| !h.key.starts_with(PREFIX)) {
        out = out.insert(h);
    }
    Some(out)
}

/// Builds the headers, keeping any headers the source record had first.
#[must_use]
pub fn build(v: &HeaderValues<'_>, inherited: Option<OwnedHeaders>) -> OwnedHeaders {
    let partition = v.source.partition.to_string();
    let offset = v.source.offset.to_string();
    let ts = v.source.timestamp.map(|t| t.to_string()).unwrap_or_default();
    let mut h = inherited.unwrap_or_default();
    for (k, val) in [
        (CONTRACT, v.contract),
        (CONTRACT_VERSION, v.version),
        (VERDICT, v.verdict.as_str()),
        (BREAKER_STATE, v.breaker_state),
        (VIOLATIONS, v.violations),
        (SOURCE_TOPIC, v.source.topic),
        (SOURCE_PARTITION, partition.as_str()),
        (SOURCE_OFFSET, offset.as_str()),
        (SOURCE_TIMESTAMP, ts.as_str()),
    ] {
        h = h.insert(Header { key: k, value: Some(val) });
    }
    if let Some(r) = v.reason {
        h = h.insert(Header { key: REASON, value: Some(r) });
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(h: &OwnedHeaders) -> Vec<String> {
        h.iter().map(|x| x.key.to_string()).collect()
    }

    #[test]
    fn source_headers_come_first_and_old_gate_headers_are_replaced() {
        let source = OwnedHeaders::new()
            .insert(Header { key: "traceparent", value: Some("00-abc-01") })
            .insert(Header { key: VERDICT, value: Some("held") })
            .insert(Header { key: "empty", value: None::<&str> });
        let carried = inherited(Some(source.as_borrowed()));
        let v = HeaderValues {
            contract: "c",
            version: "1.0.0",
            verdict: VerdictTag::Valid,
            breaker_state: "closed",
            violations: "[]",
            source: SourceCoords { topic: "t", partition: 0, offset: 7, timestamp: None },
            reason: None,
        };
        let h = build(&v, carried);
        let n = names(&h);
        assert_eq!(&n[..2], ["traceparent", "empty"]);
        assert_eq!(n.iter().filter(|k| k.as_str() == VERDICT).count(), 1);
        let verdict = h.iter().find(|x| x.key == VERDICT).and_then(|x| x.value);
        assert_eq!(verdict, Some(&b"valid"[..]));
        assert!(inherited(None).is_none());
    }
}
