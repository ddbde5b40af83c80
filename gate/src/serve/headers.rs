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
/// `true` on a quarantine record that stands for a record no output would take: its body
/// names the record (source coordinates, size, SHA-256) instead of carrying it.
pub const STUB: &str = "contract-gate-stub";
/// `passed` on a record that was part of a half-open probe and reached validated with the
/// probe's passing verdict (absent on every other record).
pub const PROBE: &str = "contract-gate-probe";
/// On a canary record (the gate's own heartbeat, `bindings[].canary`): its id,
/// `<replica>/<seq>/<sent ms>`, on the source record and on its output. Consumers of the
/// validated topic skip records that carry it.
pub const CANARY: &str = "contract-gate-canary";

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
    /// The record was a probe record released by a passing verdict.
    pub probe_passed: bool,
    /// The record is a canary with this id (`contract-gate-canary`).
    pub canary: Option<&'a str>,
    /// The lean profile (`headers: lean`, validated only): contract, version, verdict and
    /// breaker state (and the probe mark); no violations, no source coordinates.
    pub lean: bool,
}

/// Prefix of every header the gate writes.
pub const PREFIX: &str = "contract-gate-";

/// The source record's own headers, to carry to its outputs (tracing ids, producer metadata).
/// Headers a gate wrote earlier (a held record replayed, a gate behind a gate) are dropped:
/// the outputs get fresh ones, and two values under one name would leave a reader guessing.
#[must_use]
pub fn inherited(source: Option<&BorrowedHeaders>) -> Option<OwnedHeaders> {
    let source = source?;
    // Room for the gate's own headers too.
    let mut out = OwnedHeaders::new_with_capacity(source.count() + 10);
    for h in source.iter().filter(|h| !h.key.starts_with(PREFIX)) {
        out = out.insert(h);
    }
    Some(out)
}

/// Builds the headers, keeping any headers the source record had first.
#[must_use]
pub fn build(v: &HeaderValues<'_>, inherited: Option<OwnedHeaders>) -> OwnedHeaders {
    let mut h = inherited.unwrap_or_else(|| OwnedHeaders::new_with_capacity(10));
    for (k, val) in [(CONTRACT, v.contract), (CONTRACT_VERSION, v.version), (VERDICT, v.verdict.as_str()), (BREAKER_STATE, v.breaker_state)] {
        h = h.insert(Header { key: k, value: Some(val) });
    }
    if !v.lean {
        h = h.insert(Header { key: VIOLATIONS, value: Some(v.violations) });
        h = with_coordinates(h, &v.source);
    }
    if let Some(r) = v.reason {
        h = h.insert(Header { key: REASON, value: Some(r) });
    }
    if v.probe_passed {
        h = h.insert(Header { key: PROBE, value: Some("passed") });
    }
    if let Some(id) = v.canary {
        h = h.insert(Header { key: CANARY, value: Some(id) });
    }
    h
}

/// The canary id a record carries, if it is one of the gate's canaries.
#[must_use]
pub fn canary_id(source: Option<&BorrowedHeaders>) -> Option<&str> {
    source?.iter().find(|h| h.key == CANARY).and_then(|h| std::str::from_utf8(h.value?).ok())
}

/// Appends the four `contract-gate-source-*` headers: every routed record carries them, and
/// they are the only headers of a `<src>.last-good` index record.
#[must_use]
pub fn with_coordinates(h: OwnedHeaders, source: &SourceCoords<'_>) -> OwnedHeaders {
    // Numbers are written on the stack: this runs for every output record.
    let (mut p, mut o, mut t) = ([0u8; 20], [0u8; 20], [0u8; 20]);
    let partition = decimal(&mut p, i64::from(source.partition));
    let offset = decimal(&mut o, source.offset);
    let ts = source.timestamp.map_or(&[][..], |x| decimal(&mut t, x));
    let mut h = h;
    for (k, val) in [(SOURCE_TOPIC, source.topic.as_bytes()), (SOURCE_PARTITION, partition), (SOURCE_OFFSET, offset), (SOURCE_TIMESTAMP, ts)] {
        h = h.insert(Header { key: k, value: Some(val) });
    }
    h
}

/// `n` in decimal, written into the end of `buf` (20 bytes hold any i64). By hand: the
/// formatting machinery was a third of this function's cost, which runs per output record.
fn decimal(buf: &mut [u8; 20], n: i64) -> &[u8] {
    let mut m = n.unsigned_abs();
    let mut at = buf.len();
    for slot in buf.iter_mut().rev() {
        // `m % 10` is a single digit.
        *slot = b'0' + u8::try_from(m % 10).unwrap_or(0);
        m /= 10;
        at -= 1;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'-';
        }
    }
    buf.get(at..).unwrap_or_default()
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
            probe_passed: false,
            canary: None,
            lean: false,
        };
        let h = build(&v, carried.clone());
        let n = names(&h);
        assert_eq!(&n[..2], ["traceparent", "empty"]);
        assert_eq!(n.iter().filter(|k| k.as_str() == VERDICT).count(), 1);
        let verdict = h.iter().find(|x| x.key == VERDICT).and_then(|x| x.value);
        assert_eq!(verdict, Some(&b"valid"[..]));
        assert!(inherited(None).is_none());
        let value = |name: &str| h.iter().find(|x| x.key == name).and_then(|x| x.value);
        assert_eq!(value(SOURCE_OFFSET), Some(&b"7"[..]));
        assert_eq!(value(SOURCE_TIMESTAMP), Some(&b""[..]));
        for n in [0, 7, -7, 9, 10, -10, 99, 100, 1_700_000_000_000, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(&mut buf, n), n.to_string().as_bytes(), "{n}");
        }
        // Lean: the source's own headers, then the four a consumer needs to trust the record.
        let lean = names(&build(&HeaderValues { lean: true, probe_passed: true, ..v }, carried));
        assert_eq!(lean, ["traceparent", "empty", CONTRACT, CONTRACT_VERSION, VERDICT, BREAKER_STATE, PROBE]);
    }
}
