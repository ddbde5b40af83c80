//! Where a serving gate reads its contracts: a directory of ODCS files, or the registry (see
//! the `registry` crate), as the config's `contracts` section says.

use contracts::CompiledContract;
use registry::{ContractDir, Registry};
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

impl ContractSource {
    /// Opens the source the config names. With the registry, the topic is read to its end
    /// and `contracts.dir`, if set, is seeded into it.
    ///
    /// # Errors
    /// A message naming the directory, file, topic or refusal.
    pub async fn open(cfg: &crate::config::GateConfig) -> Result<Self, String> {
        match &cfg.contracts.registry {
            None => ContractDir::load(&cfg.contracts.dir).map(Self::Dir).map_err(|e| e.to_string()),
            Some(r) => {
                let reg = Registry::kafka(&crate::kafka::client_config(cfg), &r.topic, r.create_topic).await.map_err(|e| e.to_string())?;
                if !cfg.contracts.dir.as_os_str().is_empty() {
                    let n = reg.seed(&cfg.contracts.dir).await.map_err(|e| format!("seeding the registry from {}: {e}", cfg.contracts.dir.display()))?;
                    info!(dir = %cfg.contracts.dir.display(), added = n, "registry seeded");
                }
                Ok(Self::Registry(Arc::new(reg)))
            }
        }
    }

    /// Compiles the version of `id` that `req` selects (newest when `None`) for `object`.
    ///
    /// # Errors
    /// A message naming the contract and the problem.
    pub fn compile(&self, id: &str, object: Option<&str>, req: Option<&semver::VersionReq>) -> Result<CompiledContract, String> {
        match self {
            Self::Dir(d) => d.compile_matching(id, object, req).map_err(|e| e.to_string()),
            Self::Registry(r) => r.compile(id, object, req),
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
