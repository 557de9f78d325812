//! Heap accounting: a wrapper around the system allocator that counts allocations
//! and the bytes in use, for `switch show` ("memory: …") and for the tests that
//! hold the datapath to its promise of no allocation per packet.
//!
//! The binary installs it (`#[global_allocator]` in `neutrino`'s main); without
//! that, [`stats`] says nothing. The cost is a relaxed atomic add or two per
//! allocation and one per free: nothing per packet on a datapath that does not
//! allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The system allocator, counted.
pub struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated minus bytes freed. One counter: every free comes after its
/// allocation in its modification order, so it never goes below zero.
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note_alloc(size: usize) {
    ALLOCATIONS.fetch_add(1, Relaxed);
    LIVE_BYTES.fetch_add(size as u64, Relaxed);
}

#[inline]
fn note_free(size: usize) {
    LIVE_BYTES.fetch_sub(size as u64, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's pointer and layout
// unchanged (so System's guarantees are ours) and only adds counting on the side:
// relaxed atomic adds, which never allocate, panic or unwind. A failed allocation
// (null) is not counted.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from System) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // A resize is an allocation as far as the hot path is concerned.
            note_free(layout.size());
            note_alloc(new_size);
        }
        p
    }
}

pub use switch_proto::HeapStats;

/// The counts, or None when [`CountingAllocator`] is not this process's allocator.
pub fn stats() -> Option<HeapStats> {
    let allocations = ALLOCATIONS.load(Relaxed);
    (allocations > 0).then_some(HeapStats {
        allocations,
        live_bytes: LIVE_BYTES.load(Relaxed),
    })
}
