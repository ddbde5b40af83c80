//! Source records: clean flights, a mix of valid, invalid and malformed, produced with their coordinates.

use super::*;

/// Whether a produced record passes the contract's record checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Valid,
    /// Parses, fails a record check (`dep_delay` as a string).
    Invalid,
    /// Not JSON at all.
    Malformed,
}

/// Sample flights that keep every window metric inside the contract on their own: departed
/// (no `dep_time` null), a US registration, and no two alike in the uniqueness key.
pub(crate) fn clean_flights() -> Vec<Value> {
    let registration = |t: &str| {
        t.len() >= 2
            && t.len() <= 6
            && t.starts_with('N')
            && t[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    };
    let mut keys = HashSet::new();
    sidecar::flights_sample()
        .into_iter()
        .filter(|r| !r["dep_time"].is_null() && r["tailnum"].as_str().is_some_and(registration))
        .filter(|r| {
            keys.insert(format!(
                "{}|{}|{}|{}",
                r["carrier"], r["flight"], r["time_hour"], r["origin"]
            ))
        })
        .collect()
}

/// `n` keyed records starting at `from` in `pool` (wrapping): every `invalid_every`th fails a
/// record check, every `torn_every`th is torn JSON (0: none), the rest are valid. The
/// contract's implicit window rules trip the breaker above 5 % record failures
/// (`$.recordFailures`) or 1 % decode errors (`$.decodeErrors`).
pub(crate) fn mixed(
    pool: &[Value],
    from: usize,
    n: usize,
    invalid_every: usize,
    torn_every: usize,
) -> Vec<(String, Vec<u8>, Kind)> {
    (from..from + n)
        .map(|i| {
            let mut r = pool[i % pool.len()].clone();
            let key = format!("{}{}", r["carrier"].as_str().unwrap_or("?"), r["flight"]);
            if torn_every > 0 && i % torn_every == 13 {
                (
                    key,
                    format!("{{\"year\": 2013, \"n\": {i},").into_bytes(),
                    Kind::Malformed,
                )
            } else if i % invalid_every == 3 {
                r["dep_delay"] = Value::String(format!("{i}"));
                (key, r.to_string().into_bytes(), Kind::Invalid)
            } else {
                (key, r.to_string().into_bytes(), Kind::Valid)
            }
        })
        .collect()
}

/// Produces `records` to `topic` and returns where each landed, with its kind. Every record is
/// queued before the first acknowledgement is awaited (`FutureProducer::send` is lazy: awaiting
/// its futures one by one costs a broker round trip per record).
pub(crate) async fn produce_located(
    p: &FutureProducer,
    topic: &str,
    records: &[(String, Vec<u8>, Kind)],
) -> anyhow::Result<Vec<((i32, i64), Kind)>> {
    let mut futs = Vec::with_capacity(records.len());
    for (k, v, kind) in records {
        let f = p
            .send_result(FutureRecord::to(topic).key(k).payload(v))
            .map_err(|(e, _)| anyhow::anyhow!("queue for {topic}: {e}"))?;
        futs.push((f, *kind));
    }
    let mut out = Vec::with_capacity(futs.len());
    for (f, kind) in futs {
        let d = f
            .await
            .context("producer dropped")?
            .map_err(|(e, _)| anyhow::anyhow!("produce to {topic}: {e}"))?;
        out.push(((d.partition, d.offset), kind));
    }
    Ok(out)
}
