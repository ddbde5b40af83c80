//! Bounded waits for what a stopping record loop asks of librdkafka: the final commit and the
//! close of its clients. Either can wait on a group coordinator that never answers (seen after
//! the broker was killed and restarted: a consumer whose commits the group no longer took hung
//! the SIGTERM for good), and a process asked to stop must stop.
//!
//! The call runs on a thread of its own, not on Tokio's blocking pool: the runtime waits for
//! every blocking task when it is dropped, so a stuck call there would hang the exit all the
//! same. A call that does not finish in time is left running, said in the log, and ends with
//! the process; what it did not commit is consumed again after the restart (at least once), or
//! was never committed (exactly-once).

use std::time::Duration;
use tracing::warn;

/// Longest the final commit of a record loop may take.
pub const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(10);

/// Longest a record loop's clients may take to close: the consumer commits and leaves the
/// group, the producer purges and flushes what is left.
pub const CLOSE_WAIT: Duration = Duration::from_secs(15);

/// Runs `f` on a thread of its own and waits at most `wait` for it: its result, or `None`
/// (with a warning naming `what`) when it did not finish in time or could not be started.
pub async fn within<T: Send + 'static>(what: &str, wait: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("cg-shutdown".into()).spawn(move || {
        let _ = tx.send(f());
    });
    if let Err(e) = spawned {
        warn!(error = %e, what, "cannot start a thread for it; skipped");
        return None;
    }
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(v)) => Some(v),
        // The thread panicked: its message is in the log already.
        Ok(Err(_)) => None,
        Err(_) => {
            warn!(what, ?wait, "did not finish in time; the gate stops without waiting for it (Kafka's group coordinator may not be answering)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_never_returns_is_left_behind_in_time() {
        let (_keep, park) = std::sync::mpsc::channel::<()>();
        // Blocks until `_keep` is dropped: for the whole test.
        let stuck = within("a stuck call", Duration::from_millis(100), move || park.recv().is_ok());
        let got = tokio::time::timeout(Duration::from_secs(30), stuck).await.expect("the wait is bounded");
        assert_eq!(got, None);
        assert_eq!(within("a quick call", Duration::from_secs(5), || 7).await, Some(7));
    }
}
