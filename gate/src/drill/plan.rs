//! What to run: one step per fault, and the steady traffic around them. Read from flags
//! (`--scenario`) or a YAML plan (`--plan`), flags winning over the file.

use super::hypothesis::HypothesisSpec;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One drill: a fault, its blast radius and the hypothesis overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Scenario name (`contract-gate drill --list`).
    pub scenario: String,
    /// Field to break (default: picked from the contract).
    #[serde(default)]
    pub field: Option<String>,
    /// Scenario parameter: the new category, the added field's value, the renamed field's
    /// new name, the shift of a distribution, the staleness (`2m`).
    #[serde(default)]
    pub value: Option<String>,
    /// Share of records broken while the fault lasts, 0–1.
    #[serde(default)]
    pub share: Option<f64>,
    /// How long the fault lasts.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// At most this many injected records (the fault may end earlier than `duration`).
    #[serde(default)]
    pub records: Option<u64>,
    /// Hypothesis overrides.
    #[serde(default)]
    pub hypothesis: HypothesisSpec,
}

/// The steady traffic of a drill, as written; unset fields take defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSpec {
    /// Known-good records (JSON Lines) replayed as steady state.
    #[serde(default)]
    pub baseline: Option<PathBuf>,
    /// Avro, JSON Schema and Protobuf bindings: the writer schema (`.avsc`, `.json`, `.proto`)
    /// the baseline is written with, registered under the source topic's value subject
    /// (default: that subject's latest version).
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Records per second.
    #[serde(default)]
    pub rate: Option<f64>,
    /// How long the steady state is measured before the fault.
    #[serde(default, with = "humantime_serde")]
    pub steady: Option<Duration>,
    /// Fields whose values, joined by `|`, make the message key (none: no key).
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// Timestamp field set to "now" on every record (`none` for none; default: the field of
    /// the contract's latency/freshness/frequency SLA).
    #[serde(default)]
    pub restamp: Option<String>,
    /// Replay the baseline in a seeded random order (default true), so that a time-ordered
    /// recording does not carry its daily swings into the steady state.
    #[serde(default)]
    pub shuffle: Option<bool>,
    /// Seed of the shuffle and of every injector.
    #[serde(default)]
    pub seed: Option<u64>,
    /// After recovery, how long to keep watching for late records and transitions.
    #[serde(default, with = "humantime_serde")]
    pub settle: Option<Duration>,
}

impl TrafficSpec {
    /// `self` where given, else `other`.
    #[must_use]
    pub fn or(&self, other: &Self) -> Self {
        Self {
            baseline: self.baseline.clone().or_else(|| other.baseline.clone()),
            schema: self.schema.clone().or_else(|| other.schema.clone()),
            rate: self.rate.or(other.rate),
            steady: self.steady.or(other.steady),
            key: self.key.clone().or_else(|| other.key.clone()),
            restamp: self.restamp.clone().or_else(|| other.restamp.clone()),
            shuffle: self.shuffle.or(other.shuffle),
            seed: self.seed.or(other.seed),
            settle: self.settle.or(other.settle),
        }
    }
}

/// A plan file: either a bare list of steps, or traffic settings and `steps`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Steady traffic for every step.
    #[serde(default)]
    pub traffic: TrafficSpec,
    /// The drills, run one after the other.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Parses a plan. A relative `traffic.baseline` is resolved against `base` (the plan's
    /// directory).
    ///
    /// # Errors
    /// The parser's message with its line, or an empty plan.
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Self, String> {
        let opts = || serde_saphyr::options! { strict_booleans: true };
        let bare_list = text.lines().map(str::trim_start).find(|l| !l.is_empty() && !l.starts_with('#')).is_some_and(|l| l.starts_with('-'));
        let mut plan = if bare_list {
            let steps: Vec<Step> = serde_saphyr::from_str_with_options(text, opts()).map_err(|e| e.to_string())?;
            Self { traffic: TrafficSpec::default(), steps }
        } else {
            serde_saphyr::from_str_with_options(text, opts()).map_err(|e| e.to_string())?
        };
        if plan.steps.is_empty() {
            return Err("the plan has no steps".into());
        }
        if let Some(base) = base {
            // Files named in the plan are found next to it.
            for f in [&mut plan.traffic.baseline, &mut plan.traffic.schema].into_iter().flatten() {
                if f.is_relative() {
                    *f = base.join(&*f);
                }
            }
        }
        Ok(plan)
    }

    /// Reads and parses a plan file.
    ///
    /// # Errors
    /// Unreadable or invalid file, naming it.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read plan {}: {e}", path.display()))?;
        Self::parse(&text, path.parent()).map_err(|e| format!("plan {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::hypothesis::Expect;

    #[test]
    fn bare_list_and_full_form() {
        let bare = "# two drills\n- scenario: null-burst\n  field: dep_time\n  share: 0.5\n  duration: 4s\n  hypothesis: { trip: expected, recover_within: 30s }\n- scenario: silence\n";
        let p = Plan::parse(bare, None).expect("bare");
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[0].duration, Some(Duration::from_secs(4)));
        assert_eq!(p.steps[0].hypothesis.trip, Some(Expect::Expected));
        assert_eq!(p.steps[0].hypothesis.recover_within, Some(Duration::from_secs(30)));
        assert_eq!(p.steps[1].scenario, "silence");

        let full = "traffic:\n  baseline: sample.jsonl\n  schema: flights.avsc\n  rate: 50\n  key: [carrier, flight]\nsteps:\n  - scenario: malformed-bytes\n    records: 20\n";
        let p = Plan::parse(full, Some(Path::new("/plans"))).expect("full");
        assert_eq!(p.traffic.baseline, Some(PathBuf::from("/plans/sample.jsonl")));
        assert_eq!(p.traffic.schema, Some(PathBuf::from("/plans/flights.avsc")));
        assert_eq!(p.traffic.key, Some(vec!["carrier".to_string(), "flight".to_string()]));
        assert_eq!(p.steps[0].records, Some(20));
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("- scenario: silence\n  colour: red\n", "colour"),
            ("steps: []\n", "no steps"),
            ("- scenario: null-burst\n  duration: soon\n", "duration"),
            ("traffic: { rate: fast }\nsteps: [{ scenario: silence }]\n", "rate"),
        ];
        for (text, needle) in cases {
            let e = Plan::parse(text, None).expect_err(needle);
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let flags = TrafficSpec { rate: Some(10.0), ..TrafficSpec::default() };
        let file = TrafficSpec { rate: Some(50.0), seed: Some(3), ..TrafficSpec::default() };
        let t = flags.or(&file);
        assert_eq!((t.rate, t.seed), (Some(10.0), Some(3)));
    }
}
