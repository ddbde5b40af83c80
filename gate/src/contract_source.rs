//! Where a serving gate reads its contracts: a directory of ODCS files, or the registry (see
//! the `registry` crate), as the config's `contracts` section says.

use contracts::CompiledContract;
use registry::{ContractDir, DirError, Registry, RegistryError, SeedError};
use std::path::PathBuf;
use std::sync::Arc;
use tracing::info;

/// Where a serving gate reads its contracts: the directory, or the registry.
#[derive(Debug)]
pub enum ContractSource {
    /// A directory of contract files.
    Dir(ContractDir),
    /// The registry (with hot reload).
    Registry(Arc<Registry>),
}

/// Why contracts cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ContractSourceError {
    /// The directory, a file or a version in it.
    #[error(transparent)]
    Dir(#[from] DirError),
    /// The registry's log cannot be read or set up.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The seed directory could not be registered.
    #[error("seeding the registry from {}", dir.display())]
    Seed {
        /// `contracts.dir`.
        dir: PathBuf,
        /// The file and why.
        #[source]
        source: Box<SeedError>,
    },
    /// The registry has no version a binding can run.
    #[error(transparent)]
    Compile(#[from] registry::CompileError),
}

impl ContractSource {
    /// Opens the source the config names. With the registry, the topic is read to its end
    /// and `contracts.dir`, if set, is seeded into it.
    ///
    /// # Errors
    /// [`ContractSourceError`] naming the directory, file, topic or refusal.
    pub async fn open(cfg: &crate::config::GateConfig) -> Result<Self, ContractSourceError> {
        match &cfg.contracts.registry {
            None => Ok(Self::Dir(ContractDir::load(&cfg.contracts.dir)?)),
            Some(r) => {
                let reg = Registry::kafka(&crate::kafka::client_config(cfg), &r.topic, r.create_topic).await?;
                if !cfg.contracts.dir.as_os_str().is_empty() {
                    let n = reg.seed(&cfg.contracts.dir).await.map_err(|source| ContractSourceError::Seed { dir: cfg.contracts.dir.clone(), source: Box::new(source) })?;
                    info!(dir = %cfg.contracts.dir.display(), added = n, "registry seeded");
                }
                Ok(Self::Registry(Arc::new(reg)))
            }
        }
    }

    /// Compiles the version of `id` that `req` selects (newest when `None`) for `object`.
    ///
    /// # Errors
    /// [`ContractSourceError`] naming the contract and the problem.
    pub fn compile(&self, id: &str, object: Option<&str>, req: Option<&semver::VersionReq>) -> Result<CompiledContract, ContractSourceError> {
        match self {
            Self::Dir(d) => Ok(d.compile_matching(id, object, req)?),
            Self::Registry(r) => Ok(r.compile(id, object, req)?),
        }
    }

    /// The registry, when contracts come from it.
    #[must_use]
    pub fn registry(&self) -> Option<Arc<Registry>> {
        match self {
            Self::Dir(_) => None,
            Self::Registry(r) => Some(Arc::clone(r)),
        }
    }
}
