//! The demo's data: the bundled flights contract and sample (compiled into the binary so the
//! demo runs from any directory), replayed as a steady stream with a scripted null burst.

use serde_json::Value;

/// The bundled flights contract (`examples/flights/flights.odcs.yaml`).
pub const CONTRACT: &str = include_str!("../../../examples/flights/flights.odcs.yaml");
/// The bundled 3,007-flight sample (`examples/flights/sample.jsonl`).
pub const SAMPLE: &str = include_str!("../../../examples/flights/sample.jsonl");

/// What kind of record the stream emits at one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A sample flight as it is.
    Good,
    /// A sample flight with `dep_time` nulled: valid per record, but the window's null rate
    /// breaks the contract's `dep_time_nulls` rule (< 5 %).
    NullDepTime,
    /// `dep_delay` sent as a string: fails the record check (type), quarantined.
    StringDelay,
    /// `sched_dep_time` out of range: fails the record check, quarantined.
    OutOfRange,
    /// The JSON is cut in half: a decode error, quarantined with its bytes as they came.
    Torn,
}

/// Every how many records the stream slips in one broken record (about 1 %, well under the
/// contract's 5 % record-failure and 1 % decode-error budgets: quarantine is routine).
pub const BROKEN_EVERY: u64 = 97;

/// The sample flights in replay order.
///
/// The sample is in date order, and its 76 cancelled flights (null `dep_time`, 2.5 %) bunch
/// on bad-weather days — 9 of 15 consecutive rows on 8 February 2013. The contract allows
/// under 5 % nulls over a window; replayed in date order the real storm comes close (9 of 15
/// rows) and would muddle which burst tripped the breaker. The demo therefore replays them with
/// the cancelled ones (with and without a tail number) spread evenly: any 300 consecutive
/// records hold the sample's own 2.5 % of cancellations, half the threshold.
///
/// # Panics
/// Never for the bundled sample (checked by a unit test).
#[must_use]
pub fn ordered() -> Vec<Value> {
    #[allow(clippy::expect_used)]
    let rows: Vec<Value> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("bundled sample is JSON")).collect();
    // Three classes, each spread evenly over the sequence while keeping its own order.
    let class = |r: &Value| match (r["dep_time"].is_null(), r["tailnum"].is_null()) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let mut classes: [Vec<Value>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for r in rows {
        classes[class(&r)].push(r);
    }
    let total = classes.iter().map(Vec::len).sum::<usize>();
    let mut taken = [0usize; 3];
    let mut out = Vec::with_capacity(total);
    for i in 1..=total {
        // The class furthest behind its even share so far goes next (low-discrepancy merge).
        #[allow(clippy::cast_precision_loss)]
        let deficit = |k: usize| (i as f64) * (classes[k].len() as f64) / (total as f64) - taken[k] as f64;
        let k = (0..3).filter(|k| taken[*k] < classes[*k].len()).max_by(|a, b| deficit(*a).total_cmp(&deficit(*b))).unwrap_or(0);
        out.push(classes[k][taken[k]].clone());
        taken[k] += 1;
    }
    out
}

/// The key of a flight on the source topic: its route (`JFK-LAX`). The last-good index then
/// holds the latest departure per route, which is what the stale snapshots re-send.
#[must_use]
pub fn key(r: &Value) -> String {
    format!("{}-{}", r["origin"].as_str().unwrap_or("?"), r["dest"].as_str().unwrap_or("?"))
}

