//! The accuracy benchmark of issue 11: renders every case of the development corpus, runs the
//! checker on it and prints the confusion table per family, then the failing cases with what was
//! reported. `cargo bench -p stemcheck-corpus --bench accuracy`.
//!
//! Environment: `STEMCHECK_CORPUS=<text>` keeps only the cases whose name contains it (a family,
//! a piece, a case); `STEMCHECK_CORPUS_FAST=1` runs the fast subset instead of the full sweep;
//! `STEMCHECK_CORPUS_THREADS=<n>` runs n cases at once (default: the machine's cores, at most 4).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use stemcheck_corpus::{Scored, failures, run_case, table};

fn main() {
    let filter = std::env::var("STEMCHECK_CORPUS").unwrap_or_default();
    let cases = if std::env::var_os("STEMCHECK_CORPUS_FAST").is_some() {
        stemcheck_corpus::fast()
    } else {
        stemcheck_corpus::full()
    };
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| c.name.contains(&filter))
        .collect();
    let threads = std::env::var("STEMCHECK_CORPUS_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
        .max(1);
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Scored)>> = Mutex::new(Vec::with_capacity(cases.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    // Relaxed: the counters only hand out indices; the results go through the mutex.
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let s = run_case(case);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    eprintln!(
                        "[{n:>3}/{}] {:>7.1} s  {:<16} {}",
                        cases.len(),
                        started.elapsed().as_secs_f64(),
                        s.outcome.name(),
                        s.case
                    );
                    results.lock().expect("results lock").push((i, s));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results lock");
    results.sort_by_key(|r| r.0);
    let scored: Vec<Scored> = results.into_iter().map(|r| r.1).collect();
    println!(
        "\n{} cases in {:.0} s ({threads} threads)\n",
        scored.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", table(&scored));
    println!("Failing cases:\n{}", failures(&scored));
}
