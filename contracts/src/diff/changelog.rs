//! A changelog for people: the changes between two versions of a contract as Markdown, one
//! section per part of the contract, breaking changes marked, and a line saying whether the
//! version number lets them in. Deterministic (no dates, document order within a section), so
//! it can be committed next to the contract or pasted into a release note as it is.

use super::{compare, Area, Change, Comparison};
use crate::model::Contract;
use std::fmt::Write as _;

/// The mark in front of a breaking change.
pub const BREAKING: &str = "**BREAKING**";

/// The changelog from `old` to `new`, in Markdown.
#[must_use]
pub fn markdown(old: &Contract, new: &Contract) -> String {
    render(&compare(old, new), old, new)
}

fn heading(area: Area) -> &'static str {
    match area {
        Area::Objects => "Schema objects",
        Area::Properties => "Properties",
        Area::Types => "Types",
        Area::Constraints => "Constraints",
        Area::Quality => "Quality rules",
        Area::Sla => "SLAs",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The summary under the title: how many changes, how many breaking, and whether the version
/// bump is the one the registry asks for.
fn verdict(c: &Comparison) -> String {
    let total = c.changes.len();
    if total == 0 {
        return "No changes to schema objects, properties, types, constraints, quality rules or SLAs.".into();
    }
    let breaking = c.breaking_changes().count();
    let changes = plural(total, "change", "changes");
    if breaking == 0 {
        return format!("{changes}, none breaking.");
    }
    let marked = format!("{changes}, {breaking} breaking (marked {BREAKING})");
    if c.major_bump {
        format!("{marked}. {} is a major version bump over {}, as the registry requires for breaking changes.", c.to, c.from)
    } else {
        format!("{marked}. {} is not a major version bump over {}: the registry refuses this version; publish it as the next major version.", c.to, c.from)
    }
}

fn item(out: &mut String, c: &Change) {
    let mark = if c.breaking { format!("{BREAKING} ") } else { String::new() };
    let _ = writeln!(out, "- {mark}`{}`: {}", c.path, c.message);
}

fn render(c: &Comparison, old: &Contract, new: &Contract) -> String {
    let mut out = String::new();
    let name = new.name.as_deref().filter(|n| *n != new.id).map(|n| format!(" ({n})")).unwrap_or_default();
    let _ = writeln!(out, "## {}{name} {} → {}\n", c.id, c.from, c.to);
    let _ = writeln!(out, "{}", verdict(c));
    if old.status != new.status {
        let _ = writeln!(out, "\nStatus: {} → {}.", old.status, new.status);
    }
    for area in Area::ALL {
        let mut in_area = c.changes.iter().filter(|x| x.area == area).peekable();
        if in_area.peek().is_none() {
            continue;
        }
        let _ = writeln!(out, "\n### {}\n", heading(area));
        for change in in_area {
            item(&mut out, change);
        }
    }
    out
}

#[cfg(test)]
mod tests;
