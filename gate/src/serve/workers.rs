//! `workers` record loops in one process. Each owns a consumer in the group and a producer,
//! so each partition is read by exactly one loop at a time: order per partition, offsets and
//! transactions stay the loop's own, as with one loop. The bindings (breaker, window shards,
//! last-good index, operator requests) are shared.

use super::delivery::{AtLeastOnce, Transactional};
use super::pipeline::Pipeline;
use super::{record_loop, ServeError};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::error;

/// Runs every loop until `shutdown` turns true or one loop fails; then the others stop the
/// way they do at shutdown (drain, commit what they delivered). Returns the first failure:
/// the process must stop, and the failed loop committed nothing past its failure.
///
/// # Errors
/// The first loop's [`ServeError`], or its panic.
pub(crate) async fn supervise(pipelines: Vec<Pipeline>, exactly_once: bool, mut shutdown: watch::Receiver<bool>) -> Result<(), ServeError> {
    let (stop, stopped) = watch::channel(false);
    let mut loops = JoinSet::new();
    for p in pipelines {
        if exactly_once {
            loops.spawn(record_loop::run(p, Transactional::default(), stopped.clone()));
        } else {
            loops.spawn(record_loop::run(p, AtLeastOnce::default(), stopped.clone()));
        }
    }
    let mut first: Option<ServeError> = None;
    let mut listening = true;
    loop {
        tokio::select! {
            changed = shutdown.changed(), if listening => {
                // A dropped sender means nobody can ask any more: stop as asked.
                if changed.is_err() || *shutdown.borrow() {
                    listening = false;
                    let _ = stop.send(true);
                }
            }
            joined = loops.join_next() => {
                let failure = match joined {
                    None => break,
                    Some(Ok(Ok(()))) => continue,
                    Some(Ok(Err(e))) => e,
                    Some(Err(source)) => ServeError::Task { what: "record loop", source },
                };
                error!(error = %failure, "a record loop stopped; stopping the others");
                let _ = stop.send(true);
                first.get_or_insert(failure);
            }
        }
    }
    first.map_or(Ok(()), Err)
}
