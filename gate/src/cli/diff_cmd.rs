//! `contracts diff OLD NEW` and `contracts changelog OLD NEW`: two contract files compared
//! offline, by the registry's own rules. Each file goes through the registry's checks of a
//! push ([`registry::catalog::vet`]) and the pair through its breaking-change rule
//! ([`contracts::diff::compare`]), so a CI job learns what a push would be told.
//!
//! Exit codes of `diff` ([`exit_code`]): 0 the registry would take NEW after OLD (nothing
//! breaking, or a major version bump); 1 breaking changes without a major bump (with
//! `--strict`: any breaking change); 2 a file unreadable or invalid, or the two are different
//! contracts. The report formats are written by `diff_junit::offline`.

use contracts::diff::Comparison;
use contracts::{Contract, Problem};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why two files cannot be compared (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// OS reason.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a contract the registry would take.
    #[error("{}: invalid contract: {}", path.display(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// File.
        path: PathBuf,
        /// Every error, with its path and line.
        problems: Vec<Problem>,
    },
    /// The files hold different contracts (the registry compares versions of one contract).
    #[error("{} is contract {old:?} and {} is contract {new:?}: only versions of one contract are compared", old_path.display(), new_path.display())]
    OtherContract {
        /// Old file.
        old_path: PathBuf,
        /// Its id.
        old: String,
        /// New file.
        new_path: PathBuf,
        /// Its id.
        new: String,
    },
}

/// Exit code when the registry would refuse NEW after OLD.
pub const EXIT_BREAKING: u8 = 1;

/// Reads a contract file through the registry's checks of a push.
///
/// # Errors
/// [`DiffError::Read`] or [`DiffError::Invalid`].
pub fn load(path: &Path) -> Result<Contract, DiffError> {
    let text = std::fs::read_to_string(path).map_err(|source| DiffError::Read { path: path.to_path_buf(), source })?;
    match registry::catalog::vet(&text) {
        Ok((c, _, _)) => Ok(c),
        Err(registry::Refusal::Invalid { problems }) => Err(DiffError::Invalid { path: path.to_path_buf(), problems }),
        // vet refuses only as invalid; any other refusal still means "not this file".
        Err(other) => Err(DiffError::Invalid { path: path.to_path_buf(), problems: vec![Problem::error("", other.to_string())] }),
    }
}

/// Both files, checked to be versions of one contract.
///
/// # Errors
/// A [`DiffError`].
pub fn load_pair(old: &Path, new: &Path) -> Result<(Contract, Contract), DiffError> {
    let (o, n) = (load(old)?, load(new)?);
    if o.id != n.id {
        return Err(DiffError::OtherContract { old_path: old.to_path_buf(), old: o.id, new_path: new.to_path_buf(), new: n.id });
    }
    Ok((o, n))
}

/// The exit code of a comparison: 1 when the registry refuses it, or with `strict` on any
/// breaking change; else 0.
#[must_use]
pub fn exit_code(c: &Comparison, strict: bool) -> u8 {
    if !c.compatible || (strict && c.breaking) {
        EXIT_BREAKING
    } else {
        0
    }
}

/// The next major version after `v` (below 1.0.0, the next minor), for the advice line.
fn next_major(v: &str) -> Option<String> {
    let v = semver::Version::parse(v).ok()?;
    Some(if v.major == 0 { format!("0.{}.0", v.minor + 1) } else { format!("{}.0.0", v.major + 1) })
}

