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

/// How `partitions` source partitions fall over `loops` record loops when this process is the
/// group's only member (the assignor spreads partition counts evenly over members).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Balance {
    /// Every loop holds the same number, or the busiest holds less than a tenth over an even
    /// share (many partitions): nothing to say.
    Even,
    /// Fewer partitions than loops: `idle` loops hold none (memory, not throughput).
    Idle { idle: usize },
    /// The busiest loop holds `busiest` of `partitions` where an even share is `partitions /
    /// loops`. It works alone once the others are done, so the process runs at that share;
    /// `balanced` loops (the fewest at least `loops`) put no more than an even share on any.
    Uneven { busiest: usize, balanced: usize },
}

/// [`Balance`] of `partitions` over `loops` (both at least 1).
pub(crate) fn balance(partitions: usize, loops: usize) -> Balance {
    let loops = loops.max(1);
    if partitions < loops {
        return Balance::Idle { idle: loops - partitions };
    }
    let busiest = partitions.div_ceil(loops);
    // Busiest share against an even one, in integers: busiest / (partitions / loops) > 1.1.
    if busiest * loops * 10 <= partitions * 11 {
        return Balance::Even;
    }
    // Loops beyond the cores share them; what counts is that no loop carries more than an
    // even share of the cores it has. `partitions` loops always qualify.
    let balanced = (loops..=partitions).find(|w| partitions.div_ceil(*w) * loops <= partitions).unwrap_or(partitions);
    Balance::Uneven { busiest, balanced }
}

#[cfg(test)]
mod tests {
    use super::{balance, Balance};

    #[test]
    fn balance_names_the_busiest_loop_and_the_loops_that_even_it() {
        let cases = [
            // (partitions, loops, expected)
            (3, 2, Balance::Uneven { busiest: 2, balanced: 3 }),
            (4, 2, Balance::Even),
            (1, 2, Balance::Idle { idle: 1 }),
            (2, 2, Balance::Even),
            (5, 2, Balance::Uneven { busiest: 3, balanced: 3 }),
            (10, 4, Balance::Uneven { busiest: 3, balanced: 5 }),
            (7, 4, Balance::Uneven { busiest: 2, balanced: 7 }),
            (12, 8, Balance::Uneven { busiest: 2, balanced: 12 }),
            (101, 2, Balance::Even),
            (21, 2, Balance::Even),
            (9, 2, Balance::Uneven { busiest: 5, balanced: 3 }),
            (6, 1, Balance::Even),
            (3, 0, Balance::Even),
        ];
        for (partitions, loops, want) in cases {
            assert_eq!(balance(partitions, loops), want, "{partitions} partitions over {loops} loops");
        }
    }
}
