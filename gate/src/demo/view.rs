//! What the demo shows while it runs: a live multi-line view when stderr is a terminal,
//! plain timestamped lines otherwise (CI logs, pipes, `--json` runs captured by tests).

use crate::output::Output;
use crate::serve::telemetry::RouteLabel;
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::time::Duration;

/// The scripted phases of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting the in-process cluster and the gate.
    Starting,
    /// Producing good flights; the gate joins its group and fills its window.
    Steady,
    /// Every record has `dep_time = null`.
    Burst,
    /// Good flights again, until the breaker has closed.
    Recovery,
    /// A few seconds of normal flow after the close.
    Tail,
    /// Waiting for the gate to route what was produced.
    Draining,
}

impl Phase {
    /// What the producer is doing, in words.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Starting => "starting an in-process Kafka cluster and the gate",
            Phase::Steady => "steady: real flights, 2.5 % cancelled (dep_time null)",
            Phase::Burst => "NULL BURST: dep_time = null in every record",
            Phase::Recovery => "upstream fixed: good flights; the breaker waits, probes, closes",
            Phase::Tail => "closed again: data flows to flights.validated",
            Phase::Draining => "draining: the gate routes the last records",
        }
    }
}

/// A window rule as shown: id, current value over the window, unit, threshold.
#[derive(Debug, Clone)]
pub struct RuleLine {
    /// Rule id.
    pub id: String,
    /// Value over the latest window.
    pub value: Option<f64>,
    /// `percent`, `rows`, …
    pub unit: String,
    /// `< 3`, `<= 5`, …
    pub threshold: String,
}

/// Everything the view draws, refreshed by the demo loop.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Seconds since the demo started.
    pub elapsed_s: f64,
    /// Current phase.
    pub phase: Phase,
    /// Whether the gate has routed anything yet.
    pub gate_consuming: bool,
    /// Records written to the source topic.
    pub produced: u64,
    /// Records routed, by route label of `contract_gate_records_total`.
    pub routes: BTreeMap<String, u64>,
    /// Breaker mode (`closed`, `open`, `half_open`, …).
    pub mode: String,
    /// Consecutive trips.
    pub trips: u32,
    /// The breach that opened the breaker, in words.
    pub breach: Option<String>,
    /// Seconds until half-open, while open.
    pub half_open_in_s: Option<f64>,
    /// Probe records admitted so far and the budget, while half-open.
    pub probe: Option<(u64, u64)>,
    /// The window rules worth showing (the tripping one first).
    pub rules: Vec<RuleLine>,
    /// Records the gate's group has not committed yet, over all partitions.
    pub lag: Option<f64>,
    /// Modes seen so far, in order.
    pub states: Vec<String>,
}

/// The two renderings.
#[derive(Debug)]
pub enum View {
    /// indicatif lines redrawn in place.
    Live {
        /// The group of lines.
        mp: MultiProgress,
        /// header, breaker, tripped, window, records, lag, states.
        lines: Vec<ProgressBar>,
        /// Whether our own text is coloured (indicatif's templates decide for themselves,
        /// by the same rules).
        colour: bool,
    },
    /// One line per event, a status line every few seconds.
    Plain {
        /// When the last status line was printed.
        last_status_s: f64,
    },
}

const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// Whether stderr takes colour: a terminal, `NO_COLOR` unset, `CLICOLOR` not 0 (or
/// `CLICOLOR_FORCE` set), as anstream reads them.
fn stderr_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

fn paint(colour: bool, style: Style, s: &str) -> String {
    if colour {
        format!("{style}{s}{style:#}")
    } else {
        s.to_string()
    }
}

fn mode_color(mode: &str) -> Style {
    match mode {
        "closed" => GREEN,
        "half_open" => YELLOW,
        _ => RED,
    }
}

