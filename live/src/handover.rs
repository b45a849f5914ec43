//! Handing the audio thread a new value while it runs, without allocation, deallocation, lock
//! or wait on its side: a [`Handover`] is one slot through which another thread offers a value
//! it boxed beforehand; the audio thread swaps it with the value it holds, in place, and hands
//! the box back holding the old value, for the other thread to drop. Used to move a playing
//! instance from an in-process lane to a shared-memory ring when its process stops leading
//! (`federation/relocation.rs`).
//!
//! The tests were run under ThreadSanitizer (nightly:
//! `RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" cargo +nightly test
//! -p stemcheck-live --target x86_64-unknown-linux-gnu --lib handover`): no report involves
//! this module (the one report is in libtest's own channel, std being uninstrumented).

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// One value in flight at a time between an owner (one non-audio thread at a time: offers,
/// withdraws and takes back) and the audio thread (takes). See the module documentation.
pub struct Handover<T> {
    /// A `Box<T>` offered to the audio thread, as a raw pointer (null: none). Set by the owner
    /// ([`Self::offer`]), cleared by the audio thread ([`Self::take`]) or the owner
    /// ([`Self::withdraw`]).
    offered: AtomicPtr<T>,
    /// The box the audio thread took, now holding the value it replaced (null: none). Set by
    /// the audio thread, cleared by the owner ([`Self::take_returned`]).
    returned: AtomicPtr<T>,
    /// The owner's own record that a box is out (offered, or held by the audio thread between
    /// its two stores, or returned): it offers again only once it has the box back, so the
    /// audio thread always finds `returned` empty. Written and read by the owner only.
    in_flight: AtomicBool,
}

// SAFETY: the slots own boxed `T`s that move between the threads sharing the handover; each
// box is reachable through exactly one slot at a time and is touched only by the thread that
// took it out with an atomic swap. Sending `T` between threads is all this needs.
unsafe impl<T: Send> Send for Handover<T> {}
// SAFETY: as above: every access to a box goes through an atomic swap that gives it to one
// thread, so sharing `&Handover` only ever moves `T`s between threads.
unsafe impl<T: Send> Sync for Handover<T> {}

impl<T> Default for Handover<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Handover<T> {
    /// An empty handover.
    pub const fn new() -> Self {
        Self {
            offered: AtomicPtr::new(ptr::null_mut()),
            returned: AtomicPtr::new(ptr::null_mut()),
            in_flight: AtomicBool::new(false),
        }
    }

