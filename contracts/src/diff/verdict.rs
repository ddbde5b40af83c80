//! The registry's verdict on a successor version: breaking changes need a major bump.

use super::{diff, Change, Diff};
use crate::model::Contract;
use serde::Serialize;

/// Whether going from `old` to `new` is a major bump: the major number grew, or, below 1.0.0
/// (where semver promises nothing), the minor number grew. `None` when either is not a
/// semantic version.
#[must_use]
pub fn is_major_bump(old: &str, new: &str) -> Option<bool> {
    let (o, n) = (semver::Version::parse(old).ok()?, semver::Version::parse(new).ok()?);
    Some(n.major > o.major || (o.major == 0 && n.major == 0 && n.minor > o.minor))
}

/// Whether a version with `diff`'s changes needs a major bump over the old one.
#[must_use]
pub fn requires_major(diff: &Diff) -> bool {
    diff.is_breaking()
}

/// Two versions of one contract judged as the registry judges a successor: every change, and
/// whether the version number lets the breaking ones in. The registry's admission, its diff
/// endpoint and the offline `contracts diff` all decide through [`compare`], so a file that
/// passes the offline check is never refused as breaking by the registry, and the other way
/// round. Serialized as the registry's diff endpoint answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Contract id (the new version's).
    pub id: String,
    /// Old version, as written.
    pub from: String,
    /// New version, as written.
    pub to: String,
    /// Whether any change is breaking.
    pub breaking: bool,
    /// Whether `to` is a major bump over `from` ([`is_major_bump`]; false when either is not
    /// a semantic version).
    pub major_bump: bool,
    /// Whether the registry admits `to` after `from`: nothing breaking, or a major bump.
    pub compatible: bool,
    /// Every change, in document order.
    pub changes: Vec<Change>,
}

impl Comparison {
    /// The breaking changes.
    pub fn breaking_changes(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.breaking)
    }
}

/// Compares `new` against `old` with the registry's rule: breaking changes need a major
/// version bump.
#[must_use]
pub fn compare(old: &Contract, new: &Contract) -> Comparison {
    let changes = diff(old, new).changes;
    let breaking = changes.iter().any(|c| c.breaking);
    let major_bump = is_major_bump(&old.version, &new.version) == Some(true);
    Comparison { id: new.id.clone(), from: old.version.clone(), to: new.version.clone(), breaking, major_bump, compatible: !breaking || major_bump, changes }
}