/// The `seq`-th record of the stream (key, payload, kind), cycling through `flights`. Each
/// pass after the first moves `time_hour` on by a year so the replay never looks like
/// duplicates to the `flights_unique` rule. `burst` nulls `dep_time` in every record.
#[must_use]
pub fn record(flights: &[Value], seq: u64, burst: bool) -> (String, Vec<u8>, Kind) {
    let n = flights.len().max(1) as u64;
    #[allow(clippy::cast_possible_truncation)]
    let mut r = flights[(seq % n) as usize].clone();
    let pass = seq / n;
    if pass > 0 {
        if let Some(th) = r["time_hour"].as_str() {
            if let Ok(year) = th.get(..4).unwrap_or("").parse::<u64>() {
                r["time_hour"] = Value::String(format!("{}{}", year + pass, &th[4..]));
            }
        }
    }
    let key = key(&r);
    let kind = if seq % BROKEN_EVERY == BROKEN_EVERY - 1 {
        match (seq / BROKEN_EVERY) % 3 {
            0 => Kind::StringDelay,
            1 => Kind::OutOfRange,
            _ => Kind::Torn,
        }
    } else if burst {
        Kind::NullDepTime
    } else {
        Kind::Good
    };
    match kind {
        Kind::Good => {}
        Kind::NullDepTime => r["dep_time"] = Value::Null,
        Kind::StringDelay => r["dep_delay"] = Value::String(r["dep_delay"].to_string()),
        Kind::OutOfRange => r["sched_dep_time"] = Value::from(2517),
        Kind::Torn => {
            let s = r.to_string();
            return (key, s.as_bytes()[..s.len() / 2].to_vec(), kind);
        }
    }
    (key, r.to_string().into_bytes(), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::cast_precision_loss)]
    fn pct(n: usize, of: usize) -> f64 {
        n as f64 * 100.0 / of as f64
    }

    #[test]
    fn replay_keeps_every_flight_and_stays_under_the_null_thresholds() {
        let o = ordered();
        assert_eq!(o.len(), 3007);
        let nulls = |r: &Value, f: &str| r[f].is_null();
        assert_eq!(o.iter().filter(|r| nulls(r, "dep_time")).count(), 76);
        // Every window of at least the probe size (300), cycling as the demo does, stays under
        // 3 % and 2 %, well inside dep_time_nulls (< 5 %) and tailnum_nulls (< 2.4 %).
        // Prefix sums over two passes, so each window is a subtraction.
        let n = o.len();
        let mut pre = vec![(0usize, 0usize); 2 * n + 1];
        for i in 0..2 * n {
            let r = &o[i % n];
            pre[i + 1] = (pre[i].0 + usize::from(nulls(r, "dep_time")), pre[i].1 + usize::from(nulls(r, "tailnum")));
        }
        for w in [300usize, 500, 1000, 2000] {
            for start in 0..n {
                let (d, t) = (pre[start + w].0 - pre[start].0, pre[start + w].1 - pre[start].1);
                assert!(pct(d, w) < 3.0, "dep_time nulls {d}/{w} at {start}");
                assert!(pct(t, w) < 2.0, "tailnum nulls {t}/{w} at {start}");
            }
        }
    }

    #[test]
    fn in_date_order_the_sample_alone_would_trip_the_breaker() {
        let rows: Vec<Value> = SAMPLE.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        let worst = rows.windows(500).map(|w| w.iter().filter(|r| r["dep_time"].is_null()).count()).max().unwrap_or(0);
        assert!(pct(worst, 500) >= 3.0, "why ordered() spreads the cancellations: {worst}/500");
    }

    #[test]
    fn records_cycle_without_duplicates_and_break_on_schedule() {
        let o = ordered();
        let (_, a, _) = record(&o, 0, false);
        let (_, b, _) = record(&o, 3007, false);
        let (a, b): (Value, Value) = (serde_json::from_slice(&a).expect("json"), serde_json::from_slice(&b).expect("json"));
        assert_eq!(a["flight"], b["flight"]);
        assert_ne!(a["time_hour"], b["time_hour"], "second pass restamped");
        let kinds: Vec<Kind> = (0..3 * BROKEN_EVERY).map(|s| record(&o, s, true).2).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::NullDepTime).count() as u64, 3 * BROKEN_EVERY - 3);
        assert!(kinds.contains(&Kind::StringDelay) && kinds.contains(&Kind::OutOfRange) && kinds.contains(&Kind::Torn));
        let (_, torn, _) = record(&o, 3 * BROKEN_EVERY - 1, false);
        assert!(serde_json::from_slice::<Value>(&torn).is_err());
    }

    #[test]
    fn bundled_contract_checks_the_replayed_sample() {
        let c = contracts::parse(CONTRACT).expect("contract parses");
        assert_eq!(c.id, "flights");
    }
}
