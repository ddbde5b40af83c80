//! Who may write through the HTTP APIs. The rule (which credential, compared how) belongs to
//! the process that serves the routers, not to the registry: the routers only ask.

use axum::http::HeaderMap;
use std::sync::Arc;

type Check = Arc<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// Decides whether a request may write (register, deprecate, activate, set or delete a
/// level). Reads never ask.
#[derive(Clone)]
pub struct Authorizer {
    /// `None`: no credential is configured, so every write is refused (and the answer says
    /// so, rather than asking for a token that cannot exist).
    check: Option<Check>,
}

impl Authorizer {
    /// Writes are allowed when `check` accepts the request's headers.
    pub fn new(check: impl Fn(&HeaderMap) -> bool + Send + Sync + 'static) -> Self {
        Self { check: Some(Arc::new(check)) }
    }

    /// No credential configured: every write is refused.
    #[must_use]
    pub fn deny_all() -> Self {
        Self { check: None }
    }

    /// Whether a request with these headers may write.
    #[must_use]
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        self.check.as_ref().is_some_and(|c| c(headers))
    }

    /// Whether any write can be allowed at all (false for [`Authorizer::deny_all`]).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.check.is_some()
    }
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").field("enabled", &self.is_enabled()).finish_non_exhaustive()
    }
}

/// For the routers' tests: writes need `Authorization: Bearer <token>` (the gate's own rule,
/// with Basic and constant-time comparison, is tested in the gate).
#[cfg(test)]
pub(crate) fn bearer(token: &'static str) -> Authorizer {
    Authorizer::new(move |h| h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) == Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_refuses_every_request_and_a_check_decides_otherwise() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer x".parse().expect("header"));
        let none = Authorizer::deny_all();
        assert!(!none.is_enabled() && !none.allows(&h) && !none.allows(&HeaderMap::new()));
        let some = Authorizer::new(|h| h.contains_key("authorization"));
        assert!(some.is_enabled() && some.allows(&h) && !some.allows(&HeaderMap::new()));
        assert_eq!(format!("{none:?}"), "Authorizer { enabled: false, .. }");
    }
}