/// The table: a verdict line, one line per change, and what to do when it is refused.
#[must_use]
pub fn table(c: &Comparison, strict: bool) -> String {
    let verdict = match (c.breaking, c.major_bump) {
        (false, _) => "compatible",
        (true, true) if strict => "breaking (major version bump; --strict refuses it)",
        (true, true) => "breaking (major version bump)",
        (true, false) => "breaking WITHOUT a major version bump",
    };
    let mut out = format!("{} {} -> {}: {verdict}\n", c.id, c.from, c.to);
    for ch in &c.changes {
        let mark = if ch.breaking { "BREAKING" } else { "ok" };
        let kind = serde_json::to_value(ch.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let _ = writeln!(out, "  {mark:<8}  {kind:<10}  {}: {}", ch.path, ch.message);
    }
    if !c.compatible {
        let advice = next_major(&c.from).map(|v| format!(": publish it as {v} or later")).unwrap_or_default();
        let _ = writeln!(out, "the registry refuses {} after {}{advice}", c.to, c.from);
    }
    if semver::Version::parse(&c.to).ok() <= semver::Version::parse(&c.from).ok() && !c.changes.is_empty() {
        let _ = writeln!(out, "note: {} is not above {}; the registry takes a changed contract only under a new version", c.to, c.from);
    }
    out
}

/// Runs `contracts changelog OLD NEW`: the Markdown.
///
/// # Errors
/// A [`DiffError`] (exit 2).
pub fn changelog(old: &Path, new: &Path) -> Result<String, DiffError> {
    let (o, n) = load_pair(old, new)?;
    Ok(contracts::diff::changelog::markdown(&o, &n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = include_str!("../../../contracts/tests/fixtures/diff_cases.yaml");

    #[derive(serde::Deserialize)]
    struct Fixtures {
        base: String,
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        replace: String,
        with: String,
        path: String,
        breaking: bool,
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// The breaking-change fixtures, as files: the verdict and exit code for a minor bump, a
    /// major bump, and a major bump under `--strict`.
    #[test]
    fn fixtures_offline_with_exit_codes() {
        let f: Fixtures = serde_saphyr::from_str(FIXTURES).expect("fixtures");
        let dir = tempfile::tempdir().expect("tempdir");
        let old = write(dir.path(), "old.yaml", &f.base);
        for c in &f.cases {
            let changed = f.base.replacen(&c.replace, &c.with, 1);
            for (version, strict) in [("1.1.0", false), ("2.0.0", false), ("2.0.0", true)] {
                let new = write(dir.path(), "new.yaml", &changed.replacen("version: 1.0.0", &format!("version: {version}"), 1));
                let (o, n) = load_pair(&old, &new).expect("both load");
                let cmp = contracts::diff::compare(&o, &n);
                assert!(cmp.changes.iter().any(|x| x.path == c.path && x.breaking == c.breaking), "{}: {:#?}", c.path, cmp.changes);
                let want = u8::from(cmp.breaking && (version == "1.1.0" || strict));
                let text = table(&cmp, strict);
                assert_eq!(exit_code(&cmp, strict), want, "{} {version} strict={strict}:\n{text}", c.path);
                assert!(text.contains(&c.path), "{text}");
            }
        }
    }

    #[test]
    fn unreadable_invalid_or_other_contract_is_an_error() {
        let f: Fixtures = serde_saphyr::from_str(FIXTURES).expect("fixtures");
        let dir = tempfile::tempdir().expect("tempdir");
        let good = write(dir.path(), "good.yaml", &f.base);
        let cases: [(PathBuf, &str); 4] = [
            (dir.path().join("missing.yaml"), "cannot read"),
            (write(dir.path(), "bad.yaml", &f.base.replacen("version: 1.0.0", "version: one", 1)), "not a semantic version"),
            (write(dir.path(), "lint.yaml", &f.base.replacen("logicalType: number", "logicalType: money", 1)), "invalid contract"),
            (write(dir.path(), "other.yaml", &f.base.replacen("id: orders", "id: refunds", 1)), "only versions of one contract"),
        ];
        for (path, want) in cases {
            let e = load_pair(&good, &path).expect_err(want);
            let msg = format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default());
            assert!(msg.contains(want), "{msg} lacks {want}");
        }
    }

    #[test]
    fn refused_table_names_the_next_major() {
        let f: Fixtures = serde_saphyr::from_str(FIXTURES).expect("fixtures");
        let dir = tempfile::tempdir().expect("tempdir");
        let old = write(dir.path(), "old.yaml", &f.base);
        let new = write(dir.path(), "new.yaml", &f.base.replacen("[new, paid, shipped]", "[new, paid]", 1));
        let (o, n) = load_pair(&old, &new).expect("both load");
        let cmp = contracts::diff::compare(&o, &n);
        let text = table(&cmp, false);
        assert_eq!(exit_code(&cmp, false), 1);
        assert!(text.starts_with("orders 1.0.0 -> 1.0.0: breaking WITHOUT a major version bump\n"), "{text}");
        assert!(text.contains("publish it as 2.0.0 or later") && text.contains("note: 1.0.0 is not above 1.0.0"), "{text}");
    }
}
