//! A global allocator for test binaries that counts the allocations (and reallocations) and
//! the deallocations each thread makes: a test declares it as its `#[global_allocator]` and
//! reads [`allocations`] and [`deallocations`] around the code that must do neither (an audio
//! thread's push).
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: stemcheck_testkit::alloc_count::CountingAlloc =
//!     stemcheck_testkit::alloc_count::CountingAlloc;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Forwards to the system allocator, counting allocations and deallocations per thread.
pub struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static DEALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn count_dealloc() {
    // `try_with`: as in `count`.
    let _ = DEALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract;
// counting touches only a const-initialised thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_dealloc();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations the current thread has made so far (when [`CountingAlloc`] is the global
/// allocator; 0 otherwise).
pub fn allocations() -> u64 {
    ALLOCATIONS.with(|n| n.get())
}

/// Deallocations the current thread has made so far (when [`CountingAlloc`] is the global
/// allocator; 0 otherwise).
pub fn deallocations() -> u64 {
    DEALLOCATIONS.with(|n| n.get())
}
