//! Fencing a ring's consumers by term (`ring.rs`, "Fencing"): only one consumer may read a ring,
//! and a consumer whose claim was superseded (a core stopped and replaced while it read) must
//! never move the tail again nor return a record, not even the one it was copying when the
//! newer consumer claimed the ring. In one process, on two mappings of one ring: the newer
//! claim wins mid-pop, an older claim is refused, and consumer threads claiming with rising
//! terms while they race deliver every record exactly once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{TestNamespace, info};
use stemcheck_bus::PushOutcome;
use stemcheck_shm::ring::record_bytes;
use stemcheck_shm::{RingConsumer, RingProducer, ShmError};

const CAPACITY_BYTES: u64 = 1 << 14;
/// Frames per record in these tests (mono): 64 + 64 * 4 = 320 bytes each.
const FRAMES: usize = 64;
/// Records pushed in the racing test.
const RACE_RECORDS: u32 = 20_000;
/// Longest the racing test may take.
const RACE_LIMIT: Duration = Duration::from_secs(60);

/// A mono block whose samples all say `seq` (exact in f32 up to 2^24).
fn block(seq: u32) -> Vec<f32> {
    vec![seq as f32; FRAMES]
}

fn push(tx: &mut RingProducer, seq: u32) {
    assert_eq!(
        tx.push_block(&info(i64::from(seq) * FRAMES as i64), &[&block(seq)]),
        PushOutcome::Pushed
    );
}

/// The sequence number a popped record carries, checked against its samples.
fn popped_seq(rx: &mut RingConsumer, out: &mut [Vec<f32>]) -> Result<Option<u32>, ShmError> {
    Ok(rx.pop_block(out)?.map(|h| {
        assert!(
            out[0][..FRAMES].iter().all(|&s| s == h.seq as f32),
            "record {} carries its own samples",
            h.seq
        );
        h.seq as u32
    }))
}

