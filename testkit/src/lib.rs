//! Test material rendered in code, seeded so every run hears the same song: drum-like
//! transients, a bass line, chords, a lead, and the processing a master bus can add (gain,
//! EQ, compression, reverb, delay). Nothing here is used by the product; it is the ground truth
//! the tests and benchmarks measure against.

// DSP over parallel arrays reads clearest with index loops.
#![allow(clippy::needless_range_loop)]

pub mod alloc_count;
pub mod process;
pub mod song;
pub mod wav;

pub use song::{Song, Stem, render_song};

/// A stereo signal: `[left, right]`.
pub type Stereo = [Vec<f32>; 2];

/// Sums stereo signals sample by sample (all the length of the first).
pub fn sum(signals: &[&Stereo]) -> Stereo {
    let len = signals.first().map_or(0, |s| s[0].len());
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    for signal in signals {
        for c in 0..2 {
            for (o, x) in out[c].iter_mut().zip(&signal[c]) {
                *o += x;
            }
        }
    }
    out
}

/// Multiplies a stereo signal by a gain in dB.
pub fn gain_db(signal: &Stereo, db: f32) -> Stereo {
    let g = 10f32.powf(db / 20.0);
    [
        signal[0].iter().map(|x| x * g).collect(),
        signal[1].iter().map(|x| x * g).collect(),
    ]
}

/// Rounds to 24-bit fixed point, as a 24-bit WAV export would.
pub fn quantize_24bit(signal: &Stereo) -> Stereo {
    let scale = 8_388_608.0f64;
    let q = |x: &f32| ((f64::from(*x) * scale).round() / scale) as f32;
    [
        signal[0].iter().map(q).collect(),
        signal[1].iter().map(q).collect(),
    ]
}