impl View {
    /// A live view if `live`, else plain lines; both on stderr.
    #[must_use]
    pub fn new(live: bool) -> Self {
        if !live {
            return View::Plain { last_status_s: 0.0 };
        }
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(12));
        let names = ["", "breaker", "tripped", "window", "records", "lag", "states"];
        let lines = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let pb = mp.add(ProgressBar::new_spinner());
                let tpl = if i == 0 { "{spinner:.cyan} {msg}" } else { "  {prefix:>8.bold} {msg}" };
                pb.set_style(ProgressStyle::with_template(tpl).unwrap_or_else(|_| ProgressStyle::default_spinner()));
                pb.set_prefix(*name);
                if i == 0 {
                    pb.enable_steady_tick(Duration::from_millis(120));
                }
                pb
            })
            .collect();
        View::Live { mp, lines, colour: stderr_colour() }
    }

    /// A line that stays (an event).
    pub fn log(&mut self, elapsed_s: f64, line: &str) {
        match self {
            View::Live { mp, colour, .. } => {
                let _ = mp.println(format!("{}  {line}", paint(*colour, DIM, &format!("{elapsed_s:>6.1}s"))));
            }
            View::Plain { .. } => eprintln!("[{elapsed_s:>6.1}s] {line}"),
        }
    }

    /// Redraws (live) or prints a status line every 2 s (plain). Lines stay under ~100
    /// columns so that the live view redraws cleanly in ordinary terminals.
    pub fn update(&mut self, s: &Frame) {
        let colour = matches!(self, View::Live { colour: true, .. });
        let route = |l: RouteLabel| super::count(&s.routes, l);
        let to = |o: Output| route(RouteLabel::To(o));
        let mut records = format!("produced {} → validated {} · quarantine {} · held {} · stale {}", s.produced, to(Output::Validated), to(Output::Quarantine), to(Output::Held), route(RouteLabel::Stale));
        if to(Output::Degraded) > 0 {
            records.push_str(&format!(" · degraded {}", to(Output::Degraded)));
        }
        records.push_str(&format!(" · last-good {}", to(Output::LastGood)));
        let mut breaker = paint(colour, mode_color(&s.mode), &s.mode.to_uppercase().replace('_', "-"));
        match s.mode.as_str() {
            "closed" => breaker.push_str(" → valid records flow to flights.validated"),
            "open" => {
                breaker.push_str(&format!(" (trip {})", s.trips));
                if let Some(t) = s.half_open_in_s {
                    breaker.push_str(&format!(" · half-open in {t:.1}s"));
                }
                breaker.push_str(" · new → flights.held, last good per key → validated (stale)");
            }
            "half_open" => {
                if let Some((n, budget)) = s.probe {
                    breaker.push_str(&format!(" → probe: {n}/{budget} records judged, held until the verdict"));
                }
            }
            _ => {}
        }
        let window = s
            .rules
            .iter()
            .map(|r| {
                let v = r.value.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"));
                let unit = if r.unit == "percent" { "%".to_string() } else { format!(" {}", r.unit) };
                format!("{} {v}{unit} ({})", r.id, r.threshold.replace(' ', ""))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let tripped = s.breach.clone().unwrap_or_else(|| "–".to_string());
        let lag = s.lag.map_or_else(|| "–".to_string(), |l| format!("{l:.0} records behind (high watermark − committed offset)"));
        let states = s.states.iter().map(|m| paint(colour, mode_color(m), m)).collect::<Vec<_>>().join(" → ");
        let phase = if s.phase == Phase::Steady && !s.gate_consuming { "waiting for the gate to join its consumer group (~3 s in-process)" } else { s.phase.describe() };
        let header = format!("contract-gate demo {:>5.1}s · {phase}", s.elapsed_s);
        match self {
            View::Live { lines, .. } => {
                for (pb, msg) in lines.iter().zip([header, breaker, tripped, window, records, lag, states]) {
                    pb.set_message(msg);
                }
            }
            View::Plain { last_status_s } => {
                if s.elapsed_s - *last_status_s >= 2.0 {
                    *last_status_s = s.elapsed_s;
                    eprintln!("[{:>6.1}s] breaker {breaker}\n          records {records}\n          window  {window}\n          lag     {lag}", s.elapsed_s);
                }
            }
        }
    }

    /// Leaves the last live frame on screen.
    pub fn finish(&mut self) {
        if let View::Live { lines, .. } = self {
            for pb in lines.iter() {
                pb.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_only_when_asked() {
        for (colour, mode) in [(false, "closed"), (false, "open"), (true, "half_open"), (true, "open")] {
            let s = paint(colour, mode_color(mode), mode);
            assert_eq!(s.contains('\x1b'), colour, "{s:?}");
            assert!(s.contains(mode));
        }
    }
}
