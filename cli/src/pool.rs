//! A bounded pool of scoped threads for the checker's independent jobs (the cues of a library,
//! the channels of a surround delivery): at most one thread per core, each taking the next item
//! until none is left, so memory stays that of a few jobs however many items there are.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on every item on up to one thread per core. After each item, `done` sees every
/// result so far, in the items' order (`None` where not finished yet), one call at a time: it
/// can print lines in order as soon as they are ready. Returns the results in the items' order.
/// A panic in `work` is raised again here, once the other threads have finished.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    done: impl FnMut(&[Option<R>]) + Send,
) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let state = Mutex::new((items.iter().map(|_| None).collect::<Vec<Option<R>>>(), done));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    // Relaxed: the counter only hands out indices; the results travel through
                    // the mutex.
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else {
                        break;
                    };
                    let result = work(item);
                    // A poisoned lock only means another `done` panicked; the scope raises
                    // that panic when it ends.
                    let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
                    let (results, done) = &mut *guard;
                    results[index] = Some(result);
                    done(results);
                }
            });
        }
    });
    // Every worker ran to the end (a panic would have been raised by the scope): every item
    // has its result.
    let (results, _) = state.into_inner().unwrap_or_else(|e| e.into_inner());
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_and_done_sees_them_grow() {
        let items: Vec<u64> = (0..50).collect();
        let mut calls = 0;
        let out = in_parallel(
            &items,
            |&x| {
                std::thread::sleep(std::time::Duration::from_micros(50 - x));
                x * x
            },
            |results| {
                calls += 1;
                assert_eq!(results.len(), 50);
                assert_eq!(results.iter().flatten().count(), calls);
            },
        );
        assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(calls, 50);
    }
}
