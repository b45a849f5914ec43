//! The fast subset of the development corpus as a ratchet: every case not in [`KNOWN_WRONG`]
//! must come out right (no clean case may raise a warning), and the known-wrong cases' current
//! outcome is printed. Empty the list as the analysis improves (issue 11). Also: two renders of
//! one case are byte-identical.

use stemcheck_corpus::{Outcome, failures, fast, run_case, table};

/// Cases that fail today, each with the item of issue 11 it waits on.
const KNOWN_WRONG: &[(&str, &str)] = &[];

#[test]
fn fast_subset_is_right_except_the_known_wrong() {
    let cases = fast();
    for (name, _) in KNOWN_WRONG {
        assert!(
            cases.iter().any(|c| c.name == *name),
            "KNOWN_WRONG names no case {name}"
        );
    }
    let scored: Vec<_> = cases.iter().map(run_case).collect();
    println!("{}", table(&scored));
    println!("{}", failures(&scored));
    let mut regressions = Vec::new();
    for s in &scored {
        let known = KNOWN_WRONG.iter().find(|(n, _)| *n == s.case);
        match known {
            Some((_, why)) => println!("known wrong ({why}): {} -> {}", s.case, s.outcome.name()),
            None if s.outcome != Outcome::Right => {
                regressions.push(format!("{} -> {}: {:?}", s.case, s.outcome.name(), s.notes))
            }
            None => {}
        }
    }
    assert!(
        regressions.is_empty(),
        "cases not right (and not in KNOWN_WRONG):\n{}",
        regressions.join("\n")
    );
}

#[test]
fn renders_are_byte_identical() {
    use stemcheck_corpus::mixing::render_session;
    use stemcheck_corpus::pieces::PieceId;
    // Two fresh renders of a session (no cache): the same samples, bit for bit.
    let piece = PieceId::Neon;
    let bars = 2;
    let a = render_session(piece, bars, 48_000);
    let b = render_session(piece, bars, 48_000);
    assert_eq!(a.tracks.len(), b.tracks.len());
    for (x, y) in a.tracks.iter().zip(&b.tracks) {
        let same = x.2.iter().zip(&y.2).all(|(p, q)| {
            p.iter()
                .map(|v| v.to_bits())
                .eq(q.iter().map(|v| v.to_bits()))
        });
        assert!(same, "track {} differs between two renders", x.0);
    }
    // A 16-bit dithered delivery, written twice: the same bytes.
    let case = fast()
        .into_iter()
        .find(|c| c.name.contains("16bit"))
        .expect("a 16-bit case");
    let d1 = stemcheck_corpus::deliver(&case).digest().unwrap();
    let d2 = stemcheck_corpus::deliver(&case).digest().unwrap();
    assert_eq!(d1, d2, "{}: two writes differ", case.name);
}

#[test]
fn case_names_are_unique_and_every_family_is_swept() {
    let all: Vec<_> = stemcheck_corpus::full().into_iter().chain(fast()).collect();
    let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "two cases share a name");
    for family in stemcheck_corpus::Family::ALL {
        let n = stemcheck_corpus::full()
            .iter()
            .filter(|c| c.family == family)
            .count();
        assert!(
            n >= 3,
            "{}: only {n} cases in the full sweep",
            family.name()
        );
    }
}
