//! Subnormal samples flushed to zero, in place, as the audio thread copies a block into its lane.
//!
//! The plugin's output is its input bit for bit, except that subnormal samples (magnitudes below
//! `f32::MIN_POSITIVE`, about -758 dBFS) become a zero of the same sign: what every processor
//! running with flush-to-zero does, and what CLAP's validator requires of a plugin's output.
//! NaN and infinity pass unchanged. This works on the bits, so it does not depend on the FPU's
//! flush-to-zero mode: a plain copy keeps subnormals whatever that mode is.
//!
//! The flush is fused into the copy into the lane ([`copy_flushed`]): the block is read once and
//! its flushed samples written to the ring; only a block that held a subnormal is then flushed in
//! the host's buffer too (a second pass, for that rare block only).

use std::mem::MaybeUninit;

/// The exponent bits of an `f32`: all zero for zeros and subnormals, all one for NaN/infinity.
const EXPONENT_BITS: u32 = 0x7f80_0000;
/// The sign bit of an `f32`.
const SIGN_BIT: u32 = 0x8000_0000;

/// `sample`, or a zero of its sign if it is subnormal. Branch-free, so loops over it vectorise.
#[inline(always)]
pub fn flush_subnormal(sample: f32) -> f32 {
    let bits = sample.to_bits();
    // A zero exponent is a zero or a subnormal: keeping only the sign leaves a zero as it was
    // and turns a subnormal into the zero of its sign.
    let keep = if bits & EXPONENT_BITS == 0 {
        SIGN_BIT
    } else {
        u32::MAX
    };
    f32::from_bits(bits & keep)
}

/// Flushes the subnormals of `samples` in place.
#[inline]
pub fn flush_subnormals(samples: &mut [f32]) {
    for sample in samples.iter_mut() {
        *sample = flush_subnormal(*sample);
    }
}

/// Writes `samples` to `copy` with subnormals flushed, in one pass, and says whether any sample
/// was subnormal: `samples` itself is left as it was, the caller flushes it (with
/// [`flush_subnormals`]) only then, which is rare. Both slices must be equally long (only the
/// common length is written).
///
/// Reading the block once and storing once, this costs about what a copy costs; the change is
/// detected by OR-ing the flushed bits against the original ones, which stays vectorised. On
/// x86-64 machines with AVX2 (checked once, then a cached flag) the loop runs eight samples wide
/// instead of SSE2's four: the plain copy it is measured against uses AVX2 too.
#[inline]
#[allow(unsafe_code)]
pub fn copy_flushed(samples: &[f32], copy: &mut [MaybeUninit<f32>]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `copy_flushed_avx2` only needs AVX2, which the CPU was just found to have.
        return unsafe { copy_flushed_avx2(samples, copy) };
    }
    copy_flushed_portable(samples, copy)
}

/// [`copy_flushed_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn copy_flushed_avx2(samples: &[f32], copy: &mut [MaybeUninit<f32>]) -> bool {
    copy_flushed_portable(samples, copy)
}

/// The loop of [`copy_flushed`], for whatever instruction set it is inlined into.
#[inline(always)]
fn copy_flushed_portable(samples: &[f32], copy: &mut [MaybeUninit<f32>]) -> bool {
    let mut changed_bits = 0u32;
    for (sample, out) in samples.iter().zip(copy.iter_mut()) {
        let flushed = flush_subnormal(*sample);
        changed_bits |= flushed.to_bits() ^ sample.to_bits();
        out.write(flushed);
    }
    changed_bits != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormals_become_zeros_of_their_sign_and_nothing_else_changes() {
        let smallest = f32::from_bits(1);
        let largest_subnormal = f32::from_bits(0x007f_ffff);
        let cases = [
            (smallest, 0.0f32),
            (-smallest, -0.0),
            (largest_subnormal, 0.0),
            (-largest_subnormal, -0.0),
            (f32::MIN_POSITIVE / 3.0, 0.0),
        ];
        for (input, expected) in cases {
            assert_eq!(
                flush_subnormal(input).to_bits(),
                expected.to_bits(),
                "{input:e}"
            );
        }
        let unchanged = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1.0,
            -1.0,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7fc1_2345), // a NaN with a payload
        ];
        for input in unchanged {
            assert_eq!(
                flush_subnormal(input).to_bits(),
                input.to_bits(),
                "{input:e}"
            );
        }
    }

    #[test]
    #[allow(unsafe_code)]
    fn the_fused_copy_writes_flushed_samples_and_says_whether_any_changed() {
        // Long enough for the vector loops and their scalar tails, in both builds of the loop.
        let pattern = [
            0.5f32,
            f32::from_bits(3),
            -f32::from_bits(0x10),
            f32::NAN,
            -0.0,
        ];
        let expected = [0.5f32, 0.0, -0.0, f32::NAN, -0.0];
        let samples: Vec<f32> = pattern.iter().copied().cycle().take(37).collect();
        for copy_fn in [copy_flushed, copy_flushed_portable] {
            let mut copy = vec![MaybeUninit::new(9.0f32); samples.len()];
            assert!(copy_fn(&samples, &mut copy));
            for (c, e) in copy.iter().zip(expected.iter().cycle()) {
                // SAFETY: every element was initialised above (and written by `copy_fn`).
                assert_eq!(unsafe { c.assume_init() }.to_bits(), e.to_bits());
            }
            // Only the last sample subnormal: found in the tail too.
            let mut tail = vec![1.0f32; 37];
            tail[36] = f32::from_bits(1);
            assert!(copy_fn(&tail, &mut [MaybeUninit::uninit(); 37]));
        }
        assert_eq!(samples[1].to_bits(), 3, "the source is left as it was");
        // Zeros, NaN and infinity are not changes.
        let clean = [
            0.0f32,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::MIN_POSITIVE,
            -1.0,
        ];
        assert!(!copy_flushed(&clean, &mut [MaybeUninit::uninit(); 6]));

        let mut in_place = [f32::from_bits(1), 1e-30, -f32::from_bits(7)];
        flush_subnormals(&mut in_place);
        assert_eq!(
            in_place.map(f32::to_bits),
            [0.0f32, 1e-30, -0.0].map(f32::to_bits)
        );
    }
}
