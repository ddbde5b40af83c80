//! Pattern bindings: a `source` starting with `^` stands for every topic it matches. This is
//! the pure part: which topics of a cluster listing a config binds, and the concrete binding
//! each matched topic runs as. `serve::patterns` lists the cluster and starts them.

use super::{invalid, Binding, ConfigError, GateConfig};
use crate::output::Output;
use regex::Regex;
use std::collections::HashSet;

/// What separates a pattern binding's name from the topic in the name of each binding it
/// makes (`flights:orders.eu`). Binding names cannot hold it, so the two never collide.
pub const NAME_SEPARATOR: char = ':';

/// The config name of `name`: a pattern's matched binding is named `<config name>:<topic>`.
#[must_use]
pub fn config_name(name: &str) -> &str {
    name.split(NAME_SEPARATOR).next().unwrap_or(name)
}

/// `bindings[i].<field>` of the config binding behind `name` (a pattern's matched bindings
/// name their pattern's entry), for errors found once a binding is put together.
#[must_use]
pub fn field_of(cfg: &GateConfig, name: &str, field: &str) -> String {
    let i = cfg.bindings.iter().position(|x| x.name == config_name(name)).unwrap_or_default();
    format!("bindings[{i}].{field}")
}

/// The pattern bindings of a config, compiled, with what they must never take.
#[derive(Debug)]
pub struct Patterns {
    /// (index in `bindings`, the pattern).
    patterns: Vec<(usize, Regex)>,
    /// Names of outputs of pattern bindings, as a pattern (`^(.+)\.validated$`, …): a topic
    /// looking like an output is never a source, so the gate's outputs never cascade.
    outputs: Vec<Regex>,
    /// Topics no pattern may take: the literal bindings' sources and outputs, the events, the
    /// contract registry's log.
    reserved: HashSet<String>,
}

impl Patterns {
    /// The config's patterns (none for a config without pattern bindings).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `bindings[i].source` when a pattern does not compile.
    pub fn new(cfg: &GateConfig) -> Result<Self, ConfigError> {
        let mut patterns = Vec::new();
        let mut outputs = Vec::new();
        let mut reserved: HashSet<String> = [cfg.events.breaker_topic.clone(), cfg.events.violations_topic.clone()].into();
        // The contract registry's log, when the gate keeps one.
        reserved.extend(cfg.contracts.registry.as_ref().map(|r| r.topic.clone()));
        for (i, b) in cfg.bindings.iter().enumerate() {
            let Some(p) = b.pattern() else {
                reserved.insert(b.source.clone());
                reserved.extend(b.topics().iter().map(|(_, t)| t.to_string()));
                continue;
            };
            let re = Regex::new(p).map_err(|e| invalid(format!("bindings[{i}].source"), format!("{p:?} is not a regular expression: {e}")))?;
            patterns.push((i, re));
            for o in Output::ALL {
                let template = b.topics.get(&o).cloned().unwrap_or_else(|| format!("{{topic}}.{}", o.suffix()));
                let parts: Vec<String> = template.split("{topic}").map(regex::escape).collect();
                let re = Regex::new(&format!("^{}$", parts.join(".+"))).map_err(|e| invalid(format!("bindings[{i}].topics.{}", o.name()), e.to_string()))?;
                outputs.push(re);
            }
        }
        Ok(Self { patterns, outputs, reserved })
    }

    /// Whether the config has any pattern binding.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The topics of `listing` that pattern bindings take and that are not bound yet
    /// (`bound`: every source bound now), each with the index of the binding that takes it:
    /// the first pattern in config order that matches. Internal `__` topics, the events, the
    /// literal bindings' topics and anything named like a pattern binding's output are left.
    #[must_use]
    pub fn select<'a>(&self, listing: impl IntoIterator<Item = &'a str>, bound: &HashSet<String>) -> Vec<(usize, String)> {
        let mut topics: Vec<&str> = listing.into_iter().collect();
        topics.sort_unstable();
        topics.dedup();
        topics
            .into_iter()
            .filter(|t| !t.starts_with("__") && !self.reserved.contains(*t) && !bound.contains(*t))
            .filter(|t| !self.outputs.iter().any(|o| o.is_match(t)))
            .filter_map(|t| self.patterns.iter().find(|(_, re)| re.is_match(t)).map(|(i, _)| (*i, t.to_string())))
            .collect()
    }
}

