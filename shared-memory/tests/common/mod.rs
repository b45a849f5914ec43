//! Helpers shared by the integration tests: unique namespaces that clean up after themselves,
//! seeded signals, raw access to a segment's bytes (to corrupt it), and block infos.

#![allow(dead_code)]

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_shm::Namespace;

/// Where Linux keeps POSIX shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

/// A namespace unique to this process and call, whose segments are all unlinked on drop.
pub struct TestNamespace {
    /// The namespace.
    pub ns: Namespace,
    /// Its tag.
    pub tag: String,
}

impl TestNamespace {
    /// A fresh namespace named after `what`, this process and a counter.
    pub fn new(what: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("t{}_{n}_{what}", std::process::id());
        Self::from_tag(&tag)
    }

    /// The namespace of `tag` (a helper process joins its parent's).
    pub fn from_tag(tag: &str) -> Self {
        Self {
            ns: Namespace::with_tag(tag).unwrap(),
            tag: tag.to_owned(),
        }
    }

    /// Names (with `/`) of the segments of this namespace that exist now.
    pub fn existing(&self) -> Vec<String> {
        let prefix = self.ns.registry_name();
        let prefix = prefix.trim_end_matches("-registry").trim_start_matches('/');
        let mut names: Vec<String> = std::fs::read_dir(SHM_DIR)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix) && n[prefix.len()..].starts_with('-'))
            .map(|n| format!("/{n}"))
            .collect();
        names.sort();
        names
    }

    /// A segment name of this namespace for a test's own use.
    pub fn name(&self, what: &str) -> String {
        format!(
            "{}-{what}",
            self.ns.registry_name().trim_end_matches("-registry")
        )
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        for name in self.existing() {
            let _ = std::fs::remove_file(format!("{SHM_DIR}{name}"));
        }
    }
}

/// Overwrites bytes of segment `name` at `offset` through the file system.
pub fn poke(name: &str, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Reads `len` bytes of segment `name` at `offset`.
pub fn peek(name: &str, offset: u64, len: usize) -> Vec<u8> {
    let file = OpenOptions::new()
        .read(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

/// Sets segment `name`'s size in bytes.
pub fn truncate(name: &str, len_bytes: u64) {
    let file = OpenOptions::new()
        .write(true)
        .open(format!("{SHM_DIR}{name}"))
        .unwrap();
    file.set_len(len_bytes).unwrap();
}

/// Block info at `pos_samples`, 48 kHz, playing.
pub fn info(pos_samples: i64) -> BlockInfo {
    BlockInfo {
        pos_samples,
        source: PositionSource::HostTransport,
        playing: true,
        sample_rate_hz: 48_000.0,
    }
}

/// `frames` samples of channel `channel` of seeded signal `seed`, starting at frame `start`:
/// arbitrary bit patterns (NaNs, subnormals and infinities included), a function of the
/// position only, so that any block split reproduces the same stream.
pub fn signal(seed: u64, channel: usize, start: u64, frames: usize) -> Vec<f32> {
    (0..frames as u64)
        .map(|i| {
            let x = (start + i)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03))
                .wrapping_add((channel as u64).wrapping_mul(0x94D0_49BB_1331_11EB));
            let x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            f32::from_bits((x ^ (x >> 29)) as u32)
        })
        .collect()
}

/// Bit patterns of samples, to compare NaNs exactly.
pub fn bits(samples: &[f32]) -> Vec<u32> {
    samples.iter().map(|x| x.to_bits()).collect()
}

/// A seeded block-size generator: 1 to `max` frames.
pub struct BlockSizes(SmallRng, usize);

impl BlockSizes {
    /// Sizes from seed `seed`, 1 to `max` frames.
    pub fn new(seed: u64, max: usize) -> Self {
        Self(SmallRng::seed_from_u64(seed), max)
    }

    /// The next size.
    pub fn next_size(&mut self) -> usize {
        self.0.gen_range(1..=self.1)
    }
}
