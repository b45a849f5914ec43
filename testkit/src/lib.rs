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

/// `signal` as a 16-bit export stores it: TPDF dither of one LSB either way (seeded by `seed`,
/// each channel its own), rounded, clipped at full scale.
pub fn quantize_16bit_dithered(signal: &Stereo, seed: u64) -> Stereo {
    use rand::{Rng, SeedableRng};
    let scale = 32_768.0f64;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut channel = |x: &[f32]| -> Vec<f32> {
        x.iter()
            .map(|&v| {
                let dither: f64 = rng.gen_range(-0.5..0.5) + rng.gen_range(-0.5..0.5);
                let q = (f64::from(v) * scale + dither)
                    .round()
                    .clamp(-scale, scale - 1.0);
                (q / scale) as f32
            })
            .collect()
    };
    [channel(&signal[0]), channel(&signal[1])]
}
