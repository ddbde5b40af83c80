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

use crate::serve::binding::BindingRuntime;
use crate::serve::telemetry::shadow::{ShadowRefused, ShadowStarted, ShadowStopped};
use crate::serve::telemetry::{ContractReloadRefused, ContractReloaded, Emit};
use registry::{Registry, Status};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

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
/// A binding a pattern adds later is followed from the first change after it was added, with
/// the range of the version it started on.
pub fn spawn(registry: Arc<Registry>, bindings: super::topology::BindingSet, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let mut changes = registry.subscribe();
    tokio::spawn(async move {
        // Versions that failed to compile for a binding: never retried (versions are immutable).
        let mut failed: HashSet<(String, String)> = HashSet::new();
        // Each binding's range, fixed by the version it started on.
        let mut ranges: std::collections::HashMap<String, Option<semver::VersionReq>> = std::collections::HashMap::new();
        loop {
            for b in bindings.list() {
                let range = ranges.entry(b.cfg.name.clone()).or_insert_with(|| follow_range(b.cfg.version_req().ok().flatten(), &b.contract().version)).clone();
                reload_one(&registry, &b, range.as_ref(), &mut failed).await;
                follow_shadow(&registry, &b, range.as_ref(), &mut failed);
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

/// `candidate` compiled for the binding's object. A version that adds a second schema object
/// leaves an Avro binding without an `object` unable to tell which one its records carry: it
/// is refused as well.
fn compile_for(b: &BindingRuntime, candidate: &contracts::Contract) -> Result<contracts::CompiledContract, String> {
    contracts::compile(candidate, b.cfg.object.as_deref()).map_err(|e| e.to_string()).and_then(|c| crate::serve::binding::ambiguous_object(&b.cfg, &c).map_or(Ok(c), Err))
}

/// The key object of `candidate` for a binding with a structured key (`bindings[].key`), so
/// keys follow the version values follow. A version that lacks it, or whose value object
/// (`value`) would be the key object, is refused like one that does not compile.
fn key_object_for(b: &BindingRuntime, candidate: &contracts::Contract, value: &contracts::CompiledContract) -> Result<Option<contracts::CompiledContract>, String> {
    let Some(object) = b.cfg.key.as_ref().and_then(|k| k.object.as_deref()) else { return Ok(None) };
    if *value.object == *object {
        return Err(format!("its first schema object is the key object {object}: the binding would check values by it"));
    }
    contracts::compile(candidate, Some(object)).map(Some).map_err(|e| format!("key object {object}: {e}"))
}

/// Moves one binding to the newest active version in its range that is newer than the one it
/// runs and compiles for it (versions that do not are skipped, remembered in `failed`, and
/// never activated). Returns the version activated.
pub async fn reload_one(registry: &Registry, b: &BindingRuntime, range: Option<&semver::VersionReq>, failed: &mut HashSet<(String, String)>) -> Option<String> {
    let current = b.contract();
    let cur = semver::Version::parse(&current.version).ok();
    let candidates: Vec<Arc<contracts::Contract>> = {
        let cat = registry.catalog();
        let vs = cat.versions(&b.cfg.contract)?;
        vs.values()
            .rev()
            .filter(|e| e.status == Status::Active && range.is_none_or(|r| r.matches(&e.version)) && cur.as_ref().is_none_or(|c| e.version > *c))
            .filter(|e| !failed.contains(&(b.cfg.name.clone(), e.version.to_string())))
            .map(|e| Arc::clone(&e.contract))
            .collect()
    };
    for candidate in candidates {
        let version = candidate.version.clone();
        let compiled = compile_for(b, &candidate).and_then(|c| key_object_for(b, &candidate, &c).map(|k| (c, k)));
        match compiled {
            Ok((compiled, key)) => {
                let restarted = b.reload(Arc::new(compiled)).await;
                if let Some(key) = key {
                    b.set_key_object(Arc::new(key));
                }
                ContractReloaded { binding: &b.cfg.name, contract: &b.cfg.contract, from: &current.version, to: &version, window_restarted: restarted }.emit();
                return Some(version);
            }
            Err(e) => {
                ContractReloadRefused { binding: &b.cfg.name, contract: &b.cfg.contract, version: &version, staying_on: &current.version, error: &e }.emit();
                failed.insert((b.cfg.name.clone(), version));
            }
        }
    }
    None
}

/// Starts, switches or stops the binding's shadow evaluation: it evaluates the newest shadow
/// version newer than the version it runs that compiles for it (a version that does not is
/// remembered in `failed`, like a reload). A shadow outside the binding's range is evaluated
/// too — a major version is what most needs a preview — and its report says that promoting
/// it would not move this binding. Returns the version evaluated now.
pub fn follow_shadow(registry: &Registry, b: &BindingRuntime, range: Option<&semver::VersionReq>, failed: &mut HashSet<(String, String)>) -> Option<String> {
    let active = b.contract();
    let cur = semver::Version::parse(&active.version).ok();
    let candidates: Vec<Arc<contracts::Contract>> = {
        let cat = registry.catalog();
        cat.versions(&b.cfg.contract).map_or_else(Vec::new, |vs| {
            vs.values()
                .rev()
                .filter(|e| e.is_evaluated_shadow() && cur.as_ref().is_none_or(|c| e.version > *c))
                .filter(|e| !failed.contains(&(b.cfg.name.clone(), e.version.to_string())))
                .map(|e| Arc::clone(&e.contract))
                .collect()
        })
    };
    let running = b.shadow.version();
    for candidate in candidates {
        let version = candidate.version.clone();
        if running.as_deref() == Some(version.as_str()) {
            return running;
        }
        let in_range = semver::Version::parse(&version).is_ok_and(|v| range.is_none_or(|r| r.matches(&v)));
        let compiled = compile_for(b, &candidate);
        let started = compiled.and_then(|c| crate::serve::shadow::spawn(&b.cfg, Arc::new(c), in_range, chrono::Utc::now().timestamp_millis()).map_err(|e| format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default())));
        match started {
            Ok(shadow) => {
                if let Some(v) = b.shadow.stop() {
                    ShadowStopped { binding: &b.cfg.name, version: &v, why: &format!("replaced by shadow version {version} (overtaken or withdrawn)"), failed: false }.emit();
                }
                b.shadow.start(shadow);
                ShadowStarted { binding: &b.cfg.name, contract: &b.cfg.contract, version: &version, active: &active.version }.emit();
                return Some(version);
            }
            Err(e) => {
                ShadowRefused { binding: &b.cfg.name, version: &version, error: &e }.emit();
                failed.insert((b.cfg.name.clone(), version));
            }
        }
    }
    // No shadow to evaluate (or none that compiles): the running one, if any, ends.
    if let Some(v) = b.shadow.stop() {
        let why = if cur.as_ref().is_some_and(|c| c.to_string() == v) { "promoted: the binding routes by it now" } else { "withdrawn, promoted, or no longer newer than the active version" };
        ShadowStopped { binding: &b.cfg.name, version: &v, why, failed: false }.emit();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::breaker_store::AnyStore;
    use breaker::{Breaker, BreakerOptions, MemoryStore};

    /// A binding (its YAML) running the version of `orders` the registry resolves for it.
    fn runtime(reg: &Registry, yaml: &str) -> BindingRuntime {
        let binding: crate::config::Binding = serde_saphyr::from_str(yaml).expect("binding");
        let compiled = reg.compile("orders", binding.object.as_deref(), None).expect("compiles");
        let rules = compiled.rules.clone();
        let store = AnyStore::Memory(MemoryStore::new(binding.breaker.window.clone(), &rules));
        let brk = Breaker::new(binding.breaker.clone(), rules, store, BreakerOptions::default(), 0).expect("breaker");
        BindingRuntime::new(binding, Arc::new(compiled), brk, 0, 2)
    }

    fn doc(version: &str, object: &str, extra: &str) -> String {
        format!("apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: {version}\nstatus: active\nschema:\n  - name: {object}\n    properties:\n      - name: id\n        logicalType: string\n{extra}")
    }

    #[tokio::test]
    async fn only_newer_compiling_versions_in_range_are_activated() {
        let reg = Registry::memory();
        reg.push(&doc("1.0.0", "orders", ""), false).await.expect("1.0.0");
        let b = runtime(&reg, "name: b\nsource: s\ncontract: orders\nobject: orders\nfallback: hold\nversion: '>=1'\n");
        let range = semver::VersionReq::parse(">=1").expect("range");
        let mut failed = HashSet::new();

        // 2.0.0 renames the object the binding checks: admitted (a major bump), never activated.
        reg.push(&doc("2.0.0", "purchases", ""), false).await.expect("2.0.0");
        assert_eq!(reload_one(&reg, &b, Some(&range), &mut failed).await, None);
        assert_eq!(&*b.contract().version, "1.0.0");
        assert!(failed.contains(&("b".to_string(), "2.0.0".to_string())));

        // 1.1.0 compiles: the binding moves to it, past the failed 2.0.0.
        reg.push(&doc("1.1.0", "orders", "      - name: note\n        logicalType: string\n"), false).await.expect("1.1.0");
        assert_eq!(reload_one(&reg, &b, Some(&range), &mut failed).await.as_deref(), Some("1.1.0"));
        assert_eq!(&*b.contract().version, "1.1.0");
        assert_eq!(&*b.stats(1).contract.version, "1.1.0", "every record loop's shard moved");
        // Nothing newer that compiles: stays; a deprecated newer version is not followed.
        assert_eq!(reload_one(&reg, &b, Some(&range), &mut failed).await, None);
        reg.push(&doc("1.2.0", "orders", "      - name: note\n        logicalType: string\n"), false).await.expect("1.2.0");
        reg.set_status("orders", "1.2.0", Status::Deprecated, None).await.expect("deprecate");
        assert_eq!(reload_one(&reg, &b, Some(&range), &mut failed).await, None);
        assert_eq!(&*b.contract().version, "1.1.0");
    }

    #[tokio::test]
    async fn a_version_adding_an_object_is_not_activated_for_an_avro_binding_without_one() {
        let reg = Registry::memory();
        reg.push(&doc("1.0.0", "orders", ""), false).await.expect("1.0.0");
        let b = runtime(&reg, "name: b\nsource: s\ncontract: orders\nfallback: hold\nformat: avro\n");
        let mut failed = HashSet::new();
        reg.push(&doc("1.1.0", "orders", "  - name: refunds\n    properties:\n      - name: id\n        logicalType: string\n"), false).await.expect("1.1.0");
        assert_eq!(reload_one(&reg, &b, None, &mut failed).await, None);
        assert_eq!(&*b.contract().version, "1.0.0");
        assert!(failed.contains(&("b".to_string(), "1.1.0".to_string())));
    }

    #[tokio::test]
    async fn the_key_object_follows_the_version_and_a_version_without_it_is_refused() {
        let reg = Registry::memory();
        let key = |extra: &str| format!("  - name: order_key\n    properties:\n      - name: id\n        logicalType: string\n{extra}");
        reg.push(&doc("1.0.0", "orders", &key("")), false).await.expect("1.0.0");
        let yaml = "name: b\nsource: s\ncontract: orders\nobject: orders\nfallback: hold\nversion: '>=1'\nkey: { format: json, object: order_key }\n";
        let b = runtime(&reg, yaml);
        let first = reg.compile("orders", Some("order_key"), None).expect("key object compiles");
        let b = b.with_key(None, Some(Arc::new(first)));
        let range = semver::VersionReq::parse(">=1").expect("range");
        let mut failed = HashSet::new();
        let key_version = |b: &BindingRuntime| b.key_object().map(|k| (k.version.to_string(), k.object.to_string()));
        // (version pushed, its objects after `orders`, activated, key object's version after)
        let cases = [
            ("1.1.0", key("      - name: region\n        logicalType: string\n"), Some("1.1.0"), "1.1.0"),
            ("2.0.0", String::new(), None, "1.1.0"),
        ];
        for (version, objects, activated, key_after) in cases {
            reg.push(&doc(version, "orders", &objects), false).await.expect(version);
            assert_eq!(reload_one(&reg, &b, Some(&range), &mut failed).await.as_deref(), activated, "{version}");
            assert_eq!(key_version(&b), Some((key_after.to_string(), "order_key".to_string())), "{version}");
        }
        assert!(failed.contains(&("b".to_string(), "2.0.0".to_string())), "the key object is gone from 2.0.0");
    }

    #[tokio::test]
    async fn a_shadow_version_is_evaluated_until_promoted_withdrawn_or_overtaken() {
        let reg = Registry::memory();
        reg.push(&doc("1.0.0", "orders", ""), false).await.expect("1.0.0");
        let b = runtime(&reg, "name: b\nsource: s\ncontract: orders\nobject: orders\nfallback: hold\n");
        let range = follow_range(None, "1.0.0");
        let mut failed = HashSet::new();
        let note = "      - name: note\n        logicalType: string\n";
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed), None, "no shadow registered");

        // A shadow: evaluated, never reloaded to.
        reg.push_as(&doc("1.1.0", "orders", note), false, true).await.expect("shadow 1.1.0");
        assert_eq!(reload_one(&reg, &b, range.as_ref(), &mut failed).await, None);
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed).as_deref(), Some("1.1.0"));
        assert_eq!(b.shadow.report("1.0.0").await.map(|r| (r.shadow_version, r.promotion_moves_binding)), Some(("1.1.0".into(), true)));
        // A newer shadow overtakes it; one outside the range is previewed, saying so.
        reg.push_as(&doc("2.0.0", "orders", ""), false, true).await.expect("shadow 2.0.0");
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed).as_deref(), Some("2.0.0"));
        assert_eq!(b.shadow.report("1.0.0").await.map(|r| r.promotion_moves_binding), Some(false));
        // Withdrawn: back to the newest one left; one that does not compile is not evaluated.
        reg.set_status("orders", "2.0.0", Status::Deprecated, None).await.expect("withdraw");
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed).as_deref(), Some("1.1.0"));
        reg.push_as(&doc("3.0.0", "purchases", ""), false, true).await.expect("shadow 3.0.0");
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed).as_deref(), Some("1.1.0"), "3.0.0 renames the object");
        assert!(failed.contains(&("b".to_string(), "3.0.0".to_string())));
        // Promoted: the binding reloads to it and the evaluation ends.
        let o = reg.promote("orders", "1.1.0").await.expect("promote");
        assert!(o.promoted);
        assert_eq!(reload_one(&reg, &b, range.as_ref(), &mut failed).await.as_deref(), Some("1.1.0"));
        assert_eq!(follow_shadow(&reg, &b, range.as_ref(), &mut failed), None);
        assert_eq!(b.shadow.version(), None);
    }

    #[test]
    fn default_range_is_the_starting_major() {
        let r = |c: Option<&str>, s: &str| follow_range(c.map(|c| semver::VersionReq::parse(c).expect("req")), s).map(|r| r.to_string());
        assert_eq!(r(None, "1.4.2"), Some("^1".into()));
        assert_eq!(r(None, "0.3.1"), Some("^0.3".into()));
        assert_eq!(r(Some("~1.4"), "1.4.2"), Some("~1.4".into()));
    }
}
