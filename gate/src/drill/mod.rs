//! `contract-gate drill`: data chaos drills against a running gate.
//!
//! A drill replays known-good records into a binding's source topic at a set rate, measures
//! that steady state, injects one fault for a while (or for a share of records), watches the
//! binding's outputs and breaker events, and checks a written hypothesis: detected within T,
//! at most N injected records leaked to validated, the expected breaker sequence, recovery
//! within R once the fault stops. Injected records are recognised by the source partition
//! and offset their delivery reports gave, matched against the `contract-gate-source-*`
//! headers the gate puts on every output.
//!
//! * [`faults`] — the pure injectors (a record in, the bytes a broken producer sends out);
//! * [`scenario`] — the built-in scenarios: which field each breaks, how the gate should catch
//!   it, and the default blast radius and hypothesis, read from the contract;
//! * [`hypothesis`] — the assertions, a pure function of what was measured;
//! * [`ledger`] — matching delivery reports with output headers and breaker events;
//! * [`runner`] — the producer, the reader and the phases against real Kafka;
//! * [`wire`] — Avro, JSON Schema and Protobuf bindings: the Confluent wire format, drifted
//!   writer schemas and their registration;
//! * [`plan`], [`report`] — the plan file and the report (the command is `cli::drill_cmd`).

pub mod faults;
pub mod hypothesis;
pub mod ledger;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod wire;

pub use plan::{Plan, Step, TrafficSpec};
pub use report::DrillReport;
pub use runner::{RunOptions, Target, Traffic};

/// Resolves every step first (so a typo in step 5 fails before step 1 injects anything),
/// then runs them one after the other, showing progress as [`RunOptions::progress`] says.
///
/// # Errors
/// A step that does not fit the contract, or Kafka failures.
pub async fn run_plan(target: &Target, traffic: &Traffic, steps: &[Step], opts: &RunOptions) -> anyhow::Result<Vec<DrillReport>> {
    use runner::show::{PlanView, Show};
    use std::io::IsTerminal as _;
    // Wire formats: the producers' writer schema, checked against the gate and the baseline.
    let wired = match wire::Format::of(target.binding.format) {
        None => None,
        Some(format) => {
            let reg = wire::registry::Registry::new(&target.cfg, &target.binding, format).map_err(anyhow::Error::msg)?;
            let base = reg.base(traffic.schema.as_deref(), std::sync::Arc::clone(&target.compiled), target.binding.allowed_schema_ids.clone()).await.map_err(anyhow::Error::msg)?;
            wire::check_baseline(&traffic.records, traffic.restamp.as_deref(), &base.writer).map_err(anyhow::Error::msg)?;
            Some((reg, base))
        }
    };
    let resolved = steps.iter().map(|s| scenario::resolve_for(s, &target.info, &target.binding.breaker, wired.as_ref().map(|(_, b)| b))).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
    if let (Some((_, base)), Some(sample)) = (&wired, traffic.records.first()) {
        for r in &resolved {
            wire::check_fault(&base.writer, r.writer.as_ref(), &r.fault, sample).map_err(|e| anyhow::anyhow!("{}: {e}", r.scenario))?;
        }
    }
    // Every drifted schema registered before the first step injects anything.
    let mut writers = Vec::with_capacity(resolved.len());
    for r in &resolved {
        writers.push(match &wired {
            None => None,
            Some((reg, base)) => {
                let fault = match &r.writer {
                    Some(w) => Some(reg.register_drift(w).await.map_err(anyhow::Error::msg)?),
                    None => None,
                };
                Some(wire::Writers { base: base.writer.clone(), fault })
            }
        });
    }
    let view = (opts.progress && std::io::stderr().is_terminal()).then(|| PlanView::new(resolved.len() as u64));
    let mut out = Vec::with_capacity(resolved.len());
    for (i, (r, wire)) in resolved.iter().zip(writers).enumerate() {
        let label = if resolved.len() > 1 { format!("{}[{}/{}]", opts.label, i + 1, resolved.len()) } else { opts.label.clone() };
        if opts.cancel.as_ref().is_some_and(|c| *c.borrow()) {
            break;
        }
        let show = match &view {
            _ if !opts.progress => Show::Hidden,
            Some(v) => v.step(),
            None => Show::lines(),
        };
        let multi = view.as_ref().map(PlanView::multi);
        // Warm-up and recovery take as long as the gate needs; the rest is known ahead.
        let planned = traffic.steady + r.duration + traffic.settle;
        show.note(multi, &format!("{label}{}{}: starting ({:?} fault, about {:?} with steady state and settle)", if label.is_empty() { "" } else { " " }, r.scenario, r.duration, planned));
        let started = std::time::Instant::now();
        let report = runner::run(target, traffic, r, wire, &label, opts.cancel.clone(), &show).await?;
        let verdict = if report.passed { "passed" } else { "FAILED" };
        show.note(multi, &format!("{label}{}{}: {verdict} after {:.0?}", if label.is_empty() { "" } else { " " }, r.scenario, started.elapsed()));
        if let Some(v) = &view {
            v.advance();
        }
        out.push(report);
    }
    if let Some(v) = &view {
        v.finish();
    }
    Ok(out)
}
