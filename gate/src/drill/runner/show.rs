//! How a drill shows that it is alive: a plan of steps runs for minutes. On a terminal, a
//! live line per step under a bar of the plan's steps; elsewhere (CI logs, `tee`, a pipe) a
//! plain line when a step starts, changes phase or breaker state, and ends, so that a log
//! tells how far it got without carriage returns and redraws in it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

/// Where a drill's progress goes.
#[derive(Debug)]
pub enum Show {
    /// Nowhere (tests, or progress off).
    Hidden,
    /// A live status line, redrawn in place.
    Live(ProgressBar),
    /// A line each time the phase or the breaker state changes; the last one printed.
    Lines(Mutex<String>),
}

/// What one status shows.
#[derive(Debug, Clone, Copy)]
pub struct Status<'a> {
    /// `[2/5]` or empty.
    pub label: &'a str,
    /// Scenario name.
    pub scenario: &'a str,
    /// `warming up`, `steady`, `FAULT`, `recovering`, `settling`.
    pub phase: &'a str,
    /// Seconds since the step started.
    pub at_s: f64,
    /// Records sent, injected, quarantined, leaked.
    pub counts: [u64; 4],
    /// Breaker state seen on the events topic.
    pub breaker: &'a str,
}

impl Status<'_> {
    fn line(&self) -> String {
        let [sent, injected, quarantined, leaked] = self.counts;
        let label = if self.label.is_empty() { String::new() } else { format!("{} ", self.label) };
        format!("{label}{} {} {:.1}s · sent {sent} · injected {injected} · quarantined {quarantined} · leaked {leaked} · breaker {}", self.scenario, self.phase, self.at_s, self.breaker)
    }
}

impl Show {
    /// Plain lines.
    #[must_use]
    pub fn lines() -> Self {
        Self::Lines(Mutex::new(String::new()))
    }

    /// Updates the status: redraws the live line, or prints a line if the phase or the
    /// breaker state changed since the last one.
    pub fn status(&self, s: &Status<'_>) {
        match self {
            Self::Hidden => {}
            Self::Live(pb) => pb.set_message(s.line()),
            Self::Lines(last) => {
                let key = format!("{} {}", s.phase, s.breaker);
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *last != key {
                    eprintln!("{}", s.line());
                    *last = key;
                }
            }
        }
    }

    /// A line that stays: printed above the live lines, or as a plain line.
    pub fn note(&self, multi: Option<&MultiProgress>, line: &str) {
        match (self, multi) {
            (Self::Hidden, _) => {}
            (Self::Live(_), Some(m)) => {
                let _ = m.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the live line at the end of a step.
    pub fn finish(&self) {
        if let Self::Live(pb) = self {
            pb.finish_and_clear();
        }
    }
}

/// The live display of a whole plan: a bar of its steps (when there are several) and a
/// line per running step.
#[derive(Debug)]
pub struct PlanView {
    multi: MultiProgress,
    steps: Option<ProgressBar>,
}

impl PlanView {
    /// A view on stderr for `steps` steps.
    #[must_use]
    pub fn new(steps: u64) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let bar = (steps > 1).then(|| {
            let pb = multi.add(ProgressBar::new(steps));
            if let Ok(s) = ProgressStyle::with_template("plan [{bar:24}] {pos}/{len} steps · {elapsed} elapsed") {
                pb.set_style(s.progress_chars("=> "));
            }
            pb.enable_steady_tick(Duration::from_millis(500));
            pb
        });
        Self { multi, steps: bar }
    }

    /// The live line of the next step.
    #[must_use]
    pub fn step(&self) -> Show {
        let pb = self.multi.add(ProgressBar::new_spinner());
        if let Ok(s) = ProgressStyle::with_template("{spinner} {msg}") {
            pb.set_style(s);
        }
        pb.enable_steady_tick(Duration::from_millis(120));
        Show::Live(pb)
    }

    /// The multi-line group, for lines that stay.
    #[must_use]
    pub fn multi(&self) -> &MultiProgress {
        &self.multi
    }

    /// One step done.
    pub fn advance(&self) {
        if let Some(pb) = &self.steps {
            pb.inc(1);
        }
    }

    /// Removes the bar once the plan ends.
    pub fn finish(&self) {
        if let Some(pb) = &self.steps {
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reads_the_counts() {
        let s = Status { label: "[2/5]", scenario: "null-burst", phase: "FAULT", at_s: 12.34, counts: [1200, 300, 280, 0], breaker: "open" };
        assert_eq!(s.line(), "[2/5] null-burst FAULT 12.3s · sent 1200 · injected 300 · quarantined 280 · leaked 0 · breaker open");
        assert!(Status { label: "", ..s }.line().starts_with("null-burst FAULT"));
    }

    #[test]
    fn plain_lines_only_on_a_change() {
        let show = Show::lines();
        let mut s = Status { label: "", scenario: "x", phase: "steady", at_s: 1.0, counts: [0; 4], breaker: "closed" };
        let key = |show: &Show| match show {
            Show::Lines(m) => m.lock().map(|k| k.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        // (phase, breaker, the change remembered)
        for (phase, breaker, want) in [("steady", "closed", "steady closed"), ("steady", "closed", "steady closed"), ("FAULT", "closed", "FAULT closed"), ("FAULT", "open", "FAULT open")] {
            s.phase = phase;
            s.breaker = breaker;
            show.status(&s);
            assert_eq!(key(&show), want);
        }
    }
}