/// The concrete binding pattern binding `b` runs for `topic`: named `<name>:<topic>`, reading
/// `topic`, its output overrides' `{topic}` standing for it.
#[must_use]
pub fn expand(b: &Binding, topic: &str) -> Binding {
    let mut one = b.clone();
    one.name = format!("{}{NAME_SEPARATOR}{topic}", b.name);
    one.source = topic.to_string();
    one
}

/// The concrete binding named `name` for the commands that work on one (`replay`, `drill`,
/// `backtest`): a literal binding by its name, a pattern binding's by `<name>:<topic>`, the
/// topic one its pattern matches.
///
/// # Errors
/// No such binding, a pattern binding named without a topic, or a topic it does not match.
pub fn concrete(cfg: &GateConfig, name: &str) -> Result<Binding, String> {
    let (base, topic) = name.split_once(NAME_SEPARATOR).map_or((name, None), |(b, t)| (b, Some(t)));
    let names: Vec<&str> = cfg.bindings.iter().map(|b| b.name.as_str()).collect();
    let b = cfg.bindings.iter().find(|b| b.name == base).ok_or_else(|| format!("no binding {name:?} in the config; bindings: {}", names.join(", ")))?;
    match (b.pattern(), topic) {
        (None, None) => Ok(b.clone()),
        (None, Some(_)) => Err(format!("binding {base:?} reads topic {:?}, not a pattern: name it {base:?}", b.source)),
        (Some(p), None) => Err(format!("binding {base:?} is a pattern ({p}): name one of its topics as {base}{NAME_SEPARATOR}<topic>")),
        (Some(p), Some(t)) => match Regex::new(p) {
            Ok(re) if re.is_match(t) => Ok(expand(b, t)),
            Ok(_) => Err(format!("topic {t:?} does not match binding {base:?}'s pattern {p}")),
            Err(e) => Err(format!("binding {base:?}: {e}")),
        },
    }
}