    /// Whether the owner's last offer has not come back yet (through [`Self::take_returned`]
    /// or [`Self::withdraw`]). Owner only.
    pub fn is_busy(&self) -> bool {
        // Relaxed: only the owner writes and reads it, one thread at a time.
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Offers `value` to the audio thread (owner only; boxes it: not for the audio thread).
    /// Gives it back if the last offer has not come back yet ([`Self::is_busy`]).
    pub fn offer(&self, value: T) -> Result<(), T> {
        if self.is_busy() {
            return Err(value);
        }
        let boxed = Box::into_raw(Box::new(value));
        // Relaxed: the owner's own record.
        self.in_flight.store(true, Ordering::Relaxed);
        // Release: the value written into the box above is visible to the audio thread that
        // takes the pointer (Acquire in `take`). `offered` is null: the last box came back.
        self.offered.store(boxed, Ordering::Release);
        Ok(())
    }

    /// Audio thread: if a value is offered, swaps it with `current` and hands the old one back
    /// to the owner; returns whether it did. No allocation, deallocation, lock, syscall or
    /// wait: one atomic load when nothing is offered.
    pub fn take(&self, current: &mut T) -> bool {
        // Relaxed: a quick look; the swap below decides and synchronises.
        if self.offered.load(Ordering::Relaxed).is_null() {
            return false;
        }
        // Acquire: pairs with the Release of `offer`, so the boxed value is fully written.
        let boxed = self.offered.swap(ptr::null_mut(), Ordering::Acquire);
        if boxed.is_null() {
            // Withdrawn in between.
            return false;
        }
        // SAFETY: `boxed` came from `Box::into_raw` in `offer`, and the swap gave it to this
        // thread alone: nobody else reaches it until it is published in `returned` below.
        std::mem::swap(current, unsafe { &mut *boxed });
        // Release: the old value written into the box is visible to the owner that takes it
        // (Acquire in `take_returned`). `returned` is null: the owner offers again only once it
        // took the previous box back, and only this thread fills `returned`.
        self.returned.store(boxed, Ordering::Release);
        true
    }

    /// Owner: the value the audio thread replaced, once it took an offer (its box is freed
    /// here, on the owner's thread).
    pub fn take_returned(&self) -> Option<T> {
        // Acquire: pairs with the Release store in `take`.
        let boxed = self.returned.swap(ptr::null_mut(), Ordering::Acquire);
        if boxed.is_null() {
            return None;
        }
        // Relaxed: the owner's own record.
        self.in_flight.store(false, Ordering::Relaxed);
        // SAFETY: a non-null `returned` is a box from `offer` that the audio thread has
        // finished with; the swap gave it to us alone.
        Some(*unsafe { Box::from_raw(boxed) })
    }

    /// Owner: takes back an offer the audio thread has not taken.
    pub fn withdraw(&self) -> Option<T> {
        // Acquire: pairs with our own Release in `offer` (the owner may be another thread
        // than the one that offered, one at a time).
        let boxed = self.offered.swap(ptr::null_mut(), Ordering::Acquire);
        if boxed.is_null() {
            return None;
        }
        // Relaxed: the owner's own record.
        self.in_flight.store(false, Ordering::Relaxed);
        // SAFETY: a non-null `offered` is a box from `offer` not taken by the audio thread;
        // the swap gave it to us alone.
        Some(*unsafe { Box::from_raw(boxed) })
    }
}

impl<T> Drop for Handover<T> {
    fn drop(&mut self) {
        drop(self.withdraw());
        drop(self.take_returned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Counts its drops.
    struct Tracked(u32, Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn an_offer_is_swapped_in_and_the_old_value_comes_back() {
        let drops = Arc::new(AtomicUsize::new(0));
        let handover = Handover::new();
        let mut current = Tracked(1, drops.clone());
        assert!(!handover.take(&mut current), "nothing offered");
        assert!(handover.offer(Tracked(2, drops.clone())).is_ok());
        assert!(handover.is_busy());
        // Busy: a second offer is given back (and dropped here).
        assert_eq!(handover.offer(Tracked(3, drops.clone())).unwrap_err().0, 3);
        assert!(handover.take(&mut current));
        assert_eq!(current.0, 2);
        assert!(handover.is_busy(), "the old value waits for the owner");
        let old = handover.take_returned().unwrap();
        assert_eq!(old.0, 1);
        assert!(!handover.is_busy());
        assert!(handover.take_returned().is_none());
        drop(old);
        // 3 (refused) and 1 (taken back) dropped; 2 is held.
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn an_offer_not_taken_can_be_withdrawn_and_is_dropped_with_the_handover() {
        let drops = Arc::new(AtomicUsize::new(0));
        let handover = Handover::new();
        handover.offer(Tracked(1, drops.clone())).ok().unwrap();
        assert_eq!(handover.withdraw().unwrap().0, 1);
        let mut current = Tracked(0, drops.clone());
        assert!(!handover.take(&mut current));
        handover.offer(Tracked(2, drops.clone())).ok().unwrap();
        drop(handover);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        // And a value handed back but never taken by the owner.
        let handover = Handover::new();
        handover.offer(Tracked(3, drops.clone())).ok().unwrap();
        assert!(handover.take(&mut current));
        drop(handover);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
        assert_eq!(current.0, 3);
    }

    #[test]
    fn a_thread_taking_while_another_offers_and_withdraws_sees_every_value_once() {
        // The audio thread takes in a loop; the owner offers values 1..=N, withdrawing some.
        // Every value ends up exactly once: held, given back, or withdrawn.
        const N: u32 = 20_000;
        let handover = Arc::new(Handover::<u32>::new());
        let audio = {
            let handover = handover.clone();
            std::thread::spawn(move || {
                let mut current = 0u32;
                let mut seen = Vec::new();
                while current != N {
                    if handover.take(&mut current) {
                        seen.push(current);
                    }
                    std::hint::spin_loop();
                }
                seen
            })
        };
        let mut back = Vec::new();
        let mut withdrawn = Vec::new();
        let mut value = 1;
        while value <= N {
            if let Some(old) = handover.take_returned() {
                back.push(old);
            }
            if handover.offer(value).is_ok() {
                if value % 7 == 0
                    && value != N
                    && let Some(v) = handover.withdraw()
                {
                    withdrawn.push(v);
                }
                value += 1;
            }
        }
        let taken = audio.join().unwrap();
        back.extend(handover.take_returned());
        // Handed back: the start value and every taken one but the last (still held).
        let mut expected_back = vec![0];
        expected_back.extend(&taken[..taken.len() - 1]);
        assert_eq!(back, expected_back);
        let mut all: Vec<u32> = taken.iter().chain(&withdrawn).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (1..=N).collect::<Vec<_>>());
    }
}
