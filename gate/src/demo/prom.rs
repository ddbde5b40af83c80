//! Reads the gate's own Prometheus exposition back (the demo shows the same numbers an
//! operator's dashboard would). Ours rather than a crate's: the text-format parsers on
//! crates.io either split label pairs without unescaping values or are unmaintained or
//! LGPL (docs/design-notes.md, "Metrics and compose").

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_sum` / `_count` suffixes as exposed).
    pub name: String,
    /// Label pairs in exposition order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// A label's value.
    #[must_use]
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Parses the text exposition format (comments skipped, malformed lines ignored).
#[must_use]
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(line).collect()
}

fn line(l: &str) -> Option<Sample> {
    let (name, rest) = match l.find('{') {
        Some(i) => (&l[..i], &l[i..]),
        None => {
            let (n, v) = l.split_once(' ')?;
            return Some(Sample { name: n.to_string(), labels: Vec::new(), value: value(v)? });
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest[1..].char_indices().peekable();
    let body = &rest[1..];
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '}' {
            end = Some(i);
            break;
        }
        if c == ',' || c == ' ' {
            continue;
        }
        // label name up to '='
        let start = i;
        let mut eq = None;
        for (j, d) in chars.by_ref() {
            if d == '=' {
                eq = Some(j);
                break;
            }
        }
        let eq = eq?;
        let key = body[start..eq].to_string();
        if chars.next().map(|(_, q)| q) != Some('"') {
            return None;
        }
        let mut val = String::new();
        loop {
            let (_, d) = chars.next()?;
            match d {
                '\\' => match chars.next()?.1 {
                    'n' => val.push('\n'),
                    o => val.push(o),
                },
                '"' => break,
                o => val.push(o),
            }
        }
        labels.push((key, val));
    }
    let end = end?;
    Some(Sample { name: name.to_string(), labels, value: value(&body[end + 1..])? })
}

fn value(s: &str) -> Option<f64> {
    let v = s.split_whitespace().next()?;
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_and_values() {
        let t = "# TYPE x counter\nx 3\ncontract_gate_records_total{binding=\"flights\",route=\"held\"} 42\ny{a=\"q\\\"uote\",b=\"2\"} 1.5e0\n";
        let s = parse(t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].label("route"), Some("held"));
        assert_eq!(s[1].value, 42.0);
        assert_eq!(s[2].label("a"), Some("q\"uote"));
        assert_eq!(s[2].value, 1.5);
    }

    #[test]
    fn reads_histogram_buckets_and_values_with_separators() {
        let t = "# HELP h_seconds x\n# TYPE h_seconds histogram\nh_seconds_bucket{binding=\"a,b=c\",le=\"+Inf\"} 4\nh_seconds_sum{binding=\"a,b=c\"} 0.5\n";
        let s = parse(t);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!((s[0].name.as_str(), s[0].label("binding"), s[0].label("le"), s[0].value), ("h_seconds_bucket", Some("a,b=c"), Some("+Inf"), 4.0));
        assert_eq!((s[1].name.as_str(), s[1].value), ("h_seconds_sum", 0.5));
    }
}
