//! Throughput in alternated rounds (`--rounds N`): issue 19's target 3 is a ratio (G/Pv, O/Pv)
//! and single runs moved it by ±0.15 (P and Pv moved by up to 35 % between runs of one
//! binary). Each round writes fresh copies and runs P, Pv, G and O in an order rotated by one,
//! so no system always runs first on a cold broker or last on a full disk; the ratios are
//! taken inside each round and their medians printed.

use super::*;

/// The systems a round runs; Ps (Pv without the JSON scan) is left out: target 3 compares
/// with Pv.
const SYSTEMS: [System; 4] = [System::P, System::Pv, System::G, System::O];

/// Runs `a.rounds` rounds of `size` and prints one row per round and the medians.
pub(crate) async fn throughput_rounds(a: &Args, size: Size, pool: &[serde_json::Value]) -> anyhow::Result<()> {
    let (contracts, records) = throughput_records(a, size, pool)?;
    let n = records.len();
    let mut rows = Vec::new();
    for r in 0..a.rounds {
        let mut order = SYSTEMS;
        order.rotate_left(r % SYSTEMS.len());
        let got = round(a, size, &records, contracts.path(), &order).await?;
        let row = SYSTEMS.map(|s| got[&s]);
        eprintln!("[{}] round {}: {}", size.name(), r + 1, ratios(&row).iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" "));
        rows.push((order, row));
    }
    println!("{}", table(a, size, n, &rows));
    Ok(())
}

/// G/Pv, O/Pv and Pv/P of one round (`row` in [`SYSTEMS`] order).
fn ratios(row: &[Throughput; 4]) -> [f64; 3] {
    let [p, pv, g, o] = row.map(|t| t.rate());
    [g / pv, o / pv, pv / p]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn table(a: &Args, size: Size, n: usize, rows: &[([System; 4], [Throughput; 4])]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Throughput of {} records, {n} per system per round, {} partitions, workers {}, headers {}: records/s (CPU µs per record of this process)\n",
        size.name(),
        a.partitions,
        a.workers.map_or_else(|| "default".to_string(), |w| w.to_string()),
        if a.lean { "lean" } else { "full" }
    );
    let _ = writeln!(s, "| round | order | P | Pv | G | O | G/Pv | O/Pv | Pv/P |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let cell = |t: &Throughput| format!("{:.0}k ({:.1})", t.rate() / 1000.0, t.cpu_us(t.cpu_self));
    for (i, (order, row)) in rows.iter().enumerate() {
        let [gp, op, pp] = ratios(row);
        let order = order.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" ");
        let cells = row.iter().map(cell).collect::<Vec<_>>().join(" | ");
        let _ = writeln!(s, "| {} | {order} | {cells} | {gp:.2} | {op:.2} | {pp:.2} |", i + 1);
    }
    let rate = |k: usize| median(rows.iter().map(|(_, r)| r[k].rate() / 1000.0).collect());
    let ratio = |k: usize| median(rows.iter().map(|(_, r)| ratios(r)[k]).collect());
    let _ = writeln!(s, "| median | | {:.0}k | {:.0}k | {:.0}k | {:.0}k | **{:.2}** | **{:.2}** | {:.2} |", rate(0), rate(1), rate(2), rate(3), ratio(0), ratio(1), ratio(2));
    s
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_of_odd_and_even_counts() {
        for (v, want) in [(vec![3.0, 1.0, 2.0], 2.0), (vec![4.0, 1.0, 3.0, 2.0], 2.5), (vec![5.0], 5.0)] {
            assert!((median(v.clone()) - want).abs() < 1e-9, "{v:?}");
        }
        assert!(median(Vec::new()).is_nan());
    }
}
