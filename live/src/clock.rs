//! The documented fallback for hosts that give no transport position: a free-running sample
//! count per instance, offset at activation so that it lines up with the instances of its group
//! that are already running.
//!
//! Each group has a high-water mark: the furthest fallback position any of its instances has
//! reached. An instance that activates starts counting from that mark, so instances activated
//! together, or added to a running session, share one timeline to within about one host block
//! (the part of a cycle some instances have processed and others not yet). The analysis core's
//! lag estimate absorbs that.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::NUM_GROUPS;

/// Furthest fallback position reached per group. `Relaxed` is enough: the value is a position
/// estimate, and no other memory is published through it.
static HIGH_WATER: [AtomicI64; NUM_GROUPS] = [const { AtomicI64::new(0) }; NUM_GROUPS];

/// One instance's fallback clock. Lives on the audio thread; `advance` is wait-free.
#[derive(Debug, Clone, Copy)]
pub struct FallbackClock {
    group: usize,
    next_pos_samples: i64,
}

impl FallbackClock {
    /// Starts at the group's high-water mark. Call at activation.
    pub fn start(group: usize) -> Self {
        let group = group.min(NUM_GROUPS - 1);
        Self {
            group,
            next_pos_samples: HIGH_WATER[group].load(Ordering::Relaxed),
        }
    }

    /// Returns the position of a block of `num_frames` and moves past it.
    pub fn advance(&mut self, num_frames: usize) -> i64 {
        let pos = self.next_pos_samples;
        self.next_pos_samples = pos.saturating_add(num_frames as i64);
        HIGH_WATER[self.group].fetch_max(self.next_pos_samples, Ordering::Relaxed);
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_instance_starts_where_its_group_is() {
        // Group 7 is used by this test only.
        let mut first = FallbackClock::start(7);
        let origin = first.advance(0);
        assert_eq!(first.advance(512), origin);
        assert_eq!(first.advance(512), origin + 512);
        let mut late = FallbackClock::start(7);
        assert_eq!(late.advance(256), origin + 1024);
        assert_eq!(first.advance(512), origin + 1024);
    }
}
