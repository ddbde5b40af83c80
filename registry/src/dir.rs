//! Contracts from a directory of ODCS files (the embedded default and GitOps mode).
//! A binding may follow a version range here too; the newest matching file wins.

use contracts::{compile, CompiledContract, Contract};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a contract directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// Path.
        path: PathBuf,
        /// OS reason.
        reason: String,
    },
    /// A file is not a valid contract.
    #[error("{path}: {reason}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// Problem with its location.
        reason: String,
    },
    /// Two files hold the same id and version with different content.
    #[error("{path}: contract {id} version {version} is also defined by {other}")]
    Conflict {
        /// File.
        path: PathBuf,
        /// Contract id.
        id: String,
        /// Version.
        version: String,
        /// The other file.
        other: PathBuf,
    },
    /// No contract with that id.
    #[error("no contract with id {id:?} in {dir} (found: {found})")]
    Missing {
        /// Wanted id.
        id: String,
        /// Directory.
        dir: PathBuf,
        /// Ids present.
        found: String,
    },
}

/// Every contract version found in a directory.
#[derive(Debug)]
pub struct ContractDir {
    dir: PathBuf,
    by_id: BTreeMap<String, BTreeMap<semver::Version, (PathBuf, Contract)>>,
}

impl ContractDir {
    /// Reads every `*.yaml`, `*.yml` and `*.json` file; any invalid file fails the load, so a
    /// typo never silently leaves a binding on an old version.
    ///
    /// # Errors
    /// A [`DirError`] naming the file and the problem.
    pub fn load(dir: &Path) -> Result<Self, DirError> {
        let mut by_id: BTreeMap<String, BTreeMap<semver::Version, (PathBuf, Contract)>> = BTreeMap::new();
        for (path, text) in contract_files(dir)? {
            let c = contracts::parse(&text).map_err(|e| DirError::Invalid { path: path.clone(), reason: e.to_string() })?;
            let v = semver::Version::parse(&c.version).map_err(|e| DirError::Invalid { path: path.clone(), reason: format!("version {:?} is not semantic (MAJOR.MINOR.PATCH): {e}", c.version) })?;
            let versions = by_id.entry(c.id.clone()).or_default();
            if let Some((other, existing)) = versions.get(&v) {
                if *existing != c {
                    return Err(DirError::Conflict { path, id: c.id.clone(), version: c.version.clone(), other: other.clone() });
                }
                continue;
            }
            versions.insert(v, (path, c));
        }
        Ok(Self { dir: dir.to_path_buf(), by_id })
    }

    /// Compiles the newest version of contract `id` for `object`.
    ///
    /// # Errors
    /// [`DirError::Missing`] or [`DirError::Invalid`].
    pub fn compile(&self, id: &str, object: Option<&str>) -> Result<CompiledContract, DirError> {
        self.compile_matching(id, object, None)
    }

    /// Compiles the newest version of contract `id` that matches `req` (any, when `None`).
    ///
    /// # Errors
    /// [`DirError::Missing`] or [`DirError::Invalid`].
    pub fn compile_matching(&self, id: &str, object: Option<&str>, req: Option<&semver::VersionReq>) -> Result<CompiledContract, DirError> {
        let Some((_, (path, c))) = self.by_id.get(id).and_then(|v| v.iter().rev().find(|(v, _)| req.is_none_or(|r| r.matches(v)))) else {
            let found = self.by_id.iter().map(|(id, vs)| format!("{id} {}", vs.keys().map(ToString::to_string).collect::<Vec<_>>().join("/"))).collect::<Vec<_>>().join(", ");
            return Err(DirError::Missing { id: format!("{id}{}", req.map(|r| format!(" matching {r}")).unwrap_or_default()), dir: self.dir.clone(), found });
        };
        compile(c, object).map_err(|e| DirError::Invalid { path: path.clone(), reason: e.to_string() })
    }
}

/// Every `*.yaml`, `*.yml` and `*.json` file of `dir` that says it is a contract, sorted by
/// name, with its text. Config files may sit beside contracts; they are skipped.
///
/// # Errors
/// [`DirError::Read`] naming the directory or file.
pub fn contract_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, DirError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DirError::Read { path: dir.to_path_buf(), reason: e.to_string() })?;
    let mut files: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().and_then(|x| x.to_str()).is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))).collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| DirError::Read { path: path.clone(), reason: e.to_string() })?;
        if text.contains("DataContract") {
            out.push((path, text));
        }
    }
    Ok(out)
}
