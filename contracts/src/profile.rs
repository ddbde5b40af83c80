//! Recording a distribution baseline from known-good data, for `gateDistribution` rules.

use crate::compile::quality::Bins;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Collects the values of one field.
#[derive(Debug, Default)]
pub struct Profiler {
    numbers: Vec<f64>,
    categories: HashMap<String, u64>,
    nulls: u64,
}

impl Profiler {
    /// Adds one value (`None` when the field is absent).
    pub fn add(&mut self, v: Option<&Value>) {
        match v {
            None | Some(Value::Null) => self.nulls += 1,
            Some(Value::Number(n)) => {
                if let Some(x) = n.as_f64() {
                    self.numbers.push(x);
                }
            }
            Some(Value::String(s)) => *self.categories.entry(s.clone()).or_insert(0) += 1,
            Some(other) => *self.categories.entry(other.to_string()).or_insert(0) += 1,
        }
    }

    /// Builds the `gateDistribution` value: quantile edges for numbers (`bins` bins), or the
    /// `bins - 1` most frequent categories plus "other" for strings.
    #[must_use]
    pub fn baseline(mut self, bins: usize, max_psi: f64) -> Option<Value> {
        let bins = bins.max(2);
        if self.numbers.len() >= self.categories.values().sum::<u64>() as usize && !self.numbers.is_empty() {
            self.numbers.sort_by(f64::total_cmp);
            let n = self.numbers.len();
            let mut edges: Vec<f64> = (1..bins).map(|i| self.numbers[(i * n / bins).min(n - 1)]).collect();
            edges.dedup();
            let b = Bins::Numeric(edges.clone());
            let shares = shares(&b, self.numbers.iter().map(|x| json!(x)));
            Some(json!({ "edges": edges, "baseline": shares, "maxPsi": max_psi }))
        } else if !self.categories.is_empty() {
            let mut cats: Vec<(String, u64)> = self.categories.into_iter().collect();
            cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let total: u64 = cats.iter().map(|c| c.1).sum();
            let keep: Vec<String> = cats.iter().take(bins - 1).map(|c| c.0.clone()).collect();
            let kept: u64 = cats.iter().take(bins - 1).map(|c| c.1).sum();
            #[allow(clippy::cast_precision_loss)]
            let mut shares: Vec<f64> = cats.iter().take(bins - 1).map(|c| round4(c.1 as f64 / total as f64)).collect();
            #[allow(clippy::cast_precision_loss)]
            shares.push(round4((total - kept) as f64 / total as f64));
            Some(json!({ "categories": keep, "baseline": shares, "maxPsi": max_psi }))
        } else {
            None
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn shares(bins: &Bins, values: impl Iterator<Item = Value>) -> Vec<f64> {
    let mut counts = vec![0u64; bins.len()];
    let mut n = 0u64;
    for v in values {
        if let Some(b) = bins.bin_of(&v) {
            counts[b] += 1;
            n += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    counts.iter().map(|c| if n == 0 { 0.0 } else { round4(*c as f64 / n as f64) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_quantiles() {
        let mut p = Profiler::default();
        (0..100).for_each(|i| p.add(Some(&json!(i))));
        p.add(None);
        let v = p.baseline(4, 0.2).expect("baseline");
        assert_eq!(v["edges"], json!([25.0, 50.0, 75.0]));
        assert_eq!(v["baseline"], json!([0.25, 0.25, 0.25, 0.25]));
    }

    #[test]
    fn categorical_top_k() {
        let mut p = Profiler::default();
        for (c, n) in [("EWR", 5), ("JFK", 3), ("LGA", 2)] {
            (0..n).for_each(|_| p.add(Some(&json!(c))));
        }
        let v = p.baseline(3, 0.1).expect("baseline");
        assert_eq!(v["categories"], json!(["EWR", "JFK"]));
        assert_eq!(v["baseline"], json!([0.5, 0.3, 0.2]));
    }
}
