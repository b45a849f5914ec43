//! The accuracy benchmark of issue 11: renders every case of the development corpus, runs the
//! checker on it and prints the confusion table per family, then the failing cases with what was
//! reported. `cargo bench -p stemcheck-corpus --bench accuracy`; `STEMCHECK_CORPUS=<text>`
//! keeps only the cases whose name contains it (a family, a piece, a case);
//! `STEMCHECK_CORPUS_FAST=1` runs the fast subset instead of the full sweep.

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
    let started = Instant::now();
    let mut scored: Vec<Scored> = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let s = run_case(case);
        eprintln!(
            "[{:>3}/{}] {:>7.1} s  {:<16} {}",
            i + 1,
            cases.len(),
            started.elapsed().as_secs_f64(),
            s.outcome.name(),
            s.case
        );
        scored.push(s);
    }
    println!(
        "\n{} cases in {:.0} s\n",
        scored.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", table(&scored));
    println!("Failing cases:\n{}", failures(&scored));
}
