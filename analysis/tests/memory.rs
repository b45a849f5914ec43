//! The analyzer's memory is fixed by the sample rate and the number of stems, never by the
//! length of the pass: the heap it holds after one minute of audio is what it holds after
//! ten. Counted by a global allocator in this test binary (its own process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use stemcheck_analysis::StemInput;
use stemcheck_analysis::{Analyzer, AnalyzerConfig, Block, SignalAudio};
use stemcheck_testkit::render_song;

/// Bytes allocated and not yet freed, by anyone in this process.
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

struct Counting;

// SAFETY: every call is passed straight to the system allocator with the caller's own
// arguments; the counter only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the system allocator's contract for `realloc` applies.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const RATE: f32 = 48_000.0;
/// What the heap may differ by between the two readings: findings and their texts are
/// rebuilt as the pass goes on. Keeping every 400 ms loudness block, say, would add about
/// 90 kB over the nine minutes between them.
const SAME_HEAP_BYTES: i64 = 16 << 10;

#[test]
fn ten_minutes_hold_no_more_memory_than_one() {
    // Ten seconds of a generated song, looped: five stems and their sum.
    let song = render_song(7, RATE, 10.0);
    let master = song.master();
    let len = master[0].len();
    let block = 1024;
    let mut analyzer = Analyzer::new(RATE, AnalyzerConfig::default());
    let play = |analyzer: &mut Analyzer, seconds: usize| {
        let mut pos = 0;
        while pos < seconds * RATE as usize {
            let at = pos % len;
            let end = (at + block).min(len);
            pos += end - at;
            let stems: Vec<StemInput<'_>> = song
                .stems
                .iter()
                .enumerate()
                .map(|(i, s)| StemInput {
                    id: i as u32,
                    audio: Some(SignalAudio::stereo(
                        &s.audio[0][at..end],
                        &s.audio[1][at..end],
                    )),
                })
                .collect();
            analyzer.process(&Block {
                num_frames: end - at,
                master: Some(SignalAudio::stereo(
                    &master[0][at..end],
                    &master[1][at..end],
                )),
                stems: &stems,
            });
        }
    };
    play(&mut analyzer, 60);
    let after_one_minute = LIVE_BYTES.load(Ordering::Relaxed);
    play(&mut analyzer, 540);
    let after_ten_minutes = LIVE_BYTES.load(Ordering::Relaxed);
    assert!(analyzer.last_measurements().seconds_received >= 599.0);
    assert!(
        (after_ten_minutes - after_one_minute).abs() <= SAME_HEAP_BYTES,
        "heap after one minute {after_one_minute} B, after ten {after_ten_minutes} B"
    );
}
