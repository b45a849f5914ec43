//! Seeded test signals.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `frames` samples of uniform noise in [-amplitude, amplitude), from `seed`.
pub fn noise(seed: u64, frames: usize, amplitude: f32) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..frames)
        .map(|_| rng.gen_range(-amplitude..amplitude))
        .collect()
}

/// Random block sizes in `[1, max]` that add up to exactly `total`.
pub fn block_sizes(seed: u64, total: usize, max: usize) -> Vec<usize> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sizes = Vec::new();
    let mut left = total;
    while left > 0 {
        // Mostly host-like sizes, sometimes tiny or huge ones.
        let size = match rng.gen_range(0..10) {
            0 => rng.gen_range(1..=16),
            1 => max,
            _ => rng.gen_range(1..=max),
        }
        .min(left);
        sizes.push(size);
        left -= size;
    }
    sizes
}
