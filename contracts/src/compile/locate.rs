//! Lines for lint findings: a finding names its place by path (`schema[0].quality[1].arguments`),
//! and a person editing the file wants the line. The YAML is read once more into a tree of
//! located nodes, and each path is followed as far as it goes.

use crate::error::Problem;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A YAML node with the lines of its parts: map entries keep the line of their key (the line
/// an editor looks for), sequence items the line of their item.
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    /// A scalar, as text (a custom property's name is looked up by it).
    Scalar(String),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        // A key that is not a string (`1: x`) ends the walk there; its value is still read.
        while let Some(k) = m.next_key::<Spanned<KeyText>>()? {
            let v = m.next_value::<Spanned<Node>>()?;
            out.push((Spanned::new(k.value.0, k.referenced, k.defined), v));
        }
        Ok(Node::Map(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = s.next_element::<Spanned<Node>>()? {
            out.push(v);
        }
        Ok(Node::Seq(out))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
}

/// A map key as text, whatever scalar it is.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Scalar(s) => Ok(Self(s)),
            _ => Ok(Self(String::new())),
        }
    }
}

/// One step of a finding's path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
    /// `customProperties[gateTripOnAny]`: the item whose `property` is this name.
    Named(&'a str),
}

/// `schema[0].quality[1].arguments` → key, index, key, index, key.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some((inside, after)) = rest.split_once(']') {
            out.push(inside.parse().map_or(Step::Named(inside), Step::Index));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// The line of the deepest node `path` reaches.
fn line_of(root: &Spanned<Node>, path: &str) -> Option<u64> {
    let mut node = root;
    let mut line = None;
    for step in steps(path) {
        let next = match (&node.value, step) {
            (Node::Map(entries), Step::Key(k)) => entries.iter().find(|(key, _)| key.value == k).map(|(key, v)| (key.referenced.line(), v)),
            (Node::Seq(items), Step::Index(i)) => items.get(i).map(|v| (v.referenced.line(), v)),
            (Node::Seq(items), Step::Named(name)) => items
                .iter()
                .find(|v| matches!(&v.value, Node::Map(e) if e.iter().any(|(k, x)| k.value == "property" && matches!(&x.value, Node::Scalar(s) if s == name))))
                .map(|v| (v.referenced.line(), v)),
            _ => None,
        };
        let Some((l, v)) = next else { break };
        line = Some(l).filter(|l| *l > 0).or(line);
        node = v;
    }
    line
}

/// Puts the line into every finding that has none and whose path reaches into `text` (the
/// source the contract was parsed from). Text that does not read as YAML leaves them as they
/// are: the parse error already has its line.
pub fn locate(text: &str, problems: &mut [Problem]) {
    if problems.iter().all(|p| p.line.is_some()) {
        return;
    }
    let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) else { return };
    for p in problems.iter_mut().filter(|p| p.line.is_none() && !p.path.is_empty()) {
        p.line = line_of(&root, &p.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: v3.1.0
id: x
schema:
  - name: r
    properties:
      - { name: a, logicalType: string }
      - name: b
        quality:
          - metric: duplicateValues
            arguments:
              properties: [ghost]
    customProperties:
      - property: gateAllowExtraFields
        value: maybe
slaProperties:
  - property: latency
    element: ghost.field
";

    #[test]
    fn paths_become_lines() {
        let cases = [
            ("schema[0].properties[0]", Some(6)),
            ("schema[0].properties[1].quality[0]", Some(9)),
            ("schema[0].properties[1].quality[0].arguments.properties", Some(11)),
            ("schema[0].customProperties[gateAllowExtraFields]", Some(13)),
            ("slaProperties[0].element", Some(17)),
            // As far as the path reaches: the finding is about something not written.
            ("schema[0].properties[1].quality[0].arguments.missing", Some(10)),
            ("schema[3]", Some(3)),
            ("nothing", None),
        ];
        for (path, want) in cases {
            let mut p = [Problem::error(path, "m")];
            locate(TEXT, &mut p);
            assert_eq!(p[0].line, want, "{path}");
        }
    }

    #[test]
    fn steps_table() {
        assert_eq!(steps("schema[0].customProperties[gateTripOnAny]"), vec![Step::Key("schema"), Step::Index(0), Step::Key("customProperties"), Step::Named("gateTripOnAny")]);
        assert_eq!(steps("a[1][2].b"), vec![Step::Key("a"), Step::Index(1), Step::Index(2), Step::Key("b")]);
        assert_eq!(steps(""), vec![]);
    }

    #[test]
    fn unreadable_text_and_known_lines_are_left_alone() {
        let mut p = [Problem::error("schema", "m"), Problem { line: Some(40), ..Problem::error("id", "m") }];
        locate("a: [", &mut p);
        assert_eq!(p[0].line, None);
        locate(TEXT, &mut p);
        assert_eq!((p[0].line, p[1].line), (Some(3), Some(40)));
    }
}
