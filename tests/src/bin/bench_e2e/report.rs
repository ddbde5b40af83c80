//! The Markdown tables printed at the end of a run.

use super::*;

pub(crate) fn report(a: &Args, results: &[SizeResult]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Throughput ({} partitions; rate = records / (last − first output append time)):\n",
        a.partitions
    );
    let _ = writeln!(
        s,
        "| records | N | P rec/s | G rec/s | O rec/s | **G/P** | **O/P** | Ps rec/s | Ps/P | Pv rec/s | Pv/P | G/Ps |"
    );
    let _ = writeln!(
        s,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in results {
        let _ = writeln!(
            s,
            "| {} ({} B) | {} | {:.0} | {:.0} | {:.0} | **{:.2}** | **{:.2}** | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} |",
            r.size.name(),
            r.bytes,
            r.p.records,
            r.p.rate(),
            r.g.rate(),
            r.o.rate(),
            r.g.rate() / r.p.rate(),
            r.o.rate() / r.p.rate(),
            r.ps.rate(),
            r.ps.rate() / r.p.rate(),
            r.pv.rate(),
            r.pv.rate() / r.p.rate(),
            r.g.rate() / r.ps.rate()
        );
    }
    let _ = writeln!(
        s,
        "\nCPU µs per source record (utime + stime over the run, 10 ms ticks): this process (harness + system under test) / broker{}:\n",
        if a.broker_pid.is_some() { "" } else { " (pass --broker-pid for the broker)" }
    );
    let _ = writeln!(s, "| records | P | Ps | Pv | G | O | P/Pv, all CPU |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- |");
    for r in results {
        let cell = |t: &Throughput| {
            format!(
                "{:.1} / {}",
                t.cpu_us(t.cpu_self),
                t.cpu_broker
                    .map_or_else(|| "?".to_string(), |c| format!("{:.1}", t.cpu_us(c)))
            )
        };
        // On a box where the systems are CPU-bound, the ratio of their CPU per record is what
        // their rates' ratio tends to, without the run-to-run swing of the rates.
        let all = |t: &Throughput| t.cpu_us(t.cpu_self + t.cpu_broker.unwrap_or(0.0));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.2} |",
            r.size.name(),
            cell(&r.p),
            cell(&r.ps),
            cell(&r.pv),
            cell(&r.g),
            cell(&r.o),
            all(&r.p) / all(&r.pv)
        );
    }
    if results.iter().any(|r| !r.lat.is_empty()) {
        let _ = writeln!(s, "\nLatency, send → output arrival ({} s after a 2 s warm-up; µs). \"G sustains\": the load is below G's measured maximum; when it is not, records queue up and the latency grows with the run's length:\n", a.latency_secs);
        let _ = writeln!(s, "| records | load | rate/s (achieved) | P p50 | P p99 | P p99.9 | G p50 | G p99 | G p99.9 | G sustains | added p99 (G − P) |");
        let _ = writeln!(
            s,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for r in results {
            for (load, p, g) in &r.lat {
                let _ = writeln!(
                    s,
                    "| {} | {load} | {} ({:.0} / {:.0}) | {} | {} | {} |",
                    r.size.name(),
                    p.rate,
                    p.achieved,
                    g.achieved,
                    percentiles(p, g),
                    match (
                        r.g.rate() >= f64::from(u32::try_from(p.rate).unwrap_or(u32::MAX)),
                        g.complete
                    ) {
                        (true, true) => "yes".to_string(),
                        (true, false) => "yes, but records were missing".to_string(),
                        (false, _) => format!("no (G max {:.0}/s)", r.g.rate()),
                    },
                    g.p99 - p.p99
                );
            }
        }
    }
    s
}
