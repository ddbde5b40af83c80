//! The replica's Schema Registry writes: a schema version under a subject and a compatibility
//! level, each checked against the catalog ([`crate::schemas::admit`]), appended to the log and
//! answered once this replica has applied it, retried when another replica wrote first.

use crate::avro_rules::Level;
use crate::record::SchemaRecord;
use crate::replica::{now, Registry, RegistryError, WRITE_ATTEMPTS};
use crate::schema_store::Candidate;
use crate::schemas::{admit, nonce, SchemaAdmission, SchemaRefusal};
use tracing::{debug, info};

/// Failures of a schema registration.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Refused (422 or 409).
    #[error(transparent)]
    Refused(#[from] SchemaRefusal),
    /// The log failed (503).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// Schema id.
    pub id: u32,
    /// Version in the subject.
    pub version: u32,
    /// False when the subject held the schema already.
    pub created: bool,
}

impl Registry {
    /// Registers a schema (of any type) under `subject` after the contract and compatibility checks.
    /// The same schema again returns its id and version without writing.
    ///
    /// # Errors
    /// [`SchemaError`].
    pub async fn register_schema(&self, subject: &str, c: &Candidate) -> Result<Registered, SchemaError> {
        let _w = self.write.lock().await;
        for _ in 0..WRITE_ATTEMPTS {
            let n = nonce();
            let record = match admit(&self.catalog(), subject, c, &n, &now())? {
                SchemaAdmission::Existing { id, version } => return Ok(Registered { id, version, created: false }),
                SchemaAdmission::Write(r) => r,
            };
            let SchemaRecord::Schema { version, id, .. } = &record else { unreachable!("admit writes schemas") };
            let (version, id) = (*version, *id);
            let key = record.key();
            let value = serde_json::to_vec(&record).map_err(|e| RegistryError::Unavailable(e.to_string()))?;
            self.append_raw(&key, &value).await?;
            let won = self.catalog().schemas().version(subject, Some(version)).map(|v| v.nonce == n);
            if won == Some(true) {
                info!(subject, version, id, "registry: schema registered");
                return Ok(Registered { id, version, created: true });
            }
            // Another replica wrote this version (or took this id) first: check again.
            self.tombstone(&key);
            debug!(subject, version, id, "registry schema write lost a race; retrying");
        }
        Err(RegistryError::Unavailable("the subject kept changing under this write; try again".into()).into())
    }

    /// Sets (or, with `None` for a subject, removes) a compatibility level.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`].
    pub async fn set_compatibility(&self, subject: Option<&str>, level: Option<Level>) -> Result<(), RegistryError> {
        let _w = self.write.lock().await;
        let record = SchemaRecord::Compatibility { subject: subject.map(str::to_string), level, at: now() };
        let value = serde_json::to_vec(&record).map_err(|e| RegistryError::Unavailable(e.to_string()))?;
        self.append_raw(&record.key(), &value).await?;
        info!(subject = subject.unwrap_or("(global)"), level = level.map_or("(global default)", |l| l.as_str()), "registry: compatibility level set");
        Ok(())
    }
}