#[test]
fn a_newer_claim_fences_off_a_consumer_mid_pop_which_then_never_moves_the_tail() {
    let t = TestNamespace::new("fence");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, CAPACITY_BYTES).unwrap();
    let record = record_bytes(FRAMES, 1) as u64;
    for seq in 0..3 {
        push(&mut tx, seq);
    }
    let mut out = vec![Vec::new()];
    let mut old = RingConsumer::open_claiming(&name, 1).unwrap();
    assert_eq!(popped_seq(&mut old, &mut out).unwrap(), Some(0));
    assert_eq!(tx.pending_bytes(), 2 * record);

    // The old consumer has copied record 1 when the new one claims the ring (as a core that
    // was stopped mid-pop while another took over): its pop must not count.
    let mut new = None;
    let outcome = old.pop_block_with(&mut out, || {
        new = Some(RingConsumer::open_claiming(&name, 2).unwrap());
    });
    assert!(
        matches!(
            outcome,
            Err(ShmError::Fenced {
                owner_term: 2,
                term: 1,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(old.is_fenced());
    assert_eq!(tx.pending_bytes(), 2 * record, "the tail did not move");
    let mut new = new.unwrap();
    assert_eq!(new.term(), 2);
    // The new consumer reads from where the old one really stopped: record 1 is not lost.
    assert_eq!(popped_seq(&mut new, &mut out).unwrap(), Some(1));
    assert!(old.pop_block(&mut out).unwrap_err().is_fenced());
    assert_eq!(tx.pending_bytes(), record);

    // An older term, or none, cannot take the ring back.
    for term in [0, 1] {
        let err = RingConsumer::open_claiming(&name, term).unwrap_err();
        assert!(
            matches!(err, ShmError::Fenced { owner_term: 2, .. }),
            "{term}: {err}"
        );
    }
    // The owner may open it again (a core that let go of a ring and finds it again).
    drop(new);
    let mut new = RingConsumer::open_claiming(&name, 2).unwrap();
    assert_eq!(popped_seq(&mut new, &mut out).unwrap(), Some(2));
    assert_eq!(popped_seq(&mut new, &mut out).unwrap(), None);

    // A newer consumer that reads past the record the fenced one copied, while the producer
    // goes on and overwrites it: the fenced pop still returns nothing and leaves the tail as
    // the owner has it.
    for seq in 3..6 {
        push(&mut tx, seq);
    }
    let mut newest = None;
    let mut newest_seqs = Vec::new();
    let outcome = new.pop_block_with(&mut out, || {
        let mut rx = RingConsumer::open_claiming(&name, 7).unwrap();
        let mut scratch = vec![Vec::new()];
        while let Some(seq) = popped_seq(&mut rx, &mut scratch).unwrap() {
            newest_seqs.push(seq);
        }
        // The whole ring again, over the record the fenced consumer holds.
        let fill = (CAPACITY_BYTES / record) as u32;
        for seq in 6..6 + fill {
            push(&mut tx, seq);
        }
        newest = Some(rx);
    });
    assert!(outcome.unwrap_err().is_fenced());
    assert_eq!(newest_seqs, vec![3, 4, 5]);
    let mut newest = newest.unwrap();
    let fill = (CAPACITY_BYTES / record) as u32;
    assert_eq!(tx.pending_bytes(), u64::from(fill) * record);
    for seq in 6..6 + fill {
        assert_eq!(popped_seq(&mut newest, &mut out).unwrap(), Some(seq));
    }
    assert!(
        !newest.is_broken(),
        "a fenced consumer never marks the ring broken"
    );
    assert!(!RingConsumer::open_claiming(&name, 7).unwrap().is_broken());
}

#[test]
fn consumers_claiming_with_rising_terms_while_they_race_deliver_every_record_once() {
    let t = TestNamespace::new("fencerace");
    let name = t.name("ring");
    let mut tx = RingProducer::create(&name, CAPACITY_BYTES).unwrap();
    let terms = Arc::new(AtomicU32::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + RACE_LIMIT;
    let consumers: Vec<_> = (0..2)
        .map(|thread| {
            let (name, terms, delivered, done) =
                (name.clone(), terms.clone(), delivered.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                let mut out = vec![Vec::new()];
                let mut claims = 0u32;
                while !done.load(Ordering::Relaxed) {
                    assert!(Instant::now() < deadline, "the race did not finish");
                    let term = terms.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut rx = match RingConsumer::open_claiming(&name, term) {
                        Ok(rx) => rx,
                        // The other thread took a higher term in between.
                        Err(e) if e.is_fenced() => continue,
                        Err(e) => panic!("thread {thread}: {e}"),
                    };
                    claims += 1;
                    // Read until fenced off, or for a while (then claim again).
                    for _ in 0..(term % 17) * 8 + 1 {
                        match popped_seq(&mut rx, &mut out) {
                            Ok(Some(seq)) => {
                                seqs.push(seq);
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(None) => std::thread::yield_now(),
                            Err(e) if e.is_fenced() => break,
                            Err(e) => panic!("thread {thread}: {e}"),
                        }
                    }
                }
                (seqs, claims)
            })
        })
        .collect();
    for seq in 0..RACE_RECORDS {
        while !tx.has_room_for(FRAMES, 1) {
            assert!(Instant::now() < deadline, "the consumers stopped reading");
            std::thread::yield_now();
        }
        push(&mut tx, seq);
    }
    while delivered.load(Ordering::Relaxed) < RACE_RECORDS as usize {
        assert!(Instant::now() < deadline, "records were lost");
        std::thread::sleep(Duration::from_millis(1));
    }
    done.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for (thread, handle) in consumers.into_iter().enumerate() {
        let (seqs, claims) = handle.join().unwrap();
        // Each consumer's own records are in order: a claim goes on from the owner's tail.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "thread {thread}");
        eprintln!(
            "thread {thread}: {} records over {claims} claims",
            seqs.len()
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (0..RACE_RECORDS).collect::<Vec<_>>(),
        "every record delivered exactly once"
    );
    assert_eq!(tx.pending_bytes(), 0);
}
