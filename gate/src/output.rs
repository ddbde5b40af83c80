//! The outputs of a binding: the one list that routes, output topics (names, defaults,
//! creation), topic overrides in the config, metric labels and the demo's and drills'
//! accounting derive from. Adding an output is a variant here, its place in the routing plan
//! (`serve::plan`) and nothing else: the compiler points at every `match` that must learn it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One output topic kind of a binding. In the config (`topics:` overrides) and in metric
/// labels it is spelled by [`Output::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// `<src>.validated`: records that passed, and stale snapshots under `last_good`.
    Validated,
    /// `<src>.quarantine`: records that failed a record-level check, in every breaker state.
    Quarantine,
    /// `<src>.degraded`: valid records while the breaker is open under `fallback: degrade`.
    Degraded,
    /// `<src>.held`: valid records while open under `hold` or `last_good`, for replay.
    Held,
    /// `<src>.last-good`: compacted, the latest valid record per key.
    LastGood,
}

impl Output {
    /// Every output, in a fixed order (array index = [`Output::index`]).
    pub const ALL: [Self; 5] = [Self::Validated, Self::Quarantine, Self::Degraded, Self::Held, Self::LastGood];

    /// Position in [`Output::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Config key and metric label value.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Validated => "validated",
            Self::Quarantine => "quarantine",
            Self::Degraded => "degraded",
            Self::Held => "held",
            Self::LastGood => "last_good",
        }
    }

    /// The default topic is `<source>.<suffix>`.
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::LastGood => "last-good",
            other => other.name(),
        }
    }

    /// Whether the topic is created compacted (an index by key, not a stream of records).
    #[must_use]
    pub const fn compacted(self) -> bool {
        matches!(self, Self::LastGood)
    }

    /// Whether it takes valid records kept from the model while the breaker is open
    /// (what a drill counts as diverted).
    #[must_use]
    pub const fn diverts(self) -> bool {
        matches!(self, Self::Degraded | Self::Held)
    }

    /// Whether the record loop writes it record by record; the last-good index is written by
    /// its own writer, once per changed key per pass.
    #[must_use]
    pub const fn per_record(self) -> bool {
        !matches!(self, Self::LastGood)
    }
}

/// Output topic names a binding overrides, by output (`topics: { held: my.held }`); an
/// unknown key is refused when the config is read.
pub type TopicOverrides = BTreeMap<Output, String>;

/// The resolved output topics of a binding, one per [`Output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics([String; Output::ALL.len()]);

impl Topics {
    /// Each output's override (`{topic}` in it standing for the source topic), or
    /// `<source>.<suffix>`.
    #[must_use]
    pub fn resolve(source: &str, overrides: &TopicOverrides) -> Self {
        Self(Output::ALL.map(|o| overrides.get(&o).map_or_else(|| format!("{source}.{}", o.suffix()), |t| t.replace("{topic}", source))))
    }

    /// The topic of `output`.
    #[must_use]
    pub fn get(&self, output: Output) -> &str {
        &self.0[output.index()]
    }

    /// Every output with its topic, in [`Output::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Output, &str)> {
        Output::ALL.into_iter().map(|o| (o, self.get(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_the_list() {
        for (i, o) in Output::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i, "{o:?}");
        }
    }

    #[test]
    fn topics_default_to_source_dot_suffix_unless_overridden() {
        let overrides = TopicOverrides::from([(Output::Held, "ops.parked".to_string()), (Output::Degraded, "ops.{topic}.lower".to_string())]);
        let t = Topics::resolve("flights", &overrides);
        // (output, topic)
        let cases = [
            (Output::Validated, "flights.validated"),
            (Output::Quarantine, "flights.quarantine"),
            (Output::Degraded, "ops.flights.lower"),
            (Output::Held, "ops.parked"),
            (Output::LastGood, "flights.last-good"),
        ];
        for (o, want) in cases {
            assert_eq!(t.get(o), want, "{o:?}");
        }
        assert_eq!(t.iter().count(), Output::ALL.len());
    }

    #[test]
    fn config_keys_are_the_names_and_unknown_ones_are_refused() {
        for o in Output::ALL {
            let parsed: TopicOverrides = serde_saphyr::from_str(&format!("{}: x\n", o.name())).expect("known key");
            assert_eq!(parsed.get(&o).map(String::as_str), Some("x"));
        }
        let err = serde_saphyr::from_str::<TopicOverrides>("parked: x\n").expect_err("unknown key").to_string();
        assert!(err.contains("parked"), "{err}");
    }
}
