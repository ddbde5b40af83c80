//! Hot reload: running bindings follow the registry.
//!
//! Whenever the registry applies a record, every binding looks for the newest active version
//! of its contract that matches its range (`bindings[].version`; default `^MAJOR` of the
//! version it started with) and is newer than the one it runs. That version is compiled for
//! the binding's object and swapped in with [`BindingRuntime::reload`]: the record loop keeps
//! running, each record is judged by exactly one version (read once, under the same lock as
//! the window it feeds) and carries it in `contract-gate-contract-version`. A version that
//! does not compile for the binding is never activated; the binding stays where it is and the
//! failure is logged and counted (`contract_gate_contract_reloads_total{outcome="failed"}`).

use super::Registry;
use crate::serve::binding::BindingRuntime;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{error, info};

/// The range a binding follows: its configured one, else `^MAJOR` of `started` (`^0.MINOR`
/// below 1.0.0, where a minor bump may break).
#[must_use]
pub fn follow_range(configured: Option<semver::VersionReq>, started: &str) -> Option<semver::VersionReq> {
    configured.or_else(|| {
        let v = semver::Version::parse(started).ok()?;
        let req = if v.major == 0 { format!("^0.{}", v.minor) } else { format!("^{}", v.major) };
        semver::VersionReq::parse(&req).ok()
    })
}

/// Follows the registry until `shutdown` turns true.
pub fn spawn(registry: Arc<Registry>, bindings: Vec<Arc<BindingRuntime>>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let follows: Vec<(Arc<BindingRuntime>, Option<semver::VersionReq>)> = bindings
        .into_iter()
        .map(|b| {
            let range = follow_range(b.cfg.version_req().ok().flatten(), &b.contract().version);
            (b, range)
        })
        .collect();
    let mut changes = registry.subscribe();
    tokio::spawn(async move {
        // Versions that failed to compile for a binding: not retried until something changes them.
        let mut failed: HashSet<(String, String)> = HashSet::new();
        loop {
            for (b, range) in &follows {
                reload_one(&registry, b, range.as_ref(), &mut failed).await;
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    })
}

/// Moves one binding to the newest matching version, if it is newer than the one it runs.
/// Returns the version activated.
pub async fn reload_one(registry: &Registry, b: &BindingRuntime, range: Option<&semver::VersionReq>, failed: &mut HashSet<(String, String)>) -> Option<String> {
    let current = b.contract();
    let candidate = {
        let cat = registry.catalog();
        let e = cat.resolve(&b.cfg.contract, range)?;
        let newer = semver::Version::parse(&current.version).map_or(true, |cur| e.version > cur);
        if !newer || failed.contains(&(b.cfg.name.clone(), e.version.to_string())) {
            return None;
        }
        Arc::clone(&e.contract)
    };
    let version = candidate.version.clone();
    match contracts::compile(&candidate, b.cfg.object.as_deref()) {
        Ok(compiled) => {
            let restarted = b.reload(Arc::new(compiled)).await;
            metrics::counter!("contract_gate_contract_reloads_total", "binding" => b.cfg.name.clone(), "outcome" => "applied").increment(1);
            info!(binding = %b.cfg.name, contract = %b.cfg.contract, from = %current.version, to = %version, window_restarted = restarted, "contract hot-reloaded");
            Some(version)
        }
        Err(e) => {
            metrics::counter!("contract_gate_contract_reloads_total", "binding" => b.cfg.name.clone(), "outcome" => "failed").increment(1);
            error!(binding = %b.cfg.name, contract = %b.cfg.contract, version = %version, error = %e, "new contract version does not compile for this binding; staying on {}", current.version);
            failed.insert((b.cfg.name.clone(), version));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_range_is_the_starting_major() {
        let r = |c: Option<&str>, s: &str| follow_range(c.map(|c| semver::VersionReq::parse(c).expect("req")), s).map(|r| r.to_string());
        assert_eq!(r(None, "1.4.2"), Some("^1".into()));
        assert_eq!(r(None, "0.3.1"), Some("^0.3".into()));
        assert_eq!(r(Some("~1.4"), "1.4.2"), Some("~1.4".into()));
    }
}
