//! Throughput: each system drains its own pre-filled copy of the source.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum System {
    /// Plain passthrough.
    P,
    /// Passthrough writing the gate's output shape (the nine headers), no checks.
    Ps,
    /// Ps that also reads every payload once as JSON, keeping nothing: the least any JSON
    /// contract check costs. Its rate is a ceiling for G's.
    Pv,
    /// The gate.
    G,
    /// The gate, breaker forced open (hold).
    O,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    pub(crate) records: usize,
    pub(crate) secs: f64,
    /// CPU seconds of this process and of the broker (if known) from start to the last output.
    pub(crate) cpu_self: f64,
    pub(crate) cpu_broker: Option<f64>,
}

impl Throughput {
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }

    /// CPU µs per record.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn cpu_us(&self, cpu: f64) -> f64 {
        cpu * 1e6 / self.records as f64
    }
}

/// Drains one pre-filled copy `src` with `system`; the rate from the first to the last output.
pub(crate) async fn throughput(
    a: &Args,
    system: System,
    size: Size,
    src: &str,
    n: usize,
    contracts: &Path,
) -> anyhow::Result<Throughput> {
    let timeout = Duration::from_secs(600);
    let n_i64 = i64::try_from(n)?;
    let started = PhaseStart::now(a);
    let (outputs, want) = match system {
        System::P | System::Ps | System::Pv => (vec![format!("{src}.out")], n_i64),
        // Every record is valid: validated under G, held under O. The last-good index is
        // written per changed key per interval, not per record, so it is not counted.
        System::G | System::O => (
            gate_outputs(src).into_iter().filter(|t| !t.ends_with(".last-good")).collect(),
            n_i64,
        ),
    };
    let cpu: (Option<f64>, Option<f64>);
    match system {
        System::P | System::Ps | System::Pv => {
            let (tx, rx) = watch::channel(false);
            let task = if matches!(system, System::Ps | System::Pv) {
                let scan = system == System::Pv;
                tokio::spawn(shaped::passthrough_shaped(a.brokers.clone(), src.to_string(), format!("{src}.out"), scan, a.lean, rx))
            } else {
                tokio::spawn(passthrough(a.brokers.clone(), src.to_string(), format!("{src}.out"), rx))
            };
            wait_total(&a.brokers, &outputs, a.partitions, want, timeout).await?;
            cpu = started.cpu_since(a, system, n);
            let _ = tx.send(true);
            task.await??;
        }
        System::G | System::O => {
            let cfg = gate_config(a, contracts, src, size);
            let running = gate::serve::start(&cfg).await?;
            if a.shadow {
                attach_shadow(&running.bindings[0], &size.contract()?)?;
            }
            if system == System::O {
                let out = running.bindings[0]
                    .breaker
                    .command(
                        breaker::Command::ForceOpen,
                        Some("benchmark"),
                        chrono::Utc::now().timestamp_millis(),
                    )
                    .await?;
                ensure!(
                    out.state.mode == breaker::Mode::ForcedOpen,
                    "force open: {:?}",
                    out.state.mode
                );
            }
            wait_total(&a.brokers, &outputs, a.partitions, want, timeout).await?;
            cpu = started.cpu_since(a, system, n);
            if a.shadow {
                let b = &running.bindings[0];
                let r = b.shadow.report(&b.contract().version).await.context("the shadow's report")?;
                eprintln!("  {system:?} shadow {}: {} records judged, {} skipped (queue full), would quarantine {}", r.shadow_version, r.records, r.skipped, r.agreement.would_quarantine);
            }
            stop_gate(running).await?;
        }
    }
    let measured: Vec<String> = match system {
        System::P | System::Ps | System::Pv => outputs.clone(),
        _ => outputs
            .iter()
            .filter(|t| !t.ends_with(".quarantine") && !t.ends_with(".degraded"))
            .cloned()
            .collect(),
    };
    let brokers = a.brokers.clone();
    let parts = a.partitions;
    let (first, last, count) =
        tokio::task::spawn_blocking(move || append_window(&brokers, &measured, parts)).await??;
    ensure!(
        count == want,
        "{system:?}: {count} output records, expected {want}"
    );
    if system == System::O {
        let brokers = a.brokers.clone();
        let validated = vec![format!("{src}.validated")];
        let leaked = tokio::task::block_in_place(|| {
            total_records(
                &e2e::kafka_config(&brokers).create::<BaseConsumer>()?,
                &validated,
                parts,
            )
        })?;
        ensure!(
            leaked == 0,
            "O: {leaked} records reached validated before the breaker was forced open"
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let secs = ((last - first).max(1)) as f64 / 1000.0;
    Ok(Throughput {
        records: n,
        secs,
        cpu_self: cpu.0.unwrap_or(0.0),
        cpu_broker: cpu.1,
    })
}


/// Evaluates the binding's own contract as a shadow version beside it: every record is judged
/// a second time, by the shadow's simulation, as on a gate with a shadow pushed.
pub(crate) fn attach_shadow(b: &gate::serve::binding::BindingRuntime, text: &str) -> anyhow::Result<()> {
    let mut doc = contracts::parse(text)?;
    doc.version = "999.0.0".into();
    let compiled = contracts::compile(&doc, b.cfg.object.as_deref())?;
    let shadow = gate::serve::shadow::spawn(&b.cfg, std::sync::Arc::new(compiled), true, chrono::Utc::now().timestamp_millis())?;
    b.shadow.start(shadow);
    Ok(())
}

/// CPU time and context switches when a phase started.
struct PhaseStart {
    /// CPU seconds of this process and of the broker (if known).
    cpu: (Option<f64>, Option<f64>),
    switches: (i64, i64),
}

impl PhaseStart {
    fn now(a: &Args) -> Self {
        Self { cpu: (cpu_secs(None), a.broker_pid.and_then(|p| cpu_secs(Some(p)))), switches: ctx_switches() }
    }

    /// CPU seconds of this process and of the broker since the start; prints the context
    /// switches per 1,000 of the phase's `n` records.
    #[allow(clippy::cast_precision_loss)]
    fn cpu_since(&self, a: &Args, system: System, n: usize) -> (Option<f64>, Option<f64>) {
        let cpu = (cpu_secs(None), a.broker_pid.and_then(|p| cpu_secs(Some(p))));
        let switches = ctx_switches();
        let per_1000 = |now: i64, then: i64| (now - then) as f64 * 1000.0 / n as f64;
        eprintln!("  {system:?} context switches per 1000 records: voluntary {:.1}, involuntary {:.1}", per_1000(switches.0, self.switches.0), per_1000(switches.1, self.switches.1));
        (cpu.0.zip(self.cpu.0).map(|(b, a)| b - a), cpu.1.zip(self.cpu.1).map(|(b, a)| b - a))
    }
}

/// Voluntary and involuntary context switches of this process's live threads.
fn ctx_switches() -> (i64, i64) {
    let mut out = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for t in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(t.path().join("status")) else { continue };
        for l in text.lines() {
            if let Some(v) = l.strip_prefix("voluntary_ctxt_switches:") {
                out.0 += v.trim().parse::<i64>().unwrap_or(0);
            } else if let Some(v) = l.strip_prefix("nonvoluntary_ctxt_switches:") {
                out.1 += v.trim().parse::<i64>().unwrap_or(0);
            }
        }
    }
    out
}