/// The checks of pattern bindings: the pattern compiles, each output override names
/// `{topic}` (two matched topics would otherwise share it), and `kafka.pattern_refresh`.
pub(super) fn validate(cfg: &GateConfig) -> Result<(), ConfigError> {
    Patterns::new(cfg)?;
    for (i, b) in cfg.bindings.iter().enumerate() {
        // A literal binding may write `{topic}` too: it is its own source.
        if b.pattern().is_none() {
            continue;
        }
        if let Some((o, t)) = b.topics.iter().find(|(_, t)| !t.contains("{topic}")) {
            return Err(invalid(format!("bindings[{i}].topics.{}", o.name()), format!("{t:?} would be the output of every topic the pattern matches: name it with {{topic}} (e.g. \"{{topic}}.{}\")", o.suffix())));
        }
    }
    if cfg.bindings.iter().any(|b| b.pattern().is_some()) && cfg.kafka.pattern_refresh < std::time::Duration::from_millis(100) {
        return Err(invalid("kafka.pattern_refresh", "must be at least 100ms (each refresh lists the cluster's topics)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> GateConfig {
        let text = format!(
            "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\n  registry: {{ topic: orders.contracts }}\nbindings:\n  - name: orders\n    source: '^orders\\..*'\n    contract: o\n    fallback: hold\n{extra}  - name: fixed\n    source: orders.fixed\n    contract: o\n    fallback: hold\n  - name: tenants\n    source: '^(orders|tenant)\\.[a-z]+$'\n    contract: o\n    fallback: hold\n"
        );
        let cfg: GateConfig = serde_saphyr::from_str(&text).expect("config parses");
        cfg.validate().expect("config is valid");
        cfg
    }

    /// A cluster listing and the topics it binds, with the index of the binding taking each.
    type Case = (&'static [&'static str], &'static [(usize, &'static str)]);

    #[test]
    fn which_topics_a_listing_binds() {
        let c = cfg("");
        let p = Patterns::new(&c).expect("patterns compile");
        let bound: HashSet<String> = ["orders.eu".to_string()].into();
        // (listing, topics taken with the binding index)
        let cases: [Case; 6] = [
            (&["orders.us", "tenant.acme", "other"], &[(0, "orders.us"), (2, "tenant.acme")]),
            // Bound already (here or by a literal binding), internal, the events or the
            // registry's log: left.
            (&["orders.eu", "orders.fixed", "__consumer_offsets", "contract-gate.breaker-events", "orders.contracts"], &[]),
            // Named like the gate's outputs of a pattern binding: never a source, so the outputs
            // of a matched topic do not cascade into bindings of their own.
            (&["orders.us.validated", "orders.us.last-good", "orders.us.held", "tenant.acme.quarantine"], &[]),
            // The literal binding's outputs are reserved.
            (&["orders.fixed.degraded"], &[]),
            // The first pattern in config order wins.
            (&["orders.b"], &[(0, "orders.b")]),
            // Sorted and once each, whatever the listing's order.
            (&["orders.z", "orders.a", "orders.z"], &[(0, "orders.a"), (0, "orders.z")]),
        ];
        for (listing, want) in cases {
            let got = p.select(listing.iter().copied(), &bound);
            let want: Vec<(usize, String)> = want.iter().map(|(i, t)| (*i, (*t).to_string())).collect();
            assert_eq!(got, want, "{listing:?}");
        }
    }

    #[test]
    fn a_matched_topic_runs_as_a_binding_of_its_own() {
        let c = cfg("    topics: { held: 'parked.{topic}' }\n");
        let one = expand(&c.bindings[0], "orders.eu");
        assert_eq!(one.name, "orders:orders.eu");
        assert_eq!(config_name(&one.name), "orders");
        assert_eq!(one.source, "orders.eu");
        assert_eq!(one.pattern(), None);
        let t = one.topics();
        assert_eq!(t.get(Output::Validated), "orders.eu.validated");
        assert_eq!(t.get(Output::Held), "parked.orders.eu");
        // An override's shape is an output name too: `parked.x` is never taken as a source.
        let p = Patterns::new(&c).expect("patterns compile");
        assert!(p.select(["parked.orders.eu"], &HashSet::new()).is_empty());
    }

    #[test]
    fn commands_name_a_matched_topic() {
        let c = cfg("");
        // (name, Ok(source) or Err(part of the message))
        let cases: [(&str, Result<&str, &str>); 6] = [
            ("fixed", Ok("orders.fixed")),
            ("orders:orders.eu", Ok("orders.eu")),
            ("orders", Err("name one of its topics as orders:<topic>")),
            ("orders:refunds", Err("does not match")),
            ("fixed:orders.fixed", Err("not a pattern")),
            ("nope", Err("no binding")),
        ];
        for (name, want) in cases {
            match (concrete(&c, name), want) {
                (Ok(b), Ok(source)) => assert_eq!(b.source, source, "{name}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{name}: {e} lacks {part}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn pattern_errors_name_the_field() {
        let base = "kafka:\n  brokers: 127.0.0.1:9092\ncontracts:\n  dir: c\nbindings:\n  - name: o\n    source: '^orders\\..*'\n    contract: o\n    fallback: hold\n";
        // (config, field named)
        let cases = [
            (base.replace("'^orders\\..*'", "'^orders['"), "bindings[0].source"),
            (format!("{base}    topics: {{ held: parked }}\n"), "bindings[0].topics.held"),
            (base.replace("  brokers: 127.0.0.1:9092\n", "  brokers: 127.0.0.1:9092\n  pattern_refresh: 10ms\n"), "kafka.pattern_refresh"),
        ];
        for (text, field) in cases {
            let cfg: GateConfig = serde_saphyr::from_str(&text).expect("config parses");
            let err = cfg.validate().expect_err(field).to_string();
            assert!(err.contains(field), "{err} lacks {field}");
        }
    }
}
