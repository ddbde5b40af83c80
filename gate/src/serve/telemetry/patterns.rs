//! The events of pattern bindings ([`crate::serve::patterns`]): the one place each is logged
//! and counted.

use super::catalog::{PATTERN_REFRESHES, PATTERN_TOPICS};
use super::Emit;
use metrics::counter;
use tracing::{debug, info, warn};

/// One listing of the cluster's topics.
#[derive(Debug)]
pub struct TopicsListed<'a> {
    /// Why the listing failed, if it did.
    pub failure: Option<&'a str>,
}

impl Emit for TopicsListed<'_> {
    fn emit(self) {
        let outcome = if self.failure.is_some() { "failed" } else { "listed" };
        counter!(PATTERN_REFRESHES.name, "outcome" => outcome).increment(1);
        match self.failure {
            Some(error) => warn!(error, "pattern bindings: cannot list the cluster's topics; trying again at the next refresh"),
            None => debug!("pattern bindings: topics listed"),
        }
    }
}

/// A topic a pattern matched: bound, or refused with the reason.
#[derive(Debug)]
pub struct TopicMatched<'a> {
    /// The pattern binding of the config.
    pub pattern_binding: &'a str,
    /// The binding made for the topic (`<name>:<topic>`).
    pub binding: &'a str,
    /// The topic.
    pub topic: &'a str,
    /// Why it could not be bound, if it could not.
    pub refused: Option<&'a str>,
}

impl Emit for TopicMatched<'_> {
    fn emit(self) {
        let Self { pattern_binding, binding, topic, refused } = self;
        let outcome = if refused.is_some() { "refused" } else { "bound" };
        counter!(PATTERN_TOPICS.name, "binding" => pattern_binding.to_string(), "outcome" => outcome).increment(1);
        match refused {
            Some(error) => warn!(binding, topic, error, "pattern binding: the topic cannot be bound; trying again at each refresh"),
            None => info!(binding, topic, "pattern binding: topic bound"),
        }
    }
}
