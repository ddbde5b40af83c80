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
//! * [`plan`], [`report`] — the plan file and the report (the command is `cli::drill_cmd`).

pub mod faults;
pub mod hypothesis;
pub mod ledger;
pub mod plan;
pub mod report;
pub mod runner;
pub mod scenario;

pub use plan::{Plan, Step, TrafficSpec};
pub use report::DrillReport;
pub use runner::{RunOptions, Target, Traffic};

/// Resolves every step first (so a typo in step 5 fails before step 1 injects anything),
/// then runs them one after the other.
///
/// # Errors
/// A step that does not fit the contract, or Kafka failures.
pub async fn run_plan(target: &Target, traffic: &Traffic, steps: &[Step], opts: &RunOptions) -> anyhow::Result<Vec<DrillReport>> {
    let resolved = steps.iter().map(|s| scenario::resolve(s, &target.info, &target.binding.breaker)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
    let mut out = Vec::with_capacity(resolved.len());
    for (i, r) in resolved.iter().enumerate() {
        let label = if resolved.len() > 1 { format!("{}[{}/{}]", opts.label, i + 1, resolved.len()) } else { opts.label.clone() };
        let o = RunOptions { progress: opts.progress, cancel: opts.cancel.clone(), label };
        if opts.cancel.as_ref().is_some_and(|c| *c.borrow()) {
            break;
        }
        out.push(runner::run(target, traffic, r, &o).await?);
    }
    Ok(out)
}
